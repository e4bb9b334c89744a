/**
 * Getting responses out without letting a client that does not read hold server memory: bodies are
 * serialised once into a Buffer, and a response not delivered within RUNBOX_RESPONSE_TIMEOUT_MS has its
 * connection destroyed, which frees it. Callers that must keep a resource until delivery wait on `closed`.
 */
import type { ServerResponse } from 'node:http';
import type { Context, Next } from 'koa';

/** Settles once the response is over: delivered, or its connection gone. */
export function closed(res: ServerResponse): Promise<void> {
  if (res.closed) return Promise.resolve();
  return new Promise((resolve) => res.once('close', () => resolve()));
}

export function delivery(responseTimeoutMs: number) {
  return async (ctx: Context, next: Next) => {
    await next();
    const body: unknown = ctx.body;
    if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && typeof (body as { pipe?: unknown }).pipe !== 'function') {
      // One Buffer instead of a string the socket may hold in two bytes per character.
      ctx.body = Buffer.from(JSON.stringify(body));
      ctx.type = 'application/json';
    }
    if (ctx.res.closed) return;
    const timer = setTimeout(() => ctx.req.socket.destroy(), responseTimeoutMs);
    timer.unref();
    ctx.res.once('close', () => clearTimeout(timer));
  };
}
