/**
 * The router and the OpenAPI document agree: every route the server answers is in the document, with its
 * method, and every operation in the document is a route, but for the pages and files served to a browser
 * (named PAGE_ROUTE where they are declared). Both are derived from the routes declared as data
 * (src/http/api-routes.ts, and each compat contract); this catches a route served beside that declaration.
 */
import type Router from '@koa/router';
import request from 'supertest';
import { PAGE_ROUTE } from '../../src/http/static-assets';
import { appWith } from '../support/app';
import { testConfig } from '../support/config';
import { fakeDocker } from '../support/fake-docker';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

it('every API route the server answers is documented in /openapi.json, and every documented operation is served', async () => {
  const { app } = appWith(testConfig(), fakeDocker());
  const router = app.middleware.map((m) => (m as unknown as { router?: Router }).router).find(Boolean)!;
  const api = router.stack.filter((layer) => layer.name !== PAGE_ROUTE);
  // HEAD comes with every GET in @koa/router; the document names the GET.
  const served = api.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path}`)).sort();
  const doc = (await request(app.callback()).get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    )
    .sort();
  expect(served).toEqual(documented);
  // The pages are pages: read-only, and not under the API's paths.
  for (const page of router.stack.filter((layer) => layer.name === PAGE_ROUTE)) {
    expect({ path: page.path, methods: page.methods }).toEqual({ path: page.path, methods: ['HEAD', 'GET'] });
    expect(page.path).not.toMatch(/^\/(v1|api|mcp|run|execute)\b/);
  }
});
