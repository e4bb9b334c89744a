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
import { fetch } from 'undici';
import { describeRefusal, endpoint as endpointOf, keyAdvice, patient, unreachableReason } from '../client/server-api';
import { serviceErrorResult } from './tool-result';

export interface BridgeOptions {
  /** The runbox server, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey?: string;
  /** Where diagnostics go (stdout carries the protocol). */
  log?: (line: string) => void;
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
  const endpoint = endpointOf(url, 'mcp');
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
      const reason = unreachableReason(err);
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
    log(
      `runbox mcp: ${endpoint.href} answered ${status} (${refusal.code}): ${status === 401 ? `${keyAdvice(apiKey !== undefined)}; ` : ''}${refusal.message}`,
    );
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
