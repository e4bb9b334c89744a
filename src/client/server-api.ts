/** Talking to a runbox server from outside it (the `runbox` command and its MCP bridge). */
import { Agent } from 'undici';

/**
 * For requests that last as long as a run: a run answers when it ends, which may be the server's longest
 * timeout after a wait in its queue, and fetch's default of 300 s for the response headers would cut the
 * longest runs off. The server bounds every run; the caller aborts what it no longer wants.
 */
export const patient = new Agent({ headersTimeout: 0, bodyTimeout: 0 });

/** The server's own error body, `{error: {code, message}}`, or the first line of whatever else answered. */
export function describeRefusal(status: number, text: string): { code: string; message: string } {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string' && typeof body.error.message === 'string') {
      return { code: body.error.code, message: body.error.message };
    }
  } catch {
    // not ours: a proxy's page, say
  }
  return { code: `http_${status}`, message: `HTTP ${status}: ${text.split('\n')[0].slice(0, 200)}` };
}

/**
 * A 401 in the terms of the `runbox` command (its environment and flags), not of HTTP headers: what to set,
 * or that the key it sent was refused.
 */
export function keyAdvice(keyGiven: boolean): string {
  return keyGiven
    ? 'the server refused the API key given (RUNBOX_API_KEY or --api-key): check it, or make one with `runbox keys add` where the server keeps its store'
    : 'the server needs an API key: set RUNBOX_API_KEY or pass --api-key';
}

/** Why a request did not get through: the system's error code (ECONNREFUSED...) where there is one. */
export function unreachableReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** `base` with `path` appended, keeping any path prefix the server sits under (https://host/runbox/). */
export function endpoint(base: string, path: string): URL {
  return new URL(path, base.endsWith('/') ? base : `${base}/`);
}
