/** The native API's rendering of a failure: `{ "error": { "code", "message" } }`, with the error's status and headers. */
import type { Context, Next } from 'koa';
import { failure, type FailureDeps } from './failure';

export function errorMiddleware(deps: FailureDeps) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const failed = failure(ctx, err, deps);
      ctx.status = failed.status;
      ctx.set(failed.headers);
      ctx.body = { error: { code: failed.code, message: failed.message } };
    }
  };
}
