/**
 * The preloaded runtime: which runs want it, and how much memory it needs. Members that preload cost about
 * 0.6 s of CPU each to start, so only runs that import a preloaded module should ask for one; the guess is
 * a cheap scan of the sources, and a wrong guess costs speed, never correctness.
 */
import type { Job } from './job';

export type MemberKind = 'plain' | 'preloaded';

/**
 * Below this, a run never uses a preloaded interpreter: numpy, pandas and matplotlib.pyplot hold about
 * 90 MB resident before the program starts (measured), and the program needs room of its own.
 */
export const PRELOAD_MIN_MEMORY_MB = 256;

/** Bytes of each source file looked at; imports sit at the top. */
const SCAN_BYTES = 64 * 1024;

/** A test of Python source text: does it import (or `from … import`) one of these modules' packages? */
export function importScanner(modules: readonly string[]): (source: string) => boolean {
  const packages = [...new Set(modules.map((name) => name.split('.')[0]))];
  if (packages.length === 0) return () => false;
  const pattern = new RegExp(`^[ \\t]*(?:import|from)[ \\t][^\\n]*\\b(?:${packages.join('|')})\\b`, 'm');
  return (source) => pattern.test(source);
}

/** Whether any of the job's Python files imports a preloaded module. */
export function wantsPreload(job: Job, imports: (source: string) => boolean): boolean {
  return job.files.some((file) => file.path.endsWith('.py') && imports(file.data.subarray(0, SCAN_BYTES).toString('utf8')));
}
