/**
 * Spares for dependency sets: a started sandbox with a set already mounted, made in the background after a
 * run used that set, so the set's next run skips creating a container (a set's volume is fixed when the
 * container is created, so the warm pool's members cannot serve it). Like pool members, spares hold run
 * slots, are made only with a slot nobody is queueing for, give it back when a request must queue, age out,
 * and each keeps its set from eviction until it is discarded. At most two spares per set, and at most
 * `maxSpares` in all, the least recently used set's going first.
 */
import type { Logger } from 'pino';
import type { WheelhouseEntry } from '../packages/wheelhouse';
import type { Admission, Slot } from './admission';
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

/** Spares kept per set: with two, a set's back-to-back runs find one ready while the next is being made. */
const SPARES_PER_SET = 2;

export class SetSpares {
  /** Ready spares by set key, the least recently used set first (Map order). */
  private readonly spares = new Map<string, Spare[]>();
  /** Spares being made, by set key: a run of that set waits for one rather than make a container of its own. */
  private readonly making = new Map<string, Set<Promise<void>>>();
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

  /** Ready spares, all sets together. */
  get size(): number {
    let count = 0;
    for (const list of this.spares.values()) count += list.length;
    return count;
  }

  private have(key: string): number {
    return (this.spares.get(key)?.length ?? 0) + (this.making.get(key)?.size ?? 0);
  }

  private total(): number {
    let count = this.size;
    for (const set of this.making.values()) count += set.size;
    return count;
  }

  /**
   * A spare of the set for a run of this memory size: a ready one, or one being made (waited for until
   * `deadline`: making it is what the run would otherwise do itself).
   */
  async take(wheels: readonly WheelhouseEntry[], memoryMb: number, deadline: number): Promise<Sandbox | undefined> {
    if (memoryMb !== this.options.memoryMb) return undefined;
    const key = DependencySets.key(wheels);
    const ready = this.takeReady(key);
    if (ready) return ready;
    const coming = this.making.get(key);
    if (!coming?.size) return undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([...coming, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    return this.takeReady(key);
  }

  private takeReady(key: string): Sandbox | undefined {
    const list = this.spares.get(key);
    for (let spare = list?.shift(); spare; spare = list?.shift()) {
      if (Date.now() - spare.bornAt <= this.options.maxAgeMs) {
        // Most recently used now: its spares go last.
        this.spares.delete(key);
        if (list!.length > 0) this.spares.set(key, list!);
        return spare.sandbox;
      }
      this.sandboxes.discard(spare.sandbox);
    }
    this.spares.delete(key);
    return undefined;
  }

  /** A run just used this set: top its spares up, with slots that are free and nobody waits for. */
  replenish(wheels: readonly WheelhouseEntry[]): void {
    const key = DependencySets.key(wheels);
    while (this.running && this.have(key) < SPARES_PER_SET) {
      // Room first: the least recently used other set's spare gives way.
      if (this.total() >= this.options.maxSpares) {
        const oldest = [...this.spares.keys()].find((k) => k !== key);
        if (oldest === undefined) return;
        this.discardOne(oldest);
      }
      const slot = this.admission.tryAcquire();
      if (!slot) return;
      this.make(key, wheels, slot);
    }
  }

  private make(key: string, wheels: readonly WheelhouseEntry[], slot: Slot): void {
    const bornAt = Date.now();
    const deadline = bornAt + this.options.maxAgeMs + this.options.maxRunMs;
    const coming = this.making.get(key) ?? new Set<Promise<void>>();
    this.making.set(key, coming);
    const work = async () => {
      try {
        const set = await this.sets.prepare(wheels, slot, deadline, new AbortController().signal);
        const sandbox = await this.sandboxes
          .prepare(this.options.memoryMb, slot, deadline, { deps: { volume: set.volume, afterRemoval: set.release } })
          .catch((err: unknown) => {
            set.release();
            throw err;
          });
        // A request queued meanwhile needs the slot more than a spare does.
        if (!this.running || this.admission.queued > 0) return this.sandboxes.discard(sandbox);
        const spare = { sandbox, bornAt };
        const list = this.spares.get(key) ?? [];
        list.push(spare);
        this.spares.set(key, list);
        const drop = () => this.drop(key, spare);
        void sandbox.exit.catch(() => undefined).then(drop);
        sandbox.stream.once('close', drop);
      } catch (err) {
        slot.release();
        this.log.warn({ err }, 'could not make a spare for a dependency set');
      }
    };
    const made: Promise<void> = work().finally(() => {
      coming.delete(made);
      if (coming.size === 0 && this.making.get(key) === coming) this.making.delete(key);
    });
    coming.add(made);
  }

  /** A request is about to queue: a spare gives its slot back (the least recently used set's). */
  yieldSlot(): void {
    if (!this.admission.full || this.admission.queueFull) return;
    const [oldest] = this.spares.keys();
    if (oldest !== undefined) this.discardOne(oldest);
  }

  stop(): void {
    this.running = false;
    for (const [key, list] of [...this.spares]) for (const spare of [...list]) this.drop(key, spare);
  }

  private discardOne(key: string): void {
    const spare = this.spares.get(key)?.[0];
    if (spare) this.drop(key, spare);
  }

  /** Removes a ready spare (if it still is one) and discards its sandbox. */
  private drop(key: string, spare: Spare): void {
    const list = this.spares.get(key);
    const at = list?.indexOf(spare) ?? -1;
    if (!list || at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.spares.delete(key);
    this.sandboxes.discard(spare.sandbox);
  }
}
