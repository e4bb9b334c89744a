/**
 * Admission control: at most `maxConcurrent` slots in use (one per live container), and a bounded queue in
 * front of them, fair between tenants (API keys): each tenant has its own FIFO queue, and a freed slot goes
 * to the tenants in turn (round-robin), so a key with many requests waiting cannot starve another's. When the
 * queue is full, a newcomer whose tenant has at least two fewer waiting than the busiest tenant takes the
 * busiest tenant's newest place (longest-queue drop; with one fewer, the two would only trade places);
 * otherwise it is refused at once. A waiter gives up at its queue timeout
 * or when cancelled. Slots are numbered 0..maxConcurrent-1, so whatever must differ between concurrent runs
 * (their uid) can follow the slot number.
 */
import { BusyError, ClientGoneError, QueueTimeoutError, RunboxError } from '../errors';

export interface Slot {
  readonly index: number;
  /** Frees the slot (idempotent); it passes straight to the next waiter, if any. Safe to pass around detached. */
  readonly release: () => void;
}

interface Waiter {
  tenant: string;
  grant: (slot: Slot) => void;
  fail: (err: Error) => void;
}

export class Admission {
  /** Slot numbers not in use (a stack: 0 goes first, then the most recently freed). */
  private readonly free: number[];
  /** Each tenant's waiters, oldest first; a tenant is here only while it has some, in its turn order. */
  private readonly queues = new Map<string, Waiter[]>();
  private waiting = 0;
  private readonly freeListeners: (() => void)[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
    /** Suggested client back-off when refusing, in seconds. */
    private readonly retryAfterSeconds = 1,
  ) {
    this.free = Array.from({ length: maxConcurrent }, (_, i) => maxConcurrent - 1 - i);
  }

  get inUse(): number {
    return this.maxConcurrent - this.free.length;
  }

  get queued(): number {
    return this.waiting;
  }

  /** Every slot is taken. */
  get full(): boolean {
    return this.free.length === 0;
  }

  /** One more waiter would be refused. */
  get queueFull(): boolean {
    return this.waiting >= this.maxQueue;
  }

  /** Calls `listener` whenever a slot becomes free (rather than passing straight to a waiter). */
  onFree(listener: () => void): void {
    this.freeListeners.push(listener);
  }

  /** Takes a slot only if one is free right now (for background work that must not queue ahead of requests). */
  tryAcquire(): Slot | undefined {
    if (this.free.length === 0 || this.waiting > 0) return undefined;
    return this.slot(this.free.pop()!);
  }

  /** `waitUntil`: when a waiter gives up (queue_timeout); `tenant`: whose request this is (an API key's id), for fairness. */
  acquire(waitUntil: number, cancel?: AbortSignal, tenant = ''): Promise<Slot> {
    const immediate = this.tryAcquire();
    if (immediate) return Promise.resolve(immediate);
    if (this.queueFull && !this.makeRoomFor(tenant)) {
      return Promise.reject(
        new BusyError(`all ${this.maxConcurrent} run slots are busy and the queue of ${this.maxQueue} is full`, this.retryAfterSeconds),
      );
    }
    return new Promise<Slot>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        cancel?.removeEventListener('abort', onAbort);
        this.remove(waiter);
      };
      const waiter: Waiter = {
        tenant,
        grant: (slot) => {
          leave();
          resolve(slot);
        },
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.fail(
            new QueueTimeoutError('no run slot came free within the queue timeout (RUNBOX_QUEUE_TIMEOUT_MS)', this.retryAfterSeconds),
          ),
        Math.max(0, waitUntil - Date.now()),
      );
      // The canceller's reason (e.g. shutting down) is the answer; otherwise the client left the queue.
      const onAbort = () =>
        waiter.fail(cancel?.reason instanceof RunboxError ? cancel.reason : new ClientGoneError('the client went away while queued'));
      const queue = this.queues.get(tenant);
      if (queue) queue.push(waiter);
      else this.queues.set(tenant, [waiter]);
      this.waiting += 1;
      // A client that left before it could queue has no business holding a place.
      if (cancel?.aborted) onAbort();
      else cancel?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The next waiter in turn: the oldest of the tenant whose turn it is, which then goes to the back of the line. */
  private next(): Waiter | undefined {
    const [tenant, queue] = this.queues.entries().next().value ?? [];
    if (tenant === undefined || !queue) return undefined;
    // To the back of the line; remove() drops the tenant once its queue is empty.
    this.queues.delete(tenant);
    this.queues.set(tenant, queue);
    return queue[0];
  }

  private remove(waiter: Waiter): void {
    const queue = this.queues.get(waiter.tenant);
    const at = queue?.indexOf(waiter) ?? -1;
    if (!queue || at < 0) return;
    queue.splice(at, 1);
    this.waiting -= 1;
    if (queue.length === 0) this.queues.delete(waiter.tenant);
  }

  /** Longest-queue drop: refuses the busiest tenant's newest waiter if `tenant` has at least two fewer waiting; whether it did. */
  private makeRoomFor(tenant: string): boolean {
    let busiest: Waiter[] | undefined;
    for (const queue of this.queues.values()) if (!busiest || queue.length > busiest.length) busiest = queue;
    if (!busiest || busiest.length <= (this.queues.get(tenant)?.length ?? 0) + 1) return false;
    busiest[busiest.length - 1].fail(
      new BusyError(`the queue of ${this.maxQueue} is full and this key holds more of it than any other`, this.retryAfterSeconds),
    );
    return true;
  }

  private slot(index: number): Slot {
    let released = false;
    return {
      index,
      release: () => {
        if (released) return;
        released = true;
        const next = this.next();
        // The slot passes straight to the next waiter, so nothing can jump the queue in between.
        if (next) return next.grant(this.slot(index));
        this.free.push(index);
        for (const listener of this.freeListeners) listener();
      },
    };
  }
}
