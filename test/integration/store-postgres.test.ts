/**
 * The PostgreSQL store against a real PostgreSQL 15 server started for it (test/support/postgres.ts): the store
 * contract (test/unit/store-contract.ts), and a connection that dies mid-transaction.
 */
import { Client } from 'pg';
import { openPostgres } from '../../src/store/postgres';
import { StoreError } from '../../src/store/store';
import { startPostgres } from '../support/postgres';
import { storeContract } from '../unit/store-contract';
import { until } from '../support/wait';

storeContract('PostgreSQL', async () => {
  const server = startPostgres();
  const store = await openPostgres(server.url);
  return {
    store,
    reopen: () => openPostgres(server.url),
    done: async () => {
      await store.close();
      server.stop();
    },
  };
});

describe('the PostgreSQL store when a connection dies mid-transaction', () => {
  it('reports a StoreError, does not take the process down, and works on with new connections', async () => {
    const server = startPostgres();
    const store = await openPostgres(server.url);
    const holder = new Client({ connectionString: server.url });
    await holder.connect();
    try {
      // Another session holds the key's lock, so the store's transaction waits inside it...
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['lease:key_dies']);
      const waiting = store.acquireLease({ id: 'l1', keyId: 'key_dies', expiresAt: 10_000 }, 1, 1000);
      let victim: number | undefined;
      await until(async () => {
        const { rows } = await holder.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        );
        victim = rows[0]?.pid;
        return victim !== undefined;
      }, "the store's transaction waits for the lock");
      // ...and its connection is cut, as a failover or pg_terminate_backend would.
      await holder.query('SELECT pg_terminate_backend($1)', [victim]);
      await expect(waiting).rejects.toThrow(StoreError);
      await holder.query('COMMIT');
      expect(await store.acquireLease({ id: 'l2', keyId: 'key_dies', expiresAt: 10_000 }, 1, 1000)).toBe(true);
    } finally {
      await holder.end();
      await store.close();
      server.stop();
    }
  });
});
