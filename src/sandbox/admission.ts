/**
 * Admission control: at most `maxConcurrent` slots in use (one per live container), and a bounded FIFO
 * queue in front of them. A full queue refuses at once; a waiter gives up at its deadline or when cancelled.
 */
import { BusyError, ClientGoneError, RunboxError } from '../errors';

export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  fail: (err: Error) => void;
}

export class Admission {
  private used = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
    /** Suggested client back-off when refusing, in seconds. */
    private readonly retryAfterSeconds = 1,
  ) {}

  get inUse(): number {
    return this.used;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Takes a slot only if one is free right now (for background work that must not queue ahead of requests). */
  tryAcquire(): Release | undefined {
    if (this.used >= this.maxConcurrent || this.queue.length > 0) return undefined;
    this.used++;
    return this.releaser();
  }

  acquire(deadline: number, cancel?: AbortSignal): Promise<Release> {
    const immediate = this.tryAcquire();
    if (immediate) return Promise.resolve(immediate);
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        new BusyError(`all ${this.maxConcurrent} run slots are busy and the queue of ${this.maxQueue} is full`, this.retryAfterSeconds),
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        cancel?.removeEventListener('abort', onAbort);
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
      };
      const waiter: Waiter = {
        grant: (release) => {
          leave();
          resolve(release);
        },
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      const timer = setTimeout(
        () => waiter.fail(new BusyError('waited for a run slot until the run\'s deadline passed', this.retryAfterSeconds)),
        Math.max(0, deadline - Date.now()),
      );
      // The canceller's reason (e.g. shutting down) is the answer; otherwise the client left the queue.
      const onAbort = () =>
        waiter.fail(cancel?.reason instanceof RunboxError ? cancel.reason : new ClientGoneError('the client went away while queued'));
      cancel?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue[0];
      // The slot passes straight to the next waiter, so nothing can jump the queue in between.
      if (next) next.grant(this.releaser());
      else this.used--;
    };
  }
}
