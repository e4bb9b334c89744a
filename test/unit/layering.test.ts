/**
 * The import-structure check of `npm run lint` (.dependency-cruiser.cjs): it fails on an import cycle, type-only
 * imports included, and on an import up the layers. test/fixtures/layering/ is a tiny src/ tree with one of
 * each (store/a.ts and store/b.ts import each other's types; sandbox/upward.ts imports http/); src/ passes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  type: string;
  from: string;
  to: string;
  rule: { name: string; severity: string };
  cycle?: { name: string; dependencyTypes: string[] }[];
}

/** The rules' verdict on the src/ folder under `cwd`, with the configuration `npm run lint` uses. */
function cruise(cwd: string): Violation[] {
  const args = [DEPCRUISE, '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json', 'src'];
  const run = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  // The JSON reporter exits 0 whatever it found; `npm run lint` uses the one that exits non-zero.
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

it('fails on a cycle of type-only imports and on an import up the layers', () => {
  const violations = cruise(join(ROOT, 'test/fixtures/layering'));
  const cycle = violations.find((v) => v.rule.name === 'no-cycle');
  expect(cycle).toMatchObject({ type: 'cycle', rule: { severity: 'error' } });
  expect(new Set([cycle!.from, ...cycle!.cycle!.map((step) => step.name)])).toEqual(new Set(['src/store/a.ts', 'src/store/b.ts']));
  expect(cycle!.cycle!.every((step) => step.dependencyTypes.includes('type-only'))).toBe(true);
  expect(violations.filter((v) => v.rule.name !== 'no-cycle')).toEqual([
    expect.objectContaining({
      from: 'src/sandbox/upward.ts',
      to: 'src/http/door.ts',
      rule: { name: 'no-upward-from-components', severity: 'error' },
    }),
  ]);
});

it('finds nothing in src/', () => {
  expect(cruise(ROOT)).toEqual([]);
});

it('runs in npm run lint, where a violation fails it', () => {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(scripts.lint).toMatch(/^depcruise --config \.dependency-cruiser\.cjs src && /);
});
