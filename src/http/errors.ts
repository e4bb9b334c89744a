/** The one place where errors become HTTP responses: `{ "error": { "code", "message" } }`. */
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { RunboxError } from '../errors';

/** koa-body's own errors (bad JSON, body too large) carry an HTTP status; give them our shape. */
function fromHttpError(err: { status?: number; message?: string; type?: string }): { status: number; code: string; message: string } | undefined {
  if (err.status === 413) return { status: 413, code: 'payload_too_large', message: 'the request body exceeds RUNBOX_MAX_BODY_BYTES' };
  if (err.status === 415) return { status: 415, code: 'unsupported_media_type', message: 'send the body as application/json' };
  if (err.status === 400) return { status: 400, code: 'invalid_request', message: `the body is not valid JSON: ${err.message ?? ''}`.trim() };
  return undefined;
}

export function errorMiddleware(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const mapped =
        err instanceof RunboxError
          ? { status: err.status, code: err.code, message: err.message, headers: err.headers }
          : fromHttpError(err as { status?: number });
      if (mapped) {
        ctx.status = mapped.status;
        ctx.set('headers' in mapped ? mapped.headers ?? {} : {});
        ctx.body = { error: { code: mapped.code, message: mapped.message } };
        if (mapped.status >= 500) log.warn({ code: mapped.code, msg: mapped.message }, 'request failed');
        return;
      }
      log.error({ err }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error' } };
    }
  };
}
