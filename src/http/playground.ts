/**
 * GET /playground: a page to try runbox in the browser. An Ace editor (ace-builds, served by runbox itself,
 * no CDN), a run button, the output live through the streaming API, images inline and other files as
 * downloads. The page's files live beside this module, in playground/, and are read from the source tree
 * (tsc does not copy them), for the server run from a checkout and from dist/ alike.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Router from '@koa/router';
import { version } from '../version';
import { htmlPage, packageVersion, staticAssets } from './static-assets';

const PAGE_DIR = join(__dirname, '../../src/http/playground');
/** The editor and the two files it loads itself (the Python mode and a theme). */
const ACE_FILES = ['ace.js', 'mode-python.js', 'theme-github.js'];

export function playgroundRoutes(router: Router): void {
  const aceManifest = require.resolve('ace-builds/package.json');
  const html = readFileSync(join(PAGE_DIR, 'index.html'), 'utf8')
    .replaceAll('{{version}}', encodeURIComponent(version))
    .replaceAll('{{ace}}', packageVersion(aceManifest));

  htmlPage(router, '/playground', html);
  staticAssets(router, '/playground/assets', PAGE_DIR, ['playground.js', 'playground.css']);
  staticAssets(router, '/playground/assets/ace', join(dirname(aceManifest), 'src-min-noconflict'), ACE_FILES);
}
