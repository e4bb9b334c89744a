/**
 * Who may run code, with the key presented as `Authorization: Bearer <key>` or `X-API-Key: <key>`:
 * - the bootstrap key RUNBOX_API_KEY (compared in constant time), with no per-key limits;
 * - a stored key (`runbox keys add`), found by its SHA-256, unless revoked: looked up on every request, so a
 *   revocation holds from the next request on, on every replica sharing the store;
 * - with neither configured (loopback only), any request addressed to a loopback name, so a web page cannot
 *   reach the server through a hostname that resolves to 127.0.0.1 (DNS rebinding).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { ForbiddenError, StoreUnavailableError, UnauthorizedError } from '../errors';
import { hashKey, KEY_FORMAT, KEYS_NOW_REQUIRED } from '../keys/api-keys';
import type { Principal } from '../keys/principal';
import { NO_LIMITS, StoreError, type Store } from '../store/store';

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

/**
 * What is open on loopback without a key is open only to requests addressed to a loopback name, so that a
 * web page cannot reach it through a hostname that resolves to 127.0.0.1 (DNS rebinding).
 */
export function requireLoopbackHost(ctx: Context, what: string): void {
  if (!LOOPBACK_HOST.test(ctx.get('host'))) {
    throw new ForbiddenError(
      `without a key runbox serves ${what} only to requests addressed to localhost, 127.0.0.1 or [::1], not ${JSON.stringify(ctx.get('host'))}; set a key to serve other names`,
    );
  }
}

/** last_used_at is a day-to-day figure: written at most this often per key, not on every request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * `keylessAllowed`: the server listens on loopback only. Keyless mode is never entered otherwise, even when
 * every stored key has been revoked: a public server with no valid key refuses every run.
 */
export function requireApiKey(apiKey: string | undefined, store: Store, log: Logger, keylessAllowed: boolean) {
  const refused = () => new UnauthorizedError('a valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>)');
  const touched = new Map<string, number>();

  const principalFor = async (presented: string): Promise<Principal | undefined> => {
    if (apiKey !== undefined && keyMatches(apiKey, presented)) return { keyId: 'bootstrap', limits: NO_LIMITS };
    if (!KEY_FORMAT.test(presented)) return undefined;
    const key = await store.keyByHash(hashKey(presented));
    if (key === undefined || key.revokedAt !== null) return undefined;
    const now = Date.now();
    if (now - (touched.get(key.id) ?? key.lastUsedAt ?? 0) > TOUCH_EVERY_MS) {
      touched.set(key.id, now);
      store.touchKey(key.id, now).catch((err: Error) => log.warn({ err, keyId: key.id }, 'could not record a key as used'));
    }
    return { keyId: key.id, limits: key.limits };
  };

  // Whether this server has let keyless requests in, then been locked by a stored key while it ran: only then is
  // a refusal news to its clients, and to its operator (logged once). A server that started with keys says
  // nothing of a change it did not see.
  let keylessState: 'never served' | 'serving' | 'locked' = 'never served';
  /** A keyless request on a server that may be keyless: let in while the store has no active key. */
  const keyless = async (ctx: Context): Promise<Principal | undefined> => {
    if (await store.hasActiveKeys()) {
      if (keylessState === 'serving') log.warn(`requests without a key are refused from now on: ${KEYS_NOW_REQUIRED}`);
      if (keylessState === 'never served') return undefined;
      keylessState = 'locked';
      throw new UnauthorizedError(KEYS_NOW_REQUIRED);
    }
    requireLoopbackHost(ctx, 'runs');
    keylessState = 'serving';
    return { keyId: null, limits: NO_LIMITS };
  };

  return async (ctx: Context, next: Next) => {
    const presented = presentedKey(ctx);
    let principal: Principal | undefined;
    try {
      if (presented !== undefined) principal = await principalFor(presented);
      else if (apiKey === undefined && keylessAllowed) principal = await keyless(ctx);
    } catch (err) {
      if (err instanceof UnauthorizedError) ctx.set('WWW-Authenticate', 'Bearer');
      if (!(err instanceof StoreError)) throw err;
      // The detail (a file path, a database host) is for the operator, not for a client not yet authenticated.
      log.error({ err }, 'the key store failed');
      throw new StoreUnavailableError('the key store did not answer, so the key could not be checked; nothing was run');
    }
    if (principal === undefined) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw refused();
    }
    ctx.state.principal = principal;
    await next();
  };
}
