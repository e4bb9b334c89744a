/** The one place where errors become HTTP responses: `{ "error": { "code", "message" } }`. */
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { RunboxError } from '../errors';

/** Errors thrown by @koa/router (405) or Koa itself carry an HTTP status; give them our shape. */
function fromHttpError(err: { status?: unknown; message?: string }): { status: number; code: string; message: string } | undefined {
  switch (err.status) {
    case 400:
      return { status: 400, code: 'invalid_request', message: `the body is not valid JSON: ${err.message ?? ''}`.trim() };
    case 405:
      return { status: 405, code: 'method_not_allowed', message: err.message ?? 'method not allowed' };
    case 413:
      return { status: 413, code: 'payload_too_large', message: 'the request body exceeds RUNBOX_MAX_BODY_BYTES' };
    case 415:
      return { status: 415, code: 'unsupported_media_type', message: 'send the body as application/json' };
    default:
      return undefined;
  }
}

export function errorMiddleware(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      // Refused before the whole request was read (401, 413, 415, a bad body...): answer, then close the
      // connection rather than read, and parse, whatever else the client sends.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
      const mapped =
        err instanceof RunboxError
          ? { status: err.status, code: err.code, message: err.message, headers: err.headers }
          : fromHttpError(err as { status?: unknown });
      if (mapped) {
        ctx.status = mapped.status;
        ctx.set('headers' in mapped ? (mapped.headers ?? {}) : {});
        ctx.body = { error: { code: mapped.code, message: mapped.message } };
        if (mapped.status >= 500) log.warn({ code: mapped.code, reason: mapped.message }, 'request failed');
        return;
      }
      log.error({ err }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error' } };
    }
  };
}
