/** The README's shell blocks that tests run as written: the ```sh block right after `<!-- test: NAME -->`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const README = process.env.RUNBOX_README ?? join(__dirname, '../../README.md');

/** The block's command lines: comment-only and blank lines dropped, `\`-continued lines joined. */
export function readmeBlock(name: string, path = README): string[] {
  const block = new RegExp(`<!-- test: ${name} -->\\n\`\`\`sh\\n([\\s\\S]*?)\\n\`\`\``).exec(readFileSync(path, 'utf8'));
  if (!block) throw new Error(`${path} has no \`\`\`sh block right after <!-- test: ${name} --> (RUNBOX_README names another file)`);
  return block[1]
    .replace(/\\\n/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}
