/** Who may read GET /metrics: one rule, for the route and for the OpenAPI document that describes it. */
import { isLoopback, type Config } from '../config';

/** The key GET /metrics requires, and the setting it comes from; `key` undefined means no key can open it. */
export interface MetricsGuard {
  key: string | undefined;
  setting: 'RUNBOX_METRICS_KEY' | 'RUNBOX_API_KEY';
}

/**
 * RUNBOX_METRICS_KEY when set. Without it, open on loopback (as the API is), and beyond loopback the bootstrap
 * RUNBOX_API_KEY: the metrics count every tenant's runs and refusals, so a stored (tenant) key never opens them.
 * Beyond loopback with neither set, nothing opens them until one is.
 */
export function metricsGuard(config: Pick<Config, 'host' | 'apiKey' | 'metricsKey'>): MetricsGuard | undefined {
  if (config.metricsKey !== undefined) return { key: config.metricsKey, setting: 'RUNBOX_METRICS_KEY' };
  if (isLoopback(config.host)) return undefined;
  if (config.apiKey !== undefined) return { key: config.apiKey, setting: 'RUNBOX_API_KEY' };
  return { key: undefined, setting: 'RUNBOX_METRICS_KEY' };
}

/** What the OpenAPI document and a refusal say about the guard. */
export function metricsGuardText(guard: MetricsGuard | undefined): string {
  if (guard === undefined) return 'Open: the server listens on loopback and RUNBOX_METRICS_KEY is not set.';
  if (guard.key === undefined) {
    return 'Refused to every request: the server listens beyond loopback and neither RUNBOX_METRICS_KEY nor RUNBOX_API_KEY is set.';
  }
  if (guard.setting === 'RUNBOX_API_KEY') {
    return 'Needs RUNBOX_API_KEY, the bootstrap key (not a stored key), as a bearer token: RUNBOX_METRICS_KEY is not set and the server listens beyond loopback.';
  }
  return 'Needs RUNBOX_METRICS_KEY as a bearer token.';
}
