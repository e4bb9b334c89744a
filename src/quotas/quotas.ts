/**
 * Per-key limits beyond one run's size, kept in the store so that every replica sharing it enforces the
 * same numbers:
 * - requests per second: a token bucket per key, one token per authenticated request (429 rate_limited);
 * - runs per UTC day: counted when a run is accepted, given back if it never started (429 quota_exceeded);
 * - concurrent runs: a lease per run; a request over its key's share waits (up to the queue timeout) like
 *   a queued one, then goes to the fair admission queue.
 * Keyless and bootstrap-key requests have none of these.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  BusyError,
  ClientGoneError,
  QueueTimeoutError,
  QuotaExceededError,
  RateLimitedError,
  RunboxError,
  ShuttingDownError,
  StoreUnavailableError,
} from '../errors';
import type { Principal } from '../keys/principal';
import { bucketCapacity, StoreError, utcDay, type Store } from '../store/store';

const DAY_MS = 86_400_000;
/**
 * How often a request waiting for its key's share asks the store again (other replicas' runs end
 * unannounced): from the first to the last figure, doubling, with jitter, so waiters do not poll in step.
 * This replica's own runs of the key wake a waiter at once.
 */
const SHARE_POLL_FIRST_MS = 100;
const SHARE_POLL_MAX_MS = 1000;

/** What a request's key has left, for the RateLimit headers. */
export interface QuotaState {
  rate?: { limit: number; tokens: number };
  daily?: { limit: number; runs: number; resetSeconds: number };
}

/** A run counted against its key's day: given back if the run never started. */
export interface Reservation {
  started(): void;
  /** Gives the count back unless the run started; idempotent. */
  settle(): void;
}

const NOTHING: Reservation = { started: () => undefined, settle: () => undefined };

const secondsToMidnight = (now: number) => Math.max(1, Math.ceil((DAY_MS - (now % DAY_MS)) / 1000));

export class Quotas {
  /** Local wake-ups for requests waiting on a key's share, when one of this replica's runs of that key ends. */
  private readonly shareFreed = new Map<string, Set<() => void>>();
  /** Requests waiting for their key's share on this replica, by key. */
  private readonly waitingFor = new Map<string, number>();

