/**
 * POST /mcp: MCP over Streamable HTTP, stateless (a fresh server and transport per request, so any replica
 * can answer any message), with plain JSON responses. Authentication, the body limits and the run path
 * are /v1/runs's own; only the framing differs.
 */
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { RunResponse } from '../api/run-response';
import type { ToolDefinition } from '../api/run-python-tool';
import { InvalidRequestError, RunboxError } from '../errors';
import type { JsonBodyReader } from '../http/body';
import { failure } from '../http/failure';
import type { Metrics } from '../metrics/metrics';
import { createMcpServer, InvalidParamsError } from './server';
import { runToolResult, serviceErrorResult } from './tool-result';

export interface McpHttpDeps {
  tool: ToolDefinition;
  version: string;
  bodies: JsonBodyReader;
  log: Logger;
  metrics: Pick<Metrics, 'rejected'>;
  /** The run path, validating its arguments against the tool's schema; `cancel` stops the run. */
  run: (ctx: Context, args: unknown, cancel: AbortSignal) => Promise<RunResponse>;
}

/** A run's refusals and faults in MCP terms: bad arguments are the caller's error, the service failing is a tool error. */
async function callTool(run: () => Promise<RunResponse>, fail: (err: unknown) => RunboxError): Promise<CallToolResult> {
  try {
    return runToolResult(await run());
  } catch (caught) {
    const err = fail(caught);
    if (err.status === 400 || err.status === 413) throw new InvalidParamsError(err.message);
    // Limits of the key (429) are like the service being busy: the agent should wait, not fix its call.
    if (err.status < 500 && err.status !== 429) throw err;
    const retryAfter = err.headers['Retry-After'];
    return serviceErrorResult(err.code, err.message, retryAfter === undefined ? undefined : Number(retryAfter));
  }
}

/** JSON-RPC's range for implementation-defined server errors: here, the server busy (503) or the key limited (429). */
const SERVER_ERROR = -32000;

/**
 * Renders a refusal before the message reached MCP (its body, the key's limits) as JSON-RPC, with the HTTP
 * status and headers /v1/runs would give; `err` has been through failure().
 */
export function jsonRpcRefusal(
  ctx: Context,
  err: RunboxError,
  code = err.status >= 500 || err.status === 429 ? SERVER_ERROR : err.status === 400 ? ErrorCode.ParseError : ErrorCode.InvalidRequest,
): void {
  ctx.status = err.status;
  ctx.set(err.headers);
  ctx.body = { jsonrpc: '2.0', id: null, error: { code, message: err.message } };
}

export function mcpHandler({ tool, version, bodies, log, metrics, run }: McpHttpDeps) {
  return async (ctx: Context) => {
    const fail = (err: unknown) => failure(ctx, err, { log, metrics });
    let message: unknown;
    try {
      message = await bodies.read(ctx);
    } catch (err) {
      if (!(err instanceof RunboxError)) throw err;
      return jsonRpcRefusal(ctx, fail(err));
    }
    // Batches are refused (MCP dropped them in 2025-06-18): every call in one shares one HTTP response, so
    // each run's slot, held until its response is delivered, would wait for the slowest run of the batch.
    if (Array.isArray(message)) {
      const refusal = fail(new InvalidRequestError('JSON-RPC batches are not accepted: send one message per request'));
      return jsonRpcRefusal(ctx, refusal, ErrorCode.InvalidRequest);
    }
    const server = createMcpServer(tool, version, (args, cancel) => callTool(() => run(ctx, args, cancel), fail));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    ctx.res.once('close', () => void server.close());
    await server.connect(transport);
    ctx.respond = false;
    await transport.handleRequest(ctx.req, ctx.res, message);
  };
}
