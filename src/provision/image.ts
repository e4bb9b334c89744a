/** The sandbox image: its default tag (a hash of images/python/), and building it when it is missing. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DockerClient } from '../docker/client';
import { ensureHostPackage, runVisible } from './host';

export const IMAGE_DIR = resolve(__dirname, '../../images/python');
export const IMAGE_REPOSITORY = 'runbox-python';

/**
 * `runbox-python:<hash>` where the hash covers every file of the image definition, so edits force a rebuild:
 * the image a server runs when RUNBOX_IMAGE is not set (src/config.ts asks for it only then).
 */
export function sandboxImageTag(dir: string = IMAGE_DIR): string {
  const hash = createHash('sha256');
  // Regular files only: a __pycache__ left by a local python run is not part of the definition.
  const files = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isFile());
  for (const name of files.map((entry) => entry.name).sort()) {
    hash
      .update(name)
      .update('\0')
      .update(readFileSync(join(dir, name)))
      .update('\0');
  }
  return `${IMAGE_REPOSITORY}:${hash.digest('hex').slice(0, 16)}`;
}

export async function ensureImage(docker: DockerClient, tag: string, log: (line: string) => void): Promise<void> {
  if (await docker.imageExists(tag)) {
    log(`sandbox image ${tag} present`);
    return;
  }
  log(`sandbox image ${tag} missing: building it from Debian packages (about 3 minutes)`);
  await ensureHostPackage('debootstrap', 'debootstrap', log);
  await runVisible('bash', [join(IMAGE_DIR, 'build.sh'), tag]);
  if (!(await docker.imageExists(tag))) throw new Error(`image build finished but ${tag} is not in the engine`);
}
