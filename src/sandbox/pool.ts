/**
 * The warm pool: containers created, attached and started ahead of demand, their launchers waiting for a
 * job on stdin. Each is still used for exactly one run and then removed. Members hold admission slots, so
 * live containers never exceed the maximum; refills take only slots nobody is queueing for.
 *
 * Members are of two kinds: plain, and preloaded (the launcher has imported the preload modules while it
 * waits, which costs CPU up front). Under the auto policy the pool splits its size between them by what
 * recent requests wanted, so runs that never import those modules do not pay for them.
 */
import type { Logger } from 'pino';
import type { Admission, Slot } from './admission';
import type { MemberKind } from './preload';
import type { Sandbox } from './sandboxes';

/** off: plain members only. auto: split by recent demand. always: preloaded members only. */
export type PoolPolicy = 'off' | 'auto' | 'always';

export interface PoolOptions {
  size: number;
  memoryMb: number;
  maxAgeMs: number;
  maxRunMs: number;
  policy?: PoolPolicy;
}

/** How many recent requests the auto policy sizes the two kinds by. */
const DEMAND_WINDOW = 20;

export interface PoolHooks {
  /** Resolves once the container has started (its launcher may still be starting its interpreter). */
  prepare(memoryMb: number, slot: Slot, deadline: number, kind: MemberKind): Promise<Sandbox>;
  discard(sandbox: Sandbox): void;
  /** The engine's id for the configured image, to notice a rebuild under the same tag. */
  imageId(): Promise<string | undefined>;
}

interface Member {
  sandbox: Sandbox;
  bornAt: number;
  kind: MemberKind;
}

/** A run waiting for a member in the making, rather than making a container of its own. */
interface Waiter {
  /** The kind of member it waits for. */
  kind: MemberKind;
  /** Given the member, or undefined: the making failed, or the pool stopped. */
  resolve: (sandbox: Sandbox | undefined) => void;
}

export class WarmPool {
  private readonly idle: Member[] = [];
  /** Members being made: their containers created and started. */
  private readonly filling: Record<MemberKind, number> = { plain: 0, preloaded: 0 };
  private readonly waiters: Waiter[] = [];
  /** What recent requests that could use the pool wanted, newest last. */
  private readonly demand: MemberKind[] = [];
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

  /** Idle members of one kind. */
  count(kind: MemberKind): number {
    return this.idle.filter((m) => m.kind === kind).length;
  }

