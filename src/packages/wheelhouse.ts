/**
 * The operator's wheelhouse (RUNBOX_WHEELHOUSE): a folder of checked `.whl` files that runs may install
 * from, with the network still off. Read here, never by a run (the install container mounts it read-only).
 * A wheel's identity is its content's SHA-256, so a wheel replaced under the same name is a different one.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, lstatSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readWheel, WheelError, type WheelInfo } from './wheel';

export interface WheelhouseEntry extends WheelInfo {
  sha256: string;
  size: number;
}

/** Wheels larger than this are refused: the install runs in a run's memory and time. */
export const MAX_WHEEL_BYTES = 256 * 1024 * 1024;

export class Wheelhouse {
  /** Entries by file name, with the size and mtime they were read at: a changed file is read again. */
  private readonly known = new Map<string, { stamp: string; entry: WheelhouseEntry | WheelError }>();

  constructor(readonly dir: string) {}

  /** Every wheel in the folder, checked; files that are not valid wheels are reported apart. */
  scan(): { wheels: WheelhouseEntry[]; invalid: { file: string; reason: string }[] } {
    const wheels: WheelhouseEntry[] = [];
    const invalid: { file: string; reason: string }[] = [];
    const names = readdirSync(this.dir).filter((name) => name.endsWith('.whl'));
    for (const name of names) {
      const path = join(this.dir, name);
      // Not followed: a link would be checked here at its target, but read by the install at another path.
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      if (!stat.isFile()) {
        invalid.push({ file: name, reason: `${name}: not a regular file` });
        continue;
      }
      // Size and times alone miss a same-size copy that kept its mtime (cp -p, rsync -t): the inode and ctime do not.
      const stamp = `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}`;
      let cached = this.known.get(name);
      if (cached?.stamp !== stamp) {
        cached = { stamp, entry: readEntry(name, path, stat.size) };
        this.known.set(name, cached);
      }
      if (cached.entry instanceof WheelError) invalid.push({ file: name, reason: cached.entry.message });
      else if ((stat.mode & 0o004) === 0) invalid.push({ file: name, reason: `${name}: not readable by the sandbox user (chmod 644)` });
      else wheels.push(cached.entry);
    }
    const present = new Set(names);
    for (const name of this.known.keys()) if (!present.has(name)) this.known.delete(name);
    wheels.sort((a, b) => a.key.localeCompare(b.key) || a.version.localeCompare(b.version));
    return { wheels, invalid };
  }

  /** Checks a wheel and copies it in (replacing a file of the same name); what it is. */
  add(path: string): WheelhouseEntry {
    const name = basename(path);
    const stat = statSync(path);
    if (!stat.isFile()) throw new WheelError(`${name}: not a regular file`);
    const size = stat.size;
    const entry = readEntry(name, path, size);
    if (entry instanceof WheelError) throw entry;
    // Written beside, then renamed: a scan never sees half a wheel.
    const partial = join(this.dir, `.${name}.partial`);
    copyFileSync(path, partial);
    // The install container reads it as the sandbox user, not as the owner.
    chmodSync(partial, 0o644);
    renameSync(partial, join(this.dir, name));
    return entry;
  }
}

function readEntry(name: string, path: string, size: number): WheelhouseEntry | WheelError {
  if (size > MAX_WHEEL_BYTES) return new WheelError(`${name}: ${size} bytes, over the ${MAX_WHEEL_BYTES}-byte limit`);
  try {
    const bytes = readFileSync(path);
    return { ...readWheel(name, bytes), sha256: createHash('sha256').update(bytes).digest('hex'), size };
  } catch (err) {
    return err instanceof WheelError ? err : new WheelError(`${name}: ${(err as Error).message}`);
  }
}
