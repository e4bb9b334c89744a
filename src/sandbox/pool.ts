/**
 * The warm pool: containers created, attached and started ahead of demand, their launchers waiting for a
 * job on stdin. Each is still used for exactly one run and then removed. Members hold admission slots, so
 * live containers never exceed the maximum; refills take only slots nobody is queueing for.
 */
import type { Logger } from 'pino';
import type { Admission, Slot } from './admission';
import type { Sandbox } from './sandboxes';

export interface PoolOptions {
  size: number;
  memoryMb: number;
  maxAgeMs: number;
  maxRunMs: number;
}

export interface PoolHooks {
  prepare(memoryMb: number, slot: Slot, deadline: number): Promise<Sandbox>;
  discard(sandbox: Sandbox): void;
  /** The engine's id for the configured image, to notice a rebuild under the same tag. */
  imageId(): Promise<string | undefined>;
}

interface Member {
  sandbox: Sandbox;
  bornAt: number;
}

export class WarmPool {
  private readonly idle: Member[] = [];
  private filling = 0;
  /** Refills happen only between start() and stop(). */
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private currentImageId: string | undefined;
  /** Consecutive failed refills; each doubles the wait before the next try. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: PoolOptions,
    private readonly admission: Admission,
    private readonly hooks: PoolHooks,
    private readonly log: Logger,
  ) {
    // A freed slot may be one the pool can refill with (refill() does nothing unless started and below size).
    admission.onFree(() => this.refill());
  }

  get size(): number {
    return this.idle.length;
  }

  idleContainerIds(): string[] {
    return this.idle.map((m) => m.sandbox.containerId);
  }

  start(): void {
    if (this.options.size === 0) return;
    this.running = true;
    this.timer = setInterval(() => void this.retire(), Math.min(30_000, Math.max(1000, this.options.maxAgeMs / 2)));
    this.timer.unref();
    void this.hooks.imageId().then(
      (id) => (this.currentImageId = id),
      () => undefined,
    );
    this.refill();
  }

  /** A ready member for a run of this memory size, if there is one. */
  take(memoryMb: number): Sandbox | undefined {
    if (memoryMb !== this.options.memoryMb) return undefined;
    let member = this.idle.shift();
    // Past its age, a member's deadline label no longer covers a full run.
    while (member && Date.now() - member.bornAt > this.options.maxAgeMs) {
      this.hooks.discard(member.sandbox);
      member = this.idle.shift();
    }
    if (member) this.refill();
    return member?.sandbox;
  }

  /** A request is about to queue: if idle members hold every slot, give one back so it can proceed. */
  yieldSlot(): void {
    if (!this.admission.full || this.admission.queueFull) return;
    const member = this.idle.pop();
    if (member) this.hooks.discard(member.sandbox);
  }

  /** Tops the pool up in the background, one container per free slot. */
  refill(): void {
    while (this.running && this.retryTimer === undefined && this.idle.length + this.filling < this.options.size) {
      const slot = this.admission.tryAcquire();
      if (!slot) return;
      this.filling++;
      const bornAt = Date.now();
      this.hooks
        // Its deadline label covers idling to the maximum age, then the longest run it may be given.
        .prepare(this.options.memoryMb, slot, bornAt + this.options.maxAgeMs + this.options.maxRunMs)
        .then(
          (sandbox) => {
            this.filling--;
            this.failures = 0;
            // A request queued meanwhile needs the slot more than the pool does.
            if (!this.running || this.admission.queued > 0) return this.hooks.discard(sandbox);
            const member = { sandbox, bornAt };
            this.idle.push(member);
            // A member whose container dies, or whose connection drops, while idle is no use to anyone.
            void sandbox.exit.catch(() => undefined).then(() => this.evict(member));
            sandbox.stream.once('close', () => this.evict(member));
          },
          (err: Error) => {
            this.filling--;
            this.failures++;
            const waitMs = Math.min(30_000, 250 * 2 ** this.failures);
            this.log.warn({ err, retryInMs: waitMs }, 'warm pool refill failed');
            this.retryTimer ??= setTimeout(() => {
              this.retryTimer = undefined;
              this.refill();
            }, waitMs);
            this.retryTimer.unref();
          },
        );
    }
  }

  /** Stops refilling and removes every idle member. */
  stop(): void {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    for (const member of this.idle.splice(0)) this.hooks.discard(member.sandbox);
  }

  private evict(member: Member): void {
    const at = this.idle.indexOf(member);
    if (at < 0) return;
    this.idle.splice(at, 1);
    // Removal frees the slot, and the refill follows from there.
    this.hooks.discard(member.sandbox);
  }

  /** Replaces members past their age, and all of them when the image behind the tag changed. */
  async retire(): Promise<void> {
    const imageId = await this.hooks.imageId().catch(() => this.currentImageId);
    const changed = imageId !== undefined && imageId !== this.currentImageId;
    if (changed) this.log.info({ imageId }, 'sandbox image changed: retiring warm containers');
    this.currentImageId = imageId;
    const now = Date.now();
    for (const member of [...this.idle]) {
      if (changed || now - member.bornAt > this.options.maxAgeMs) this.evict(member);
    }
  }
}
