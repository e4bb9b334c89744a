/**
 * Serving a fixed set of files from an npm package (or a folder of ours) at a URL prefix: only the names
 * listed, never a path from the request; read on first use and kept; cacheable, because the page that
 * loads them names them with a version.
 */
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type Router from '@koa/router';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
};

/**
 * The name of every route that serves a page or a file to a browser rather than the API: the route table
 * test holds every other route to the OpenAPI document, and the document to them.
 */
export const PAGE_ROUTE = 'page';

/** Serves `dir/<name>` at `prefix/<name>` for each of `names`. */
export function staticAssets(router: Router, prefix: string, dir: string, names: string[]): void {
  const allowed = new Set(names);
  const cache = new Map<string, Buffer>();
  router.get(PAGE_ROUTE, `${prefix}/:name`, (ctx) => {
    const { name } = ctx.params;
    if (!allowed.has(name)) return; // the app's 404
    let data = cache.get(name);
    if (!data) cache.set(name, (data = readFileSync(join(dir, name))));
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = TYPES[extname(name)] ?? 'application/octet-stream';
    ctx.body = data;
  });
}

/** The version of an installed package, to name its assets with. */
export function packageVersion(manifest: string): string {
  return encodeURIComponent((JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version);
}

/** Serves one of runbox's own HTML pages at `path`, under PAGE_CSP. */
export function htmlPage(router: Router, path: string, html: string): void {
  router.get(PAGE_ROUTE, path, (ctx) => {
    ctx.set('Content-Security-Policy', PAGE_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  });
}

/**
 * The policy for runbox's own pages: scripts only from runbox, requests only to runbox, images also as
 * data: and blob: URLs (a run's artifacts). The bundled UIs set inline styles, hence 'unsafe-inline' for styles.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
