/**
 * Admission control: at most `maxConcurrent` slots in use (one per live container), and a bounded FIFO
 * queue in front of them. A full queue refuses at once; a waiter gives up at its deadline or when cancelled.
 * Slots are numbered 0..maxConcurrent-1, so whatever must differ between concurrent runs (their uid) can
 * follow the slot number.
 */
import { BusyError, ClientGoneError, RunboxError } from '../errors';

export interface Slot {
  readonly index: number;
  /** Frees the slot (idempotent); it passes straight to the next waiter, if any. Safe to pass around detached. */
  readonly release: () => void;
}

interface Waiter {
  grant: (slot: Slot) => void;
  fail: (err: Error) => void;
}

export class Admission {
  /** Slot numbers not in use (a stack: 0 goes first, then the most recently freed). */
  private readonly free: number[];
  private readonly queue: Waiter[] = [];
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
    return this.queue.length;
  }

  /** Every slot is taken. */
  get full(): boolean {
    return this.free.length === 0;
  }

  /** One more waiter would be refused. */
  get queueFull(): boolean {
    return this.queue.length >= this.maxQueue;
  }

  /** Calls `listener` whenever a slot becomes free (rather than passing straight to a waiter). */
  onFree(listener: () => void): void {
    this.freeListeners.push(listener);
  }

  /** Takes a slot only if one is free right now (for background work that must not queue ahead of requests). */
  tryAcquire(): Slot | undefined {
    if (this.free.length === 0 || this.queue.length > 0) return undefined;
    return this.slot(this.free.pop()!);
  }

  acquire(deadline: number, cancel?: AbortSignal): Promise<Slot> {
    const immediate = this.tryAcquire();
    if (immediate) return Promise.resolve(immediate);
    if (this.queueFull) {
      return Promise.reject(
        new BusyError(`all ${this.maxConcurrent} run slots are busy and the queue of ${this.maxQueue} is full`, this.retryAfterSeconds),
      );
    }
    return new Promise<Slot>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        cancel?.removeEventListener('abort', onAbort);
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
      };
      const waiter: Waiter = {
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
        () => waiter.fail(new BusyError("waited for a run slot until the run's deadline passed", this.retryAfterSeconds)),
        Math.max(0, deadline - Date.now()),
      );
      // The canceller's reason (e.g. shutting down) is the answer; otherwise the client left the queue.
      const onAbort = () =>
        waiter.fail(cancel?.reason instanceof RunboxError ? cancel.reason : new ClientGoneError('the client went away while queued'));
      this.queue.push(waiter);
      // A client that left before it could queue has no business holding a place.
      if (cancel?.aborted) onAbort();
      else cancel?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private slot(index: number): Slot {
    let released = false;
    return {
      index,
      release: () => {
        if (released) return;
        released = true;
        const next = this.queue[0];
        // The slot passes straight to the next waiter, so nothing can jump the queue in between.
        if (next) return next.grant(this.slot(index));
        this.free.push(index);
        for (const listener of this.freeListeners) listener();
      },
    };
  }
}
