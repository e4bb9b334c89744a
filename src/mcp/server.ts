/**
 * runbox as an MCP server: one tool, run_python. The server is transport-free; /mcp gives it Streamable
 * HTTP (src/mcp/http.ts) and `runbox mcp` bridges stdio to that endpoint (src/mcp/stdio.ts).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolDefinition } from '../api/run-python-tool';

const INSTRUCTIONS =
  'runbox runs Python 3 programs in isolated, offline, throwaway sandboxes. Call run_python with a complete program; ' +
  'save files under ./output/ to get them back (charts come back as images).';

/**
 * Bad tool arguments, as a JSON-RPC invalid-params error carrying exactly /v1/runs's message (the SDK's
 * McpError would prefix it); the SDK answers any thrown error with its `code` and `message`.
 */
export class InvalidParamsError extends Error {
  readonly code = ErrorCode.InvalidParams;
}

export function createMcpServer(
  tool: ToolDefinition,
  version: string,
  /** `signal` aborts when the caller gives up on the call (the request is cancelled or its connection closes). */
  runTool: (args: Record<string, unknown>, signal: AbortSignal) => Promise<CallToolResult>,
): Server {
  const server = new Server({ name: 'runbox', version }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [tool] }));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
    const { name, arguments: args } = request.params;
    if (name !== tool.name) throw new InvalidParamsError(`unknown tool ${JSON.stringify(name)}; this server has ${tool.name}`);
    return runTool(args ?? {}, extra.signal);
  });
  return server;
}
