/** Which image the sandbox runs by default: the one images/python/ defines, named by a hash of its files. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const IMAGE_DIR = resolve(__dirname, '../../images/python');
export const IMAGE_REPOSITORY = 'runbox-python';

/** `runbox-python:<hash>` where the hash covers every file of the image definition, so edits force a rebuild. */
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
