/**
 * `runbox packages add|list`: the operator's wheelhouse (RUNBOX_WHEELHOUSE). `add` checks each wheel (its
 * name, METADATA and tags against the image's Python) before copying it in; `list` shows what runs can use.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { wheelhouseSetting } from '../config';
import { WheelError } from '../packages/wheel';
import { Wheelhouse } from '../packages/wheelhouse';
import { CliError, EXIT } from './exit-codes';
import { table } from './keys';

function wheelhouse({ create }: { create: boolean }): Wheelhouse {
  const dir = wheelhouseSetting(process.env);
  if (!dir) throw new CliError('set RUNBOX_WHEELHOUSE to the wheelhouse folder (the same as the server’s)', EXIT.usage);
  if (create && !existsSync(resolve(dir))) {
    // Sandboxes read it as the sandbox user: a folder made here is open to others (it holds nothing secret).
    mkdirSync(resolve(dir), { recursive: true, mode: 0o755 });
    chmodSync(resolve(dir), 0o755);
  }
  if (!existsSync(resolve(dir))) throw new CliError(`${dir}: no such folder`, EXIT.noInput);
  return new Wheelhouse(resolve(dir));
}

export function packagesAdd(files: string[]): void {
  const house = wheelhouse({ create: true });
  let failed = 0;
  for (const file of files) {
    try {
      const added = house.add(file);
      process.stderr.write(`runbox: added ${added.name} ${added.version} (${added.file})\n`);
    } catch (err) {
      failed += 1;
      const message = err instanceof WheelError ? err.message : `${file}: ${(err as Error).message}`;
      process.stderr.write(`runbox: refused ${message}\n`);
    }
  }
  if (failed > 0) throw new CliError(`${failed} of ${files.length} wheels refused`, EXIT.dataError);
}

export function packagesList(): void {
  const { wheels, invalid } = wheelhouse({ create: false }).scan();
  const rows = wheels.map((w) => [w.name, w.version, w.file, w.requires.map((r) => r.name).join(',') || '-']);
  process.stdout.write(`${table(['NAME', 'VERSION', 'FILE', 'REQUIRES'], rows)}\n`);
  for (const bad of invalid) process.stderr.write(`runbox: unusable: ${bad.reason}\n`);
}
