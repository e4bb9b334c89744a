/**
 * Writing a run's artifacts to the output folder (./output/ by default) all or nothing: every file is
 * written into a fresh folder beside it first, and moved in only once all are written, so a failure
 * leaves the output folder as it was. Names come from the server, and are checked again here.
 */
import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { RunResponse } from '../api/run-response';
import { relativePathProblem } from '../sandbox/paths';
import { CliError, EXIT } from './exit-codes';

/** Refuses to write through a symlink inside the output folder: the file would land somewhere else. */
function checkNoLinks(root: string, relative: string): void {
  let at = root;
  for (const part of relative.split('/').slice(0, -1)) {
    at = join(at, part);
    try {
      if (lstatSync(at).isSymbolicLink()) throw new CliError(`${at} is a symlink; not writing through it`, EXIT.cantCreate);
    } catch (err) {
      if (err instanceof CliError) throw err;
      return; // does not exist yet: nothing below it can be a link
    }
  }
}

export function writeArtifacts(artifacts: RunResponse['artifacts'], out: string): string[] {
  if (artifacts.length === 0) return [];
  const root = resolve(out);
  for (const artifact of artifacts) {
    const problem = relativePathProblem(artifact.path);
    if (problem) throw new CliError(`the server sent an artifact whose path ${problem}`, EXIT.software);
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
    for (const artifact of artifacts) checkNoLinks(root, artifact.path);
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
