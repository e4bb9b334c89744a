/** Small measurement helpers shared by the benchmarks and the load tests. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Nearest-rank percentile; NaN for no samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A memory figure of a live process from /proc (kB): VmRSS now, or VmHWM, its peak so far. */
export function rssOf(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

/** Writes a run's figures to bench/results/<kind>-<timestamp>.json (not committed) and says where. */
export function writeResults(kind: string, figures: unknown, at = new Date().toISOString()): string {
  // Compiled, this runs from dist-bench/bench/: the repository root is two folders up.
  const dir = join(__dirname, '..', '..', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kind}-${at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(figures, null, 2));
  console.log(`figures written to ${file}`);
  return file;
}

/** An error's code (ECONNRESET...) or name, for counting how requests failed. */
export const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).name ?? 'error';

export function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** `200 ok`, `503 busy`, `413 payload_too_large` … from the first bytes of a response body. */
export function outcomeOf(status: number, head: string): string {
  const code = /"code":"([a-z_]+)"/.exec(head)?.[1];
  const runStatus = /"status":"([a-z_]+)"/.exec(head)?.[1];
  const detail = status >= 400 ? code : runStatus;
  return detail ? `${status} ${detail}` : String(status);
}
