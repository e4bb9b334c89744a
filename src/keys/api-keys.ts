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
