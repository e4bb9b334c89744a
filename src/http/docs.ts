/**
 * GET /docs (and /redoc, as FastAPI services have it): the OpenAPI document rendered by Swagger UI. Every asset comes from the swagger-ui-dist
 * package through runbox itself (no CDN, works offline), and the page's Content-Security-Policy lets it
 * load nothing from anywhere else.
 */
import { dirname } from 'node:path';
import type Router from '@koa/router';
import { htmlPage, packageVersion, PAGE_ROUTE, staticAssets } from './static-assets';

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

export function docsRoutes(router: Router): void {
  const manifest = require.resolve('swagger-ui-dist/package.json');
  const html = page(packageVersion(manifest));

  htmlPage(router, '/docs', html);
  // Where FastAPI services (seed 002) keep their second docs page: the same document, the same viewer.
  htmlPage(router, '/redoc', html);
  router.get(PAGE_ROUTE, '/docs/init.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = INIT;
  });
  staticAssets(router, '/docs/assets', dirname(manifest), ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']);
}
