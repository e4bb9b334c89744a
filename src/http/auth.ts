/** API-key check: `Authorization: Bearer <key>` or `X-API-Key: <key>`, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { UnauthorizedError } from '../errors';

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

export function requireApiKey(apiKey: string | undefined) {
  return async (ctx: Context, next: Next) => {
    if (apiKey !== undefined && !keyMatches(apiKey, presentedKey(ctx))) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedError('a valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>)');
    }
    await next();
  };
}
