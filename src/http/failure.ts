/**
 * The one failure model: whatever a door's handler throws becomes a RunboxError here, counted in the
 * metrics and logged once, and a request refused before it was read whole gets `Connection: close`. Each
 * door then only renders the error in its own shape: the native `{error: {code, message}}`
 * (src/http/errors.ts), a contract's (src/compat/routes.ts), JSON-RPC's (src/mcp/http.ts), an SSE `error`
 * event (src/http/event-stream.ts).
 */
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { InternalError, MethodNotAllowedError, RunboxError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import { requestLog } from './request-id';

export interface FailureDeps {
  log: Logger;
  metrics: Pick<Metrics, 'rejected'>;
}

/** Anything thrown, as the error the client is told: our own as they are, a fault of ours as `internal`. */
export function asRunboxError(err: unknown, log: Logger): RunboxError {
  if (err instanceof RunboxError) return err;
  // The one error not of our own making: @koa/router's 405 for a known route and a wrong method.
  if ((err as { status?: unknown } | null)?.status === 405)
    return new MethodNotAllowedError((err as Error).message || 'method not allowed');
  log.error({ err }, 'unexpected error');
  return new InternalError('internal error');
}

/**
 * Records a failure once and hands it back for the door to render: counted by its code, logged when the
 * service failed (5xx), and, when the request was refused before it was read whole (401, 413, 415, a bad
 * body...), answered with `Connection: close` rather than reading, and parsing, whatever else comes.
 */
export function failure(ctx: Context, err: unknown, { log: baseLog, metrics }: FailureDeps): RunboxError {
  const log = requestLog(ctx, baseLog);
  const failed = asRunboxError(err, log);
  metrics.rejected(failed.code);
  if (!ctx.req.complete) ctx.set('Connection', 'close');
  if (failed.status >= 500 && !(failed instanceof InternalError)) log.warn({ code: failed.code, reason: failed.message }, 'request failed');
  return failed;
}
