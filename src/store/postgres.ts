/** The shared store: PostgreSQL at RUNBOX_DATABASE_URL, so that replicas see the same keys. */
import { Pool } from 'pg';
import { checkSchemaKnown, MIGRATIONS } from './migrations';
import {
  KEY_COLUMNS,
  keyFromRow,
  LIMIT_COLUMNS,
  limitFields,
  StoreError,
  type KeyLimits,
  type KeyRow,
  type NewKey,
  type Store,
} from './store';

/**
 * The URL as it may be shown: user, host and database only. Its password, and every query parameter
 * (`?password=`, `sslpassword=`... are secrets too), are left out.
 */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${parsed.username}${parsed.password ? ':***' : ''}@` : '';
    const socket = parsed.searchParams.get('host');
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}${socket?.startsWith('/') ? ` (socket ${socket})` : ''}`;
  } catch {
    return '(RUNBOX_DATABASE_URL is not a URL)';
  }
}

/** Every query is bounded: a database that hangs must fail requests (503), not hold them. */
const QUERY_TIMEOUT_MS = 5000;

/** One lock id for "migrating runbox's schema", so replicas starting together migrate one at a time. */
const MIGRATION_LOCK = 7_206_883_091;

export async function openPostgres(url: string): Promise<Store> {
  const location = redactedUrl(url);
  const pool = new Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: QUERY_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  // An idle connection that breaks must not take the process down; the next query reports it.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const applied = new Set(
        (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
      );
      checkSchemaKnown(applied);
      for (const step of MIGRATIONS) {
        if (applied.has(step.version)) continue;
        await client.query(step.postgres);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [step.version, Date.now()]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreError(`cannot open the PostgreSQL store at RUNBOX_DATABASE_URL ${location}: ${(err as Error).message}`);
  }

  const query = async <R extends object>(what: string, text: string, values: unknown[] = []): Promise<R[]> => {
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (err) {
      throw new StoreError(`the PostgreSQL store ${location} failed (${what}): ${(err as Error).message}`);
    }
  };
  const byId = async (id: string) => (await query<KeyRow>('find key', `SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, [id]))[0];

  return {
    location,
    async addKey(key: NewKey) {
      await query(
        'add key',
        `INSERT INTO api_keys (id, name, description, env, prefix, key_hash, created_at, max_timeout_ms, max_memory_mb)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [key.id, key.name, key.description, key.env, key.prefix, key.hash, key.createdAt, key.limits.maxTimeoutMs, key.limits.maxMemoryMb],
      );
    },
    async listKeys() {
      return (await query<KeyRow>('list keys', `SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)).map(keyFromRow);
    },
    async keyByHash(hash: string) {
      const row = (await query<KeyRow>('find key', `SELECT ${KEY_COLUMNS} FROM api_keys WHERE key_hash = $1`, [hash]))[0];
      return row && keyFromRow(row);
    },
    async hasActiveKeys() {
      return (await query('count keys', 'SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1')).length > 0;
    },
    async revokeKey(id: string, at: number) {
      await query('revoke key', 'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [at, id]);
      return (await byId(id)) !== undefined;
    },
    async setKeyLimits(id: string, limits: Partial<KeyLimits>) {
      const fields = limitFields(limits);
      if (fields.length > 0) {
        const sets = fields.map(([field], i) => `${LIMIT_COLUMNS[field]} = $${i + 1}`).join(', ');
        await query('set limits', `UPDATE api_keys SET ${sets} WHERE id = $${fields.length + 1}`, [...fields.map(([, v]) => v), id]);
      }
      const row = await byId(id);
      return row && keyFromRow(row);
    },
    async touchKey(id: string, at: number) {
      await query('touch key', 'UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
    },
    async close() {
      await pool.end();
    },
  };
}
