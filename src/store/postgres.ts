/** The shared store: PostgreSQL at RUNBOX_DATABASE_URL, so that replicas see the same keys. */
import { Pool } from 'pg';
import type { Queries, SqlDriver } from './driver';
import { checkSchemaKnown, MIGRATIONS } from './migrations';
import { sqlStore } from './sql-store';
import { StoreError, type Store } from './store';

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
    let broken: Error | undefined;
    const onError = (err: Error) => (broken ??= err);
    client.on('error', onError);
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
      client.off('error', onError);
      client.release(broken);
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreError(`cannot open the PostgreSQL store at RUNBOX_DATABASE_URL ${location}: ${(err as Error).message}`);
  }

  const fail = (what: string, err: unknown) =>
    new StoreError(`the PostgreSQL store ${location} failed (${what}): ${(err as Error).message}`);
  const on =
    (target: { query: Pool['query'] }): Queries['all'] =>
    async <R extends object>(what: string, sql: string, values: unknown[] = []) => {
      try {
        return (await target.query<R>(sql, values)).rows;
      } catch (err) {
        throw fail(what, err);
      }
    };

  const driver: SqlDriver = {
    location,
    all: on(pool),
    async transaction<T>(what: string, work: (tx: Queries) => Promise<T>, lockKey?: string): Promise<T> {
      const client = await pool.connect().catch((err: unknown) => {
        throw fail(what, err);
      });
      const tx: Queries = { all: on(client) };
      let failed: Error | undefined;
      // A checked-out client has no listener of the pool's: a connection that dies mid-transaction would emit
      // an unhandled 'error' and end the process. The failing query reports it; the client is discarded.
      const onError = (err: Error) => (failed ??= err);
      client.on('error', onError);
      try {
        await tx.all(what, 'BEGIN');
        // Every replica's transaction on this key waits here for the one before it.
        if (lockKey !== undefined) await tx.all(what, 'SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
        const result = await work(tx);
        await tx.all(what, 'COMMIT');
        return result;
      } catch (err) {
        failed = err as Error;
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.off('error', onError);
        // A connection that failed mid-transaction is not given to the next query.
        client.release(failed);
      }
    },
    async close() {
      await pool.end();
    },
  };
  return sqlStore(driver);
}
