/**
 * The W3C Server-Timing field for a run: one metric per phase it went through, in their order, with its
 * duration in milliseconds, then `total`, the run's time in this server. A browser's devtools, curl -v and any
 * HTTP client show where a slow run's time went. `acquire` says where the sandbox came from.
 */
import { PHASES, type PhaseClock } from '../sandbox/phases';

const SOURCE_WORDS = { pool: 'warm pool', preloaded: 'preloaded pool', created: 'new container' } as const;

export function serverTiming(clock: PhaseClock): string {
  const phases = clock.snapshot();
  const metrics: string[] = [];
  let total = 0;
  for (const phase of PHASES) {
    const ms = phases[phase];
    if (ms === undefined) continue;
    total += ms;
    const desc = phase === 'acquire' && clock.source ? `;desc="${SOURCE_WORDS[clock.source]}"` : '';
    metrics.push(`${phase};dur=${ms}${desc}`);
  }
  metrics.push(`total;dur=${Math.round(total * 10) / 10}`);
  return metrics.join(', ');
}
