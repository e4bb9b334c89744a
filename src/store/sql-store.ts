/** The store's SQL, written once for both databases (`$1` parameters, no dialect-specific functions). */
import type { SqlDriver } from './driver';
import {
  bucketCapacity,
  KEY_COLUMNS,
  keyFromRow,
  LIMIT_COLUMNS,
  limitFields,
  num,
  type ArtifactDigest,
  type KeyLimits,
  type KeyRow,
  type NewKey,
  type RunEnd,
  type RunRecord,
  type RunStart,
  type Store,
  StoreError,
  utcDay,
} from './store';

/** PostgreSQL returns BIGINT and COUNT(*) as strings. */
type Numeric = number | string;

interface RunRow {
  id: string;
  key_id: string | null;
  request_id: string;
  received_at: Numeric;
  started_at: Numeric;
  ended_at: Numeric | null;
  status: string;
  exit_code: Numeric | null;
  duration_ms: Numeric | null;
  queued_ms: Numeric;
  cpu_ms: Numeric | null;
  max_rss_kb: Numeric | null;
  bytes_in: Numeric;
  bytes_out: Numeric | null;
  code_sha256: string;
  artifacts: string | null;
  image_id: string | null;
  content: string | null;
}

function runFromRow(row: RunRow): RunRecord & { content: unknown } {
  return {
    id: row.id,
    keyId: row.key_id,
    requestId: row.request_id,
    receivedAt: Number(row.received_at),
    startedAt: Number(row.started_at),
    endedAt: num(row.ended_at),
    status: row.status,
    exitCode: num(row.exit_code),
    durationMs: num(row.duration_ms) ?? undefined,
    queuedMs: Number(row.queued_ms),
    cpuMs: num(row.cpu_ms),
    maxRssKb: num(row.max_rss_kb),
    bytesIn: Number(row.bytes_in),
    bytesOut: num(row.bytes_out) ?? undefined,
    codeSha256: row.code_sha256,
    artifacts: row.artifacts === null ? undefined : (JSON.parse(row.artifacts) as ArtifactDigest[]),
    imageId: row.image_id,
    content: row.content === null ? null : (JSON.parse(row.content) as unknown),
  };
}

const PURGE_BATCH = 1000;

/** How long a finished day's run counts are kept: long enough for any time zone's "today". */
const DAY_MS = 86_400_000;

