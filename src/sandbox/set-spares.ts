/**
 * Spares for dependency sets: a started sandbox with a set already mounted, made in the background after a
 * run used that set, so the set's next run skips creating a container (a set's volume is fixed when the
 * container is created, so the warm pool's members cannot serve it). Like pool members, spares hold run
 * slots, are made only with a slot nobody is queueing for, give it back when a request must queue, age out,
 * and each keeps its set from eviction until it is discarded. At most one spare per set, and at most
 * `maxSpares` in all, the least recently used set's going first.
 */
import type { Logger } from 'pino';
import type { WheelhouseEntry } from '../packages/wheelhouse';
import type { Admission } from './admission';
import { DependencySets } from './dependency-sets';
import type { SandboxFactory, Sandbox } from './sandboxes';

interface Spare {
  sandbox: Sandbox;
  bornAt: number;
}

export interface SpareOptions {
  maxSpares: number;
  memoryMb: number;
  maxAgeMs: number;
  maxRunMs: number;
}

export class SetSpares {
  /** By set key, oldest use first (Map order). */
  private readonly spares = new Map<string, Spare>();
  private readonly making = new Set<string>();
  private running = false;

  constructor(
    private readonly options: SpareOptions,
    private readonly admission: Admission,
    private readonly sets: DependencySets,
    private readonly sandboxes: SandboxFactory,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.running = this.options.maxSpares > 0;
  }

  get size(): number {
    return this.spares.size;
  }

  /** The set's spare, if one is ready and fits the run's memory size. */
  take(wheels: readonly WheelhouseEntry[], memoryMb: number): Sandbox | undefined {
    if (memoryMb !== this.options.memoryMb) return undefined;
    const key = DependencySets.key(wheels);
    const spare = this.spares.get(key);
    if (!spare) return undefined;
    this.spares.delete(key);
    if (Date.now() - spare.bornAt > this.options.maxAgeMs) {
      this.sandboxes.discard(spare.sandbox);
      return undefined;
    }
    return spare.sandbox;
  }

  /** A run just used this set: make it a spare for the next one, if a slot is free and nobody waits. */
  replenish(wheels: readonly WheelhouseEntry[]): void {
    const key = DependencySets.key(wheels);
    if (!this.running || this.spares.has(key) || this.making.has(key)) return;
    // Room first: the least recently used set's spare gives way.
    if (this.spares.size + this.making.size >= this.options.maxSpares) {
      const [oldest] = this.spares.keys();
      if (oldest === undefined) return;
      this.discard(oldest);
    }
    const slot = this.admission.tryAcquire();
    if (!slot) return;
    this.making.add(key);
    const bornAt = Date.now();
    const deadline = bornAt + this.options.maxAgeMs + this.options.maxRunMs;
    void (async () => {
      try {
        const set = await this.sets.prepare(wheels, slot, deadline, new AbortController().signal);
        const sandbox = await this.sandboxes
          .prepare(this.options.memoryMb, slot, deadline, { deps: { volume: set.volume, afterRemoval: set.release } })
          .catch((err: unknown) => {
            set.release();
            throw err;
          });
        this.making.delete(key);
        // A request queued meanwhile needs the slot more than a spare does.
        if (!this.running || this.admission.queued > 0 || this.spares.has(key)) return this.sandboxes.discard(sandbox);
        const spare = { sandbox, bornAt };
        this.spares.set(key, spare);
        const drop = () => {
          if (this.spares.get(key) === spare) this.discard(key);
        };
        void sandbox.exit.catch(() => undefined).then(drop);
        sandbox.stream.once('close', drop);
      } catch (err) {
        this.making.delete(key);
        slot.release();
        this.log.warn({ err }, 'could not make a spare for a dependency set');
      }
    })();
  }

  /** A request is about to queue: a spare gives its slot back (the least recently used set's). */
  yieldSlot(): void {
    if (!this.admission.full || this.admission.queueFull) return;
    const [oldest] = this.spares.keys();
    if (oldest !== undefined) this.discard(oldest);
  }

  stop(): void {
    this.running = false;
    for (const key of [...this.spares.keys()]) this.discard(key);
  }

  private discard(key: string): void {
    const spare = this.spares.get(key);
    if (!spare) return;
    this.spares.delete(key);
    this.sandboxes.discard(spare.sandbox);
  }
}
