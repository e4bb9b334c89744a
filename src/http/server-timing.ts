/**
 * The W3C Server-Timing field for a run: one metric per phase it went through, in their order, with its
 * duration in milliseconds, then `total`, the time since the request arrived (the phases and what came after
 * the last of them, such as writing the answer). A browser's devtools, curl -v and any
 * HTTP client show where a slow run's time went. `acquire` says where the sandbox came from.
 */
import { PHASES, type PhaseClock } from '../sandbox/phases';

const SOURCE_WORDS = { pool: 'warm pool', preloaded: 'preloaded pool', created: 'new container' } as const;

export function serverTiming(clock: PhaseClock): string {
  const phases = clock.snapshot();
  const metrics: string[] = [];
  for (const phase of PHASES) {
    const ms = phases[phase];
    if (ms === undefined) continue;
    const desc = phase === 'acquire' && clock.source ? `;desc="${SOURCE_WORDS[clock.source]}"` : '';
    metrics.push(`${phase};dur=${ms}${desc}`);
  }
  metrics.push(`total;dur=${clock.elapsed()}`);
  return metrics.join(', ');
}
