/**
 * GET /docs: the OpenAPI document rendered by Swagger UI. Every asset comes from the swagger-ui-dist
 * package through runbox itself (no CDN, works offline), and the page's Content-Security-Policy lets it
 * load nothing from anywhere else.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Router from '@koa/router';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/** The asset URLs carry the package version, so a cached copy never outlives an upgrade. */
const page = (v: string) => `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>runbox API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css?v=${v}">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png?v=${v}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js?v=${v}"></script>
  <script src="/docs/init.js?v=${v}"></script>
</body>
</html>
`;

// validatorUrl: null, or Swagger UI asks validator.swagger.io about the document.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
    defaultModelsExpandDepth: 2,
    defaultModelExpandDepth: 5,
  });
});
`;

/** Swagger UI sets inline styles, so styles need 'unsafe-inline'; scripts come only from this server. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function docsRoutes(router: Router): void {
  const manifest = require.resolve('swagger-ui-dist/package.json');
  const dist = dirname(manifest);
  const html = page(encodeURIComponent((JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version));
  // Read on first use: a server that never serves /docs never holds the 1.5 MB bundle.
  const cache = new Map<string, Buffer>();
  const asset = (name: string) => {
    let data = cache.get(name);
    if (!data) cache.set(name, (data = readFileSync(join(dist, name))));
    return data;
  };

  router.get('/docs', (ctx) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  });
  router.get('/docs/init.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = INIT;
  });
  router.get('/docs/assets/:name', (ctx) => {
    const type = Object.hasOwn(ASSETS, ctx.params.name) ? ASSETS[ctx.params.name] : undefined;
    if (type === undefined) return; // the app's 404
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = type;
    ctx.body = asset(ctx.params.name);
  });
}