export function sqlStore(db: SqlDriver): Store {
  const byId = async (id: string) => (await db.all<KeyRow>('find key', `SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, [id]))[0];
  const runsOn = async (keyId: string, day: string) => {
    const [row] = await db.all<{ runs: Numeric }>('count runs', 'SELECT runs FROM run_counts WHERE key_id = $1 AND day = $2', [keyId, day]);
    return row ? Number(row.runs) : 0;
  };

  return {
    location: db.location,

    async addKey(key: NewKey) {
      const fields = limitFields(key.limits);
      const columns = ['id', 'name', 'description', 'env', 'prefix', 'key_hash', 'created_at', ...fields.map(([f]) => LIMIT_COLUMNS[f])];
      const values = [key.id, key.name, key.description, key.env, key.prefix, key.hash, key.createdAt, ...fields.map(([, v]) => v)];
      await db.all(
        'add key',
        `INSERT INTO api_keys (${columns.join(', ')}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`,
        values,
      );
    },
    async listKeys() {
      return (await db.all<KeyRow>('list keys', `SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)).map(keyFromRow);
    },
    async keyByHash(hash: string) {
      const row = (await db.all<KeyRow>('find key', `SELECT ${KEY_COLUMNS} FROM api_keys WHERE key_hash = $1`, [hash]))[0];
      return row && keyFromRow(row);
    },
    async hasActiveKeys() {
      return (await db.all('count keys', 'SELECT 1 AS one FROM api_keys WHERE revoked_at IS NULL LIMIT 1')).length > 0;
    },
    async revokeKey(id: string, at: number) {
      await db.all('revoke key', 'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [at, id]);
      return (await byId(id)) !== undefined;
    },
    async setKeyLimits(id: string, limits: Partial<KeyLimits>) {
      const fields = limitFields(limits);
      if (fields.length > 0) {
        const sets = fields.map(([field], i) => `${LIMIT_COLUMNS[field]} = $${i + 1}`).join(', ');
        await db.all('set limits', `UPDATE api_keys SET ${sets} WHERE id = $${fields.length + 1}`, [...fields.map(([, v]) => v), id]);
      }
      const row = await byId(id);
      return row && keyFromRow(row);
    },
    async touchKey(id: string, at: number) {
      await db.all('touch key', 'UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
    },

    takeToken(keyId: string, rate: number, now: number) {
      return db.transaction(
        'rate limit',
        async (tx) => {
          const [row] = await tx.all<{ tokens: Numeric; updated_at: Numeric }>(
            'rate limit',
            'SELECT tokens, updated_at FROM rate_buckets WHERE key_id = $1',
            [keyId],
          );
          // A new bucket starts full; a bucket refills at `rate` per second up to one second's worth (at least one).
          const capacity = bucketCapacity(rate);
          const elapsed = row ? Math.max(0, now - Number(row.updated_at)) : 0;
          const available = row ? Math.min(capacity, Number(row.tokens) + (elapsed * rate) / 1000) : capacity;
          const allowed = available >= 1;
          const tokens = allowed ? available - 1 : available;
          await tx.all(
            'rate limit',
            `INSERT INTO rate_buckets (key_id, tokens, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key_id) DO UPDATE SET tokens = $2, updated_at = $3`,
            [keyId, tokens, Math.max(now, Number(row?.updated_at ?? 0))],
          );
          return { allowed, tokens };
        },
        `rate:${keyId}`,
      );
    },
    async countRun(keyId: string, day: string, limit: number) {
      const [row] = await db.all<{ runs: Numeric }>(
        'count run',
        `INSERT INTO run_counts (key_id, day, runs) VALUES ($1, $2, 1)
         ON CONFLICT (key_id, day) DO UPDATE SET runs = run_counts.runs + 1 WHERE run_counts.runs < $3
         RETURNING runs`,
        [keyId, day, limit],
      );
      if (row) return { allowed: true, runs: Number(row.runs) };
      return { allowed: false, runs: await runsOn(keyId, day) };
    },
    async uncountRun(keyId: string, day: string) {
      await db.all('uncount run', 'UPDATE run_counts SET runs = runs - 1 WHERE key_id = $1 AND day = $2 AND runs > 0', [keyId, day]);
    },
    runsOn,
    acquireLease(lease: { id: string; keyId: string; expiresAt: number }, limit: number, now: number) {
      return db.transaction(
        'concurrency lease',
        async (tx) => {
          const [{ held }] = await tx.all<{ held: Numeric }>(
            'concurrency lease',
            'SELECT COUNT(*) AS held FROM run_leases WHERE key_id = $1 AND expires_at > $2',
            [lease.keyId, now],
          );
          if (Number(held) >= limit) return false;
          await tx.all('concurrency lease', 'INSERT INTO run_leases (id, key_id, expires_at) VALUES ($1, $2, $3)', [
            lease.id,
            lease.keyId,
            lease.expiresAt,
          ]);
          return true;
        },
        `lease:${lease.keyId}`,
      );
    },
    async releaseLease(id: string) {
      await db.all('release lease', 'DELETE FROM run_leases WHERE id = $1', [id]);
    },

    async beginRun(run: RunStart, content: unknown) {
      await db.all(
        'audit run start',
        `INSERT INTO runs (id, key_id, request_id, received_at, started_at, status, queued_ms, bytes_in, code_sha256, image_id, content)
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10)`,
        [
          run.id,
          run.keyId,
          run.requestId,
          run.receivedAt,
          run.startedAt,
          run.queuedMs,
          run.bytesIn,
          run.codeSha256,
          run.imageId,
          content === undefined || content === null ? null : JSON.stringify(content),
        ],
      );
    },
    async finishRun(id: string, end: RunEnd) {
      // Content given at the start (code, stdin) is merged with the outputs; without content (the default),
      // the record is not read first and its content is left as it is.
      let content: string | null = null;
      if (end.content !== undefined && end.content !== null) {
        const [row] = await db.all<{ content: string | null }>('audit run end', 'SELECT content FROM runs WHERE id = $1', [id]);
        content = JSON.stringify({ ...(row?.content ? (JSON.parse(row.content) as object) : {}), ...end.content });
      }
      const updated = await db.all(
        'audit run end',
        `UPDATE runs SET ended_at = $2, status = $3, exit_code = $4, duration_ms = $5, cpu_ms = $6, max_rss_kb = $7,
           bytes_out = $8, artifacts = $9, content = COALESCE($10, content) WHERE id = $1 RETURNING id`,
        [
          id,
          end.endedAt,
          end.status,
          end.exitCode,
          end.durationMs,
          end.cpuMs,
          end.maxRssKb,
          end.bytesOut,
          JSON.stringify(end.artifacts),
          content,
        ],
      );
      // A record that is not there (purged, never written) is as lost as a write that failed.
      if (updated.length === 0) throw new StoreError(`the audit record of run ${id} is missing`);
    },
    async runById(id: string) {
      const [row] = await db.all<RunRow>('find run', 'SELECT * FROM runs WHERE id = $1', [id]);
      return row && runFromRow(row);
    },
    async purge(before: number, now: number) {
      // In batches: memory stays bounded, and SQLite (synchronous) blocks the event loop one batch at a time.
      let gone = 0;
      for (let batch = PURGE_BATCH; batch === PURGE_BATCH; gone += batch) {
        batch = (
          await db.all('purge runs', 'DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE received_at < $1 LIMIT $2) RETURNING id', [
            before,
            PURGE_BATCH,
          ])
        ).length;
      }
      await db.all('purge leases', 'DELETE FROM run_leases WHERE expires_at <= $1', [now]);
      // Days are YYYY-MM-DD, which sort as text.
      await db.all('purge run counts', 'DELETE FROM run_counts WHERE day < $1', [utcDay(now - 2 * DAY_MS)]);
      await db.all('purge rate buckets', 'DELETE FROM rate_buckets WHERE updated_at < $1', [now - DAY_MS]);
      return gone;
    },

    close: () => db.close(),
  };
}
