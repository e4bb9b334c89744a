/**
 * Writing a run's artifacts to the output folder (./output/ by default) all or nothing: every place a file
 * goes is checked first, every file is written into a fresh folder beside it, and they are moved in only
 * once all are written, so a failure leaves the output folder as it was (short of another process changing
 * it meanwhile). Names come from the server, and are checked again here.
 */
import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { RunResponse } from '../api/run-response';
import { relativePathProblem } from '../sandbox/paths';
import { CliError, EXIT } from './exit-codes';

/**
 * Checks, before anything is written, that `relative` can become a file under `root`: the output folder
 * and every folder on the way are real folders (never a link, which would put the file somewhere else),
 * and no folder is where the file goes.
 */
function checkTarget(root: string, relative: string): void {
  const parts = relative.split('/');
  let at = root;
  for (let i = -1; i < parts.length; i++) {
    if (i >= 0) at = join(at, parts[i]);
    let info;
    try {
      info = lstatSync(at);
    } catch {
      return; // not there yet: it will be made, and nothing below it exists
    }
    if (info.isSymbolicLink()) throw new CliError(`${at} is a symlink; not writing through it`, EXIT.cantCreate);
    const isFile = i === parts.length - 1;
    if (!isFile && !info.isDirectory()) throw new CliError(`cannot write ${relative}: ${at} is not a folder`, EXIT.cantCreate);
    if (isFile && info.isDirectory()) throw new CliError(`cannot write ${relative}: ${at} is a folder`, EXIT.cantCreate);
  }
}

export function writeArtifacts(artifacts: RunResponse['artifacts'], out: string): string[] {
  if (artifacts.length === 0) return [];
  const root = resolve(out);
  for (const artifact of artifacts) {
    const problem = relativePathProblem(artifact.path);
    if (problem) throw new CliError(`the server sent an artifact whose path ${problem}`, EXIT.software);
    checkTarget(root, artifact.path);
  }
  let staging: string;
  try {
    mkdirSync(dirname(root), { recursive: true });
    staging = mkdtempSync(join(dirname(root), '.runbox-output-'));
  } catch (err) {
    throw new CliError(`cannot write to ${out}: ${(err as Error).message}`, EXIT.cantCreate);
  }
  try {
    for (const artifact of artifacts) {
      const target = join(staging, artifact.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, Buffer.from(artifact.content, artifact.encoding === 'base64' ? 'base64' : 'utf8'));
    }
    for (const artifact of artifacts) {
      const target = join(root, artifact.path);
      mkdirSync(dirname(target), { recursive: true });
      renameSync(join(staging, artifact.path), target);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot write to ${out}: ${(err as Error).message}`, EXIT.cantCreate);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return artifacts.map((a) => a.path);
}