  /** How many members of each kind the pool aims for now. */
  targets(): Record<MemberKind, number> {
    const { size, policy = 'off' } = this.options;
    if (policy === 'off') return { plain: size, preloaded: 0 };
    if (policy === 'always') return { plain: 0, preloaded: size };
    const wanted = this.demand.filter((kind) => kind === 'preloaded').length;
    const plainWanted = this.demand.length - wanted;
    if (wanted === 0) return { plain: size, preloaded: 0 };
    // Each kind that is in demand keeps at least one member (when the pool has room for both).
    const lower = size > 1 ? 1 : 0;
    const upper = plainWanted > 0 && size > 1 ? size - 1 : size;
    const preloaded = Math.min(upper, Math.max(lower, Math.round((size * wanted) / this.demand.length)));
    return { plain: size - preloaded, preloaded };
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

  /**
   * A ready member for a run of this memory size, if there is one: of the kind it wants, or, for a run that
   * wants the preload, a plain one (still faster than a new container). A plain run never gets a preloaded
   * member: its ~90 MB and its imports, maybe still under way, would come out of the run's own limits.
   */
  take(memoryMb: number, wanted: MemberKind = 'plain'): Sandbox | undefined {
    if (memoryMb !== this.options.memoryMb) return undefined;
    this.demand.push(wanted);
    if (this.demand.length > DEMAND_WINDOW) this.demand.shift();
    // Past its age, a member's deadline label no longer covers a full run.
    for (const stale of this.idle.filter((m) => Date.now() - m.bornAt > this.options.maxAgeMs)) this.evict(stale);
    const member = this.idle.find((m) => m.kind === wanted) ?? (wanted === 'preloaded' ? this.idle[0] : undefined);
    if (member) this.idle.splice(this.idle.indexOf(member), 1);
    this.refill();
    return member?.sandbox;
  }

  /**
   * As take(), but when no member is ready and one of a kind the run can use is in the making, and not
   * already promised to an earlier waiter, waits for that one: it was begun earlier, so it is ready sooner
   * than a container made now would be, and making one more would only slow both down on a busy engine.
   * Undefined when there is none to wait for, when its making failed, when `signal` aborts, or at `waitUntil`
   * (epoch ms).
   */
  async takeOrAwait(memoryMb: number, wanted: MemberKind, signal: AbortSignal, waitUntil: number): Promise<Sandbox | undefined> {
    const taken = this.take(memoryMb, wanted);
    if (taken || memoryMb !== this.options.memoryMb || signal.aborted) return taken;
    const kinds: MemberKind[] = wanted === 'preloaded' ? ['preloaded', 'plain'] : ['plain'];
    const kind = kinds.find((k) => this.filling[k] > this.waiters.filter((w) => w.kind === k).length);
    if (kind === undefined) return undefined;
    return new Promise<Sandbox | undefined>((resolve) => {
      const waiter: Waiter = {
        kind,
        resolve: (sandbox) => {
          signal.removeEventListener('abort', onAbort);
          clearTimeout(timer);
          resolve(sandbox);
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        waiter.resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(onAbort, Math.max(0, waitUntil - Date.now()));
      this.waiters.push(waiter);
    });
  }

  /** The first waiter for a member of `kind`, taken off the list. */
  private waiterFor(kind: MemberKind): Waiter | undefined {
    const at = this.waiters.findIndex((w) => w.kind === kind);
    return at < 0 ? undefined : this.waiters.splice(at, 1)[0];
  }

  /** A request is about to queue: if idle members hold every slot, give one back so it can proceed. */
  yieldSlot(): void {
    if (!this.admission.full || this.admission.queueFull) return;
    const member = this.idle.pop();
    if (member) this.hooks.discard(member.sandbox);
  }

  /** Tops the pool up in the background, one container per free slot, the kind furthest below its target. */
  refill(): void {
    if (!this.running) return;
    for (;;) {
      if (this.retryTimer !== undefined) return;
      const kind = this.neededKind();
      // Full: the only way to the target mix is through a member that is not needed.
      if (kind === undefined) return this.rebalance();
      const slot = this.admission.tryAcquire();
      if (!slot) return;
      this.filling[kind]++;
      const bornAt = Date.now();
      this.hooks
        // Its deadline label covers idling to the maximum age, then the longest run it may be given.
        .prepare(this.options.memoryMb, slot, bornAt + this.options.maxAgeMs + this.options.maxRunMs, kind)
        .then(
          (sandbox) => {
            this.filling[kind]--;
            this.failures = 0;
            this.welcome(sandbox, bornAt, kind);
          },
          (err: Error) => {
            this.filling[kind]--;
            this.failures++;
            // Its waiter makes a container of its own.
            this.waiterFor(kind)?.resolve(undefined);
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

  /** A member just made: to the first run waiting for one, else to the idle members. */
  private welcome(sandbox: Sandbox, bornAt: number, kind: MemberKind): void {
    // A run waiting for this member gets it at once (and the pool makes another in its place).
    const waiter = this.running ? this.waiterFor(kind) : undefined;
    if (waiter) {
      waiter.resolve(sandbox);
      return this.refill();
    }
    // A request queued meanwhile needs the slot more than the pool does.
    if (!this.running || this.admission.queued > 0) return this.hooks.discard(sandbox);
    const member = { sandbox, bornAt, kind };
    this.idle.push(member);
    // A member whose container dies, or whose connection drops, while idle is no use to anyone.
    void sandbox.exit.catch(() => undefined).then(() => this.evict(member));
    sandbox.stream.once('close', () => this.evict(member));
  }

  private have(kind: MemberKind): number {
    return this.count(kind) + this.filling[kind];
  }

  /** The kind to create next: the one furthest below its target, if the pool is not full. */
  private neededKind(): MemberKind | undefined {
    if (!this.running || this.size + this.filling.plain + this.filling.preloaded >= this.options.size) return undefined;
    const targets = this.targets();
    const short = (kind: MemberKind) => targets[kind] - this.have(kind);
    if (short('preloaded') > 0 && short('preloaded') >= short('plain')) return 'preloaded';
    return short('plain') > 0 ? 'plain' : short('preloaded') > 0 ? 'preloaded' : undefined;
  }

  /**
   * When demand turned from one kind to the other and the pool is full, an idle member beyond its kind's
   * target makes room. Targets follow the last DEMAND_WINDOW requests, so a preloaded member (dear to make
   * again) goes only once most recent requests were plain ones that found no plain member.
   */
  private rebalance(): void {
    const targets = this.targets();
    const full = this.size + this.filling.plain + this.filling.preloaded >= this.options.size;
    if (!full) return;
    for (const [short, surplus] of [
      ['preloaded', 'plain'],
      ['plain', 'preloaded'],
    ] as const) {
      if (this.have(short) >= targets[short] || this.have(surplus) <= targets[surplus]) continue;
      const member = this.idle.find((m) => m.kind === surplus);
      if (member) return this.evict(member);
    }
  }

  /** Stops refilling and removes every idle member. */
  stop(): void {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    for (const waiter of this.waiters.splice(0)) waiter.resolve(undefined);
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
