/**
 * Every request gets an id: the client's `X-Request-Id` if it is sane (1-128 characters of letters, digits
 * and `-_.:@/+=`), else a new one. It is sent back, carried by every log line of the request (through the
 * request's child logger, `ctx.state.log`), and kept in the run's audit record. Each request ends with one
 * `request` line: method, route pattern, status and time.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

const SANE_ID = /^[A-Za-z0-9\-_.:@/+=]{1,128}$/;

export function requestIds(log: Logger) {
  return async (ctx: Context, next: Next) => {
    const given = ctx.get('x-request-id');
    const requestId = SANE_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    const requestLogger = log.child({ requestId });
    ctx.state.log = requestLogger;
    ctx.set('X-Request-Id', requestId);
    const began = performance.now();
    // Where a run's phases start (its Server-Timing): the request's arrival.
    ctx.state.arrivedAt = began;
    try {
      await next();
    } finally {
      // The route's pattern, not the path: a path is the client's text, and may carry anything.
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? '(no route)';
      requestLogger.info({ method: ctx.method, route, status: ctx.status, ms: Math.round(performance.now() - began) }, 'request');
    }
  };
}

/** The request's logger (with its id), or `fallback` outside a request. */
export const requestLog = (ctx: Context, fallback: Logger): Logger => (ctx.state.log as Logger | undefined) ?? fallback;
