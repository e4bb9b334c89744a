/**
 * Who may run code: with a key, whoever presents it (`Authorization: Bearer <key>` or `X-API-Key: <key>`,
 * compared in constant time); without one (loopback only), requests addressed to a loopback name, so a web
 * page cannot reach the server through a hostname that resolves to 127.0.0.1 (DNS rebinding).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { ForbiddenError, UnauthorizedError } from '../errors';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function presentedKey(ctx: Context): string | undefined {
  const header = ctx.get('authorization');
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return bearer[1].trim();
  return ctx.get('x-api-key') || undefined;
}

/** Hashing both sides first makes the comparison constant-time whatever the lengths. */
export function keyMatches(expected: string, presented: string | undefined): boolean {
  return presented !== undefined && timingSafeEqual(digest(expected), digest(presented));
}

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i;

export function requireApiKey(apiKey: string | undefined) {
  return async (ctx: Context, next: Next) => {
    if (apiKey === undefined && !LOOPBACK_HOST.test(ctx.get('host'))) {
      throw new ForbiddenError(
        `without RUNBOX_API_KEY runbox runs code only for requests addressed to localhost, 127.0.0.1 or [::1], not ${JSON.stringify(ctx.get('host'))}; set RUNBOX_API_KEY to serve other names`,
      );
    }
    if (apiKey !== undefined && !keyMatches(apiKey, presentedKey(ctx))) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedError('a valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>)');
    }
    await next();
  };
}
