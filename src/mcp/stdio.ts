/**
 * `runbox mcp`: MCP over stdio for desktop agents, as a bridge to a runbox server's /mcp endpoint. Every
 * message is forwarded as is, so stdio clients get exactly the server's tool, limits and answers; the bridge
 * only turns HTTP-level failures (unreachable, 401, a proxy's error page) into MCP answers, and a cancelled
 * call into a closed request (the stateless server cannot match a separate cancel message to it).
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  ErrorCode,
  isJSONRPCRequest,
  JSONRPCMessageSchema,
  type JSONRPCMessage,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { Agent, fetch } from 'undici';
import { serviceErrorResult } from './tool-result';

/**
 * A call answers when its run ends, which may be the server's longest timeout after a wait in its queue:
 * fetch's default of 300 s for the response headers would cut the longest runs off, so no timeout here;
 * the server bounds every run, and the client cancels calls it no longer wants.
 */
const patient = new Agent({ headersTimeout: 0, bodyTimeout: 0 });

export interface BridgeOptions {
  /** The runbox server, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey?: string;
  /** Where diagnostics go (stdout carries the protocol). */
  log?: (line: string) => void;
}

/** The server's own error body, `{error: {code, message}}`, or the first line of whatever else it sent. */
function describeRefusal(status: number, text: string): { code: string; message: string } {
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

/** A request the server could not answer: a tool call gets a tool error a model can act on, anything else a JSON-RPC error. */
function failureReply(request: JSONRPCRequest, code: string, message: string): JSONRPCMessage {
  if (request.method === 'tools/call') {
    return { jsonrpc: '2.0', id: request.id, result: serviceErrorResult(code, message) };
  }
  return { jsonrpc: '2.0', id: request.id, error: { code: ErrorCode.InternalError, message: `${code}: ${message}` } };
}

function parseReplies(text: string): JSONRPCMessage[] | undefined {
  try {
    const data = JSON.parse(text) as unknown;
    return (Array.isArray(data) ? data : [data]).map((message) => JSONRPCMessageSchema.parse(message));
  } catch {
    return undefined;
  }
}

export async function bridgeStdio({ url, apiKey, log = (line) => process.stderr.write(`${line}\n`) }: BridgeOptions): Promise<void> {
  // Relative, so a server behind a path prefix (https://host/runbox/) keeps it.
  const endpoint = new URL('mcp', url.endsWith('/') ? url : `${url}/`);
  const stdio = new StdioServerTransport();
  let protocolVersion: string | undefined;
  /** Calls under way, by request id: a cancel aborts its HTTP request, and the server then stops the run. */
  const inFlight = new Map<string | number, AbortController>();

  const forward = async (message: JSONRPCMessage): Promise<void> => {
    if ('method' in message && message.method === 'notifications/cancelled' && !('id' in message)) {
      const requestId = (message.params as { requestId?: string | number } | undefined)?.requestId;
      if (requestId !== undefined) inFlight.get(requestId)?.abort();
      return;
    }
    const request = isJSONRPCRequest(message) ? message : undefined;
    const controller = new AbortController();
    if (request) inFlight.set(request.id, controller);
    let status: number;
    let text: string;
    try {
      const response = await fetch(endpoint, {
        dispatcher: patient,
        signal: controller.signal,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(apiKey !== undefined ? { authorization: `Bearer ${apiKey}` } : {}),
          ...(protocolVersion !== undefined ? { 'mcp-protocol-version': protocolVersion } : {}),
        },
        body: JSON.stringify(message),
      });
      status = response.status;
      text = await response.text();
    } catch (err) {
      // A cancelled call gets no answer: the client has stopped waiting for one.
      if (controller.signal.aborted) return;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      log(`runbox mcp: cannot reach ${endpoint.href}: ${reason}`);
      if (request) await stdio.send(failureReply(request, 'unreachable', `cannot reach runbox at ${endpoint.href} (${reason})`));
      return;
    } finally {
      if (request) inFlight.delete(request.id);
    }
    if (status === 202) return;
    const replies = parseReplies(text);
    if (replies !== undefined) {
      for (const reply of replies) {
        if (request?.method === 'initialize' && 'result' in reply && typeof reply.result.protocolVersion === 'string') {
          protocolVersion = reply.result.protocolVersion;
        }
        await stdio.send(reply);
      }
      return;
    }
    const refusal = describeRefusal(status, text);
    log(`runbox mcp: ${endpoint.href} answered ${status} (${refusal.code}): ${refusal.message}`);
    if (request) await stdio.send(failureReply(request, refusal.code, refusal.message));
  };

  stdio.onmessage = (message) => {
    forward(message).catch((err: Error) => log(`runbox mcp: ${err.message}`));
  };
  stdio.onerror = (err) => log(`runbox mcp: ${err.message}`);
  const closed = new Promise<void>((resolve) => (stdio.onclose = resolve));
  process.stdin.once('end', () => void stdio.close());
  await stdio.start();
  await closed;
}
