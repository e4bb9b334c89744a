/**
 * `runbox keys add|list|revoke|set`: managing API keys in the store the server uses, found by the same rule
 * (storeConfig: RUNBOX_DATABASE_URL, else SQLite in RUNBOX_DATA_DIR, else in this user's data folder). Each
 * command says which store it opened; only `add` makes a store that is not there. A new key is printed once.
 */
import { storeConfig } from '../config';
import { FIRST_KEY_NOTICE, makeKey } from '../keys/api-keys';
import { describeStore, earlierDefaultStore, openStore, storeExists } from '../store/open';
import { NO_LIMITS, StoreError, type KeyLimits, type KeyRecord, type Store } from '../store/store';
import { CliError, EXIT } from './exit-codes';
import { LIMIT_FLAGS, type LimitOptions } from './limit-flags';

const optionName = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A limit flag's value, or `none` to lift it. */
function limitValue(field: keyof KeyLimits, text: string): number | null {
  const { flag, min, fractional } = LIMIT_FLAGS[field];
  if (text === 'none') return null;
  const pattern = fractional ? /^\d{1,10}(\.\d{1,6})?$/ : /^\d{1,10}$/;
  if (!pattern.test(text) || Number(text) < min) {
    throw new CliError(
      `--${flag} ${JSON.stringify(text)}: give ${fractional ? 'a number' : 'a whole number'} of at least ${min}, or none`,
      EXIT.usage,
    );
  }
  return Number(text);
}

function limitsFrom(options: LimitOptions): Partial<KeyLimits> {
  const limits: Partial<KeyLimits> = {};
  for (const field of Object.keys(LIMIT_FLAGS) as (keyof KeyLimits)[]) {
    const text = options[optionName(LIMIT_FLAGS[field].flag)];
    if (text !== undefined) limits[field] = limitValue(field, text);
  }
  return limits;
}

/**
 * Opens the store, saying which on stderr. Without `create`, a store that is not there is an error rather than
 * a new empty one: an empty list from the wrong folder would look like a server with no keys.
 */
async function withStore<T>(work: (store: Store) => Promise<T>, { create = false } = {}): Promise<T> {
  let store: Store;
  try {
    const config = storeConfig(process.env);
    const earlier = earlierDefaultStore(config);
    if (earlier !== undefined) throw new CliError(earlier, EXIT.noInput);
    const existed = storeExists(config);
    if (!existed && !create) {
      throw new CliError(
        `no key store at ${describeStore(config)}: a server makes it when it first starts, and \`runbox keys add\` makes it. If the server keeps its store elsewhere, set RUNBOX_DATA_DIR (or RUNBOX_DATABASE_URL) here as it is set for the server`,
        EXIT.noInput,
      );
    }
    process.stderr.write(`runbox: ${existed ? 'key store' : 'making a new key store'}: ${describeStore(config)}\n`);
    store = await openStore(config);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message, err instanceof StoreError ? EXIT.unavailable : EXIT.usage);
  }
  try {
    return await work(store);
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(err.message, EXIT.unavailable);
    throw err;
  } finally {
    await store.close();
  }
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

function describeLimits(limits: KeyLimits): string {
  const shown: Record<keyof KeyLimits, (n: number) => string> = {
    ratePerSecond: (n) => `rate=${n}/s`,
    maxConcurrent: (n) => `concurrency=${n}`,
    dailyRuns: (n) => `daily=${n}`,
    maxTimeoutMs: (n) => `timeout<=${n}ms`,
    maxMemoryMb: (n) => `memory<=${n}MB`,
  };
  const parts = (Object.keys(shown) as (keyof KeyLimits)[]).filter((f) => limits[f] !== null).map((f) => shown[f](limits[f]!));
  return parts.join(' ') || '-';
}

/** Rows as aligned columns, for a terminal. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export async function keysAdd(options: { name: string; description?: string; env: string } & LimitOptions): Promise<void> {
  if (options.env !== 'test' && options.env !== 'prod')
    throw new CliError(`--env ${JSON.stringify(options.env)}: test or prod`, EXIT.usage);
  if (!/^[\w .@-]{1,100}$/.test(options.name)) throw new CliError('--name: 1-100 letters, digits, spaces and . _ @ -', EXIT.usage);
  const limits = { ...NO_LIMITS, ...limitsFrom(options) };
  const { key, record } = makeKey({ name: options.name, description: options.description, env: options.env, limits });
  const first = await withStore(
    async (store) => {
      const hadKeys = await store.hasActiveKeys();
      await store.addKey(record);
      return !hadKeys;
    },
    { create: true },
  );
  if (first) process.stderr.write(`runbox: ${FIRST_KEY_NOTICE}\n`);
  process.stderr.write(`runbox: added ${record.id} (${record.name}, ${record.env}). The key is shown this once; keep it secret:\n`);
  process.stdout.write(`${key}\n`);
}

export async function keysList(): Promise<void> {
  const keys = await withStore((store) => store.listKeys());
  const rows = keys.map((k: KeyRecord) => [
    k.id,
    k.name,
    k.env,
    k.prefix + '…',
    when(k.createdAt),
    when(k.lastUsedAt),
    describeLimits(k.limits),
    k.revokedAt === null ? 'active' : `revoked ${when(k.revokedAt)}`,
  ]);
  process.stdout.write(`${table(['ID', 'NAME', 'ENV', 'KEY', 'CREATED', 'LAST USED', 'LIMITS', 'STATUS'], rows)}\n`);
}

export async function keysRevoke(id: string): Promise<void> {
  if (!(await withStore((store) => store.revokeKey(id, Date.now())))) throw new CliError(`no key ${id}`, EXIT.noInput);
  process.stderr.write(`runbox: revoked ${id}; it is refused from the next request on\n`);
}

export async function keysSet(id: string, options: LimitOptions): Promise<void> {
  const limits = limitsFrom(options);
  if (Object.keys(limits).length === 0) throw new CliError('give a limit to change, e.g. --rate 5 or --max-timeout-ms 30000', EXIT.usage);
  const key = await withStore((store) => store.setKeyLimits(id, limits));
  if (key === undefined) throw new CliError(`no key ${id}`, EXIT.noInput);
  process.stderr.write(`runbox: ${id} limits: ${describeLimits(key.limits)}\n`);
}
