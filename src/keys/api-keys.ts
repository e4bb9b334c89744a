/**
 * API keys: `rbx_<env>_<32 random base62 characters>` (about 190 bits), shown once when made. Only their
 * SHA-256 is stored: for a key this random, a fast unsalted hash cannot be reversed or guessed, and it lets
 * a request's key be found with one indexed lookup (see SECURITY.md).
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { KeyEnv, KeyLimits, NewKey } from '../store/store';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_LENGTH = 32;
export const KEY_FORMAT = /^rbx_(test|prod)_[A-Za-z0-9]{32}$/;
/** How much of a key is kept to recognise it by: the env and four characters of 32. */
const PREFIX_LENGTH = 'rbx_test_'.length + 4;

/**
 * The first stored key turns a loopback server that ran without keys into one that needs them, from its next
 * request on. The CLI says so when it adds that key, and the server's 401 says so to whoever is refused.
 */
export const FIRST_KEY_NOTICE =
  "this is the store's first key: a server using this store without RUNBOX_API_KEY, which served requests without a key until now, refuses any without one from its next request on (send Authorization: Bearer <key>; the CLI reads RUNBOX_API_KEY or --api-key; the playground has a key field)";
export const KEYS_NOW_REQUIRED =
  'this server ran without keys until a key was added to its store (`runbox keys add`); every request needs one now: send Authorization: Bearer <key> (the CLI reads RUNBOX_API_KEY or --api-key; the playground has a key field), or revoke the stored keys to go back to keyless on loopback';

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

function randomSecret(): string {
  return Array.from({ length: SECRET_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
}

/** A new key and what is stored of it. */
export function makeKey(options: { name: string; description?: string; env: KeyEnv; limits: KeyLimits; now?: number }): {
  key: string;
  record: NewKey;
} {
  const key = `rbx_${options.env}_${randomSecret()}`;
  return {
    key,
    record: {
      id: `key_${randomBytes(6).toString('hex')}`,
      name: options.name,
      description: options.description ?? null,
      env: options.env,
      prefix: key.slice(0, PREFIX_LENGTH),
      hash: hashKey(key),
      createdAt: options.now ?? Date.now(),
      limits: options.limits,
    },
  };
}
