/** The one place where errors become HTTP responses: `{ "error": { "code", "message" } }`. */
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { RunboxError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import { requestLog } from './request-id';

/** The one error not of our own making: @koa/router's 405 for a known route and a wrong method. */
function fromHttpError(err: { status?: unknown; message?: string }): { status: number; code: string; message: string } | undefined {
  return err.status === 405 ? { status: 405, code: 'method_not_allowed', message: err.message ?? 'method not allowed' } : undefined;
}

export function errorMiddleware(baseLog: Logger, metrics: Pick<Metrics, 'rejected'>) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const log = requestLog(ctx, baseLog);
      // Refused before the whole request was read (401, 413, 415, a bad body...): answer, then close the
      // connection rather than read, and parse, whatever else the client sends.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
      const mapped =
        err instanceof RunboxError
          ? { status: err.status, code: err.code, message: err.message, headers: err.headers }
          : fromHttpError(err as { status?: unknown });
      if (mapped) {
        metrics.rejected(mapped.code);
        ctx.status = mapped.status;
        ctx.set('headers' in mapped ? (mapped.headers ?? {}) : {});
        ctx.body = { error: { code: mapped.code, message: mapped.message } };
        if (mapped.status >= 500) log.warn({ code: mapped.code, reason: mapped.message }, 'request failed');
        return;
      }
      log.error({ err }, 'unexpected error');
      metrics.rejected('internal');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error' } };
    }
  };
}