  private readonly stopping = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly options: {
      /** Requests a key may have waiting for its concurrency share on this replica; beyond, 503 busy. */
      maxWaitingPerKey: number;
      /**
       * How long a lease outlives its run's deadline: as long as a run can go on past it (a slow engine's
       * calls, the kill and reporting grace), so that a replica that dies holding one frees it in the end.
       */
      leaseMarginMs: number;
    },
  ) {}

  /** Shutting down: requests waiting for their key's share are answered 503 shutting_down at once. */
  stop(): void {
    this.stopping.abort(new ShuttingDownError('the server is shutting down; the run was not started'));
  }

  /** Store failures become 503 store_unavailable: a limit that cannot be checked is not waived. */
  private async guarded<T>(work: () => Promise<T>, log: Logger = this.log): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      log.error({ err }, 'the store failed while checking a limit');
      throw new StoreUnavailableError("the store did not answer, so the key's limits could not be checked; nothing was run");
    }
  }

  /** Every authenticated request: takes a token (429 when none), and reports what the key has left. */
  async admitRequest({ keyId, limits }: Principal, log: Logger, now = Date.now()): Promise<QuotaState> {
    const state: QuotaState = {};
    if (keyId === null) return state;
    return this.guarded(async () => {
      if (limits.dailyRuns !== null) {
        state.daily = { limit: limits.dailyRuns, runs: await this.store.runsOn(keyId, utcDay(now)), resetSeconds: secondsToMidnight(now) };
      }
      if (limits.ratePerSecond !== null) {
        const rate = limits.ratePerSecond;
        const bucket = await this.store.takeToken(keyId, rate, now);
        state.rate = { limit: rate, tokens: bucket.tokens };
        if (!bucket.allowed) {
          const err = new RateLimitedError(
            `this key may make ${rate} requests per second`,
            Math.max(1, Math.ceil((1 - bucket.tokens) / rate)),
          );
          Object.assign(err.headers, rateLimitHeaders(state));
          throw err;
        }
      }
      return state;
    }, log);
  }

  /** Counts a run against the key's day (429 quota_exceeded when used up); updates `state`. */
  async reserveRun({ keyId, limits }: Principal, state: QuotaState, log: Logger, now = Date.now()): Promise<Reservation> {
    const limit = limits.dailyRuns;
    if (keyId === null || limit === null) return NOTHING;
    const day = utcDay(now);
    const counted = await this.guarded(() => this.store.countRun(keyId, day, limit), log);
    state.daily = { limit, runs: counted.runs, resetSeconds: secondsToMidnight(now) };
    if (!counted.allowed) {
      const err = new QuotaExceededError(`this key's ${limit} runs for today (UTC) are used up`, state.daily.resetSeconds);
      Object.assign(err.headers, rateLimitHeaders(state));
      throw err;
    }
    let started = false;
    let settled = false;
    return {
      started: () => (started = true),
      settle: () => {
        if (started || settled) return;
        settled = true;
        if (state.daily) state.daily.runs -= 1;
        // Best effort: with the store down (why a run may not have started), the count stays spent.
        this.store.uncountRun(keyId, day).catch((err: Error) => log.warn({ err, keyId }, 'could not give back a run count'));
      },
    };
  }

  /**
   * Holds one of the key's concurrent-run leases, waiting for one until `waitUntil` (503 queue_timeout) or
   * until `cancel`; resolves with its release. `endsBy`: the latest the run can end, after which the lease
   * expires on its own (a replica that died cannot free it).
   */
  async shareFor(
    { keyId, limits }: Principal,
    { waitUntil, endsBy }: { waitUntil: number; endsBy: number },
    cancel: AbortSignal | undefined,
    log: Logger,
  ): Promise<() => void> {
    const limit = limits.maxConcurrent;
    if (keyId === null || limit === null) return () => undefined;
    const wakers = this.shareFreed.get(keyId) ?? new Set<() => void>();
    this.shareFreed.set(keyId, wakers);
    const lease = { id: randomUUID(), keyId, expiresAt: endsBy + this.options.leaseMarginMs };
    if (await this.guarded(() => this.store.acquireLease(lease, limit, Date.now()), log)) return this.releaser(lease, wakers, log);
    const waiting = this.waitingFor.get(keyId) ?? 0;
    if (waiting >= this.options.maxWaitingPerKey) {
      throw new BusyError(`this key's ${limit} concurrent runs are in use and ${waiting} of its requests wait already`, 1);
    }
    this.waitingFor.set(keyId, waiting + 1);
    try {
      await this.waitForLease(
        lease,
        limit,
        wakers,
        waitUntil,
        cancel ? AbortSignal.any([cancel, this.stopping.signal]) : this.stopping.signal,
        log,
      );
    } finally {
      const left = (this.waitingFor.get(keyId) ?? 1) - 1;
      if (left === 0) this.waitingFor.delete(keyId);
      else this.waitingFor.set(keyId, left);
    }
    return this.releaser(lease, wakers, log);
  }

  private async waitForLease(
    lease: { id: string; keyId: string; expiresAt: number },
    limit: number,
    wakers: Set<() => void>,
    deadline: number,
    cancel: AbortSignal,
    log: Logger,
  ): Promise<void> {
    for (let pollMs = SHARE_POLL_FIRST_MS; ; pollMs = Math.min(SHARE_POLL_MAX_MS, pollMs * 2)) {
      if (Date.now() >= deadline) {
        throw new QueueTimeoutError(`this key's ${limit} concurrent runs stayed in use for the queue timeout (RUNBOX_QUEUE_TIMEOUT_MS)`, 1);
      }
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          wakers.delete(wake);
          cancel.removeEventListener('abort', onAbort);
        };
        const wake = () => (done(), resolve());
        const onAbort = () => {
          done();
          reject(cancel.reason instanceof RunboxError ? cancel.reason : new ClientGoneError('the client went away while queued'));
        };
        const jittered = pollMs / 2 + Math.random() * (pollMs / 2);
        const timer = setTimeout(wake, Math.min(jittered, Math.max(0, deadline - Date.now())));
        wakers.add(wake);
        if (cancel.aborted) onAbort();
        else cancel.addEventListener('abort', onAbort, { once: true });
      });
      if (await this.guarded(() => this.store.acquireLease(lease, limit, Date.now()), log)) return;
    }
  }

  /** Frees the lease (once), and wakes one of this replica's requests waiting for the key's share. */
  private releaser(lease: { id: string; keyId: string }, wakers: Set<() => void>, log: Logger): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.store.releaseLease(lease.id).then(
        () => [...wakers][0]?.(),
        (err: Error) => log.warn({ err, keyId: lease.keyId }, 'could not release a concurrency lease; it expires on its own'),
      );
    };
  }

  /** Requests waiting for their key's share on this replica (part of the queue depth). */
  get waiting(): number {
    let count = 0;
    for (const n of this.waitingFor.values()) count += n;
    return count;
  }
}

/**
 * The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers): a `rate` policy
 * (the token bucket, as q requests per w seconds) and a `daily` one, each with what is left (r) and the
 * seconds until it is whole again (t).
 */
export function rateLimitHeaders({ rate, daily }: QuotaState): Record<string, string> {
  const policies: string[] = [];
  const current: string[] = [];
  if (rate) {
    const capacity = bucketCapacity(rate.limit);
    const quota = Math.floor(capacity);
    // Rounded up: a client keeping to the advertised pace never outruns the bucket.
    policies.push(`"rate";q=${quota};w=${Math.max(1, Math.ceil(quota / rate.limit))}`);
    current.push(`"rate";r=${Math.floor(rate.tokens)};t=${Math.ceil((capacity - rate.tokens) / rate.limit)}`);
  }
  if (daily) {
    policies.push(`"daily";q=${daily.limit};w=86400`);
    current.push(`"daily";r=${Math.max(0, daily.limit - daily.runs)};t=${daily.resetSeconds}`);
  }
  return policies.length === 0 ? {} : { 'RateLimit-Policy': policies.join(', '), RateLimit: current.join(', ') };
}
