/**
 * The native API's routes, declared once as data: method, path, operation and who may call it. The router
 * serves each with the handler src/http/routes.ts gives its operation (and the guards its access implies),
 * and /openapi.json documents each with the text and schemas src/api/openapi.ts gives its operation, so a
 * route cannot be served undocumented or documented unserved. The compat contracts are declared the same
 * way, each in its own module (src/compat/).
 */
import type { DocumentedRoute } from '../api/openapi';

export const API_ROUTES: readonly DocumentedRoute[] = [
  { method: 'get', path: '/', operationId: 'about', access: 'open' },
  { method: 'get', path: '/health', operationId: 'health', access: 'open' },
  { method: 'get', path: '/ready', operationId: 'ready', access: 'open' },
  { method: 'post', path: '/v1/runs', operationId: 'createRun', access: 'key' },
  { method: 'get', path: '/v1/runs/{id}', operationId: 'getRun', access: 'key' },
  { method: 'get', path: '/v1/packages', operationId: 'listPackages', access: 'key' },
  { method: 'get', path: '/v1/tools', operationId: 'listTools', access: 'open' },
  { method: 'post', path: '/mcp', operationId: 'mcp', access: 'key' },
  { method: 'get', path: '/metrics', operationId: 'metrics', access: 'metrics' },
];

/** An OpenAPI path (/v1/runs/{id}) as the router writes it (/v1/runs/:id). */
export function routerPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
