import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HTTP_SETTINGS, SETTINGS } from '../../src/config';

const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');

describe('README configuration table', () => {
  it.each([...Object.values(SETTINGS), ...Object.values(HTTP_SETTINGS)].map((s) => [s.env, s.default]))(
    'documents %s with its default %s',
    (env, value) => {
      expect(readme).toContain(`| \`${env}\` | \`${value}\``);
    },
  );
});
