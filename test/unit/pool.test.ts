import { EventEmitter } from 'node:events';
import pino from 'pino';
import { Admission } from '../../src/sandbox/admission';
import { WarmPool, type PoolHooks, type PoolPolicy } from '../../src/sandbox/pool';
import type { Sandbox } from '../../src/sandbox/sandboxes';

const log = pino({ level: 'silent' });
const flush = () => new Promise((r) => setImmediate(r));

/** Hooks that prepare fake sandboxes holding real admission slots, and record what was discarded. */
function fakeHooks(imageId = 'sha256:a') {
  const discarded: string[] = [];
  const prepared: string[] = [];
  // As in the runner, a discarded sandbox frees its slot and the pool refills from there.
  const owner: { pool?: WarmPool } = {};
  const exits = new Map<string, (code: number) => void>();
  let n = 0;
  const state = { imageId };
  const hooks: PoolHooks = {
    prepare: async (memoryMb, slot, _deadline, kind) => {
      const containerId = `c${++n}`;
      const exit = new Promise<number>((resolve) => exits.set(containerId, resolve));
      const stream = new EventEmitter();
      prepared.push(kind);
      return {
        runId: containerId,
        containerId,
        memoryMb,
        kind,
        slot,
        exit,
        stream,
        abandonWait: new AbortController(),
      } as unknown as Sandbox;
    },
    discard: (sandbox) => {
      discarded.push(sandbox.containerId);
      sandbox.slot.release();
      owner.pool?.refill();
    },
    imageId: async () => state.imageId,
  };
  return { hooks, discarded, prepared, exits, state, owner };
}

describe('WarmPool', () => {
  it('fills to its size with free slots, and takes only matching memory sizes', async () => {
    const admission = new Admission(4, 4);
    const { hooks } = fakeHooks();
    const pool = new WarmPool({ size: 2, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start();
    await flush();
    expect(pool.size).toBe(2);
    expect(admission.inUse).toBe(2);
    expect(pool.take(256)).toBeUndefined();
    expect(pool.take(512)?.containerId).toBe('c1');
    await flush();
    expect(pool.size).toBe(2); // refilled
    expect(admission.inUse).toBe(3); // the taken one still holds its slot until its run ends
    pool.stop();
  });

  it('never holds more slots than are free, and leaves slots to queued requests', async () => {
    const admission = new Admission(2, 4);
    const busy = await admission.acquire(Date.now() + 60_000);
    const { hooks } = fakeHooks();
    const pool = new WarmPool({ size: 3, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start();
    await flush();
    expect(pool.size).toBe(1);
    expect(admission.inUse).toBe(2);
    // A request that cannot use the pool makes an idle member give its slot back.
    const waiting = admission.acquire(Date.now() + 60_000);
    pool.yieldSlot();
    await waiting;
    expect(pool.size).toBe(0);
    busy.release();
    pool.refill();
    await flush();
    expect(admission.inUse).toBe(2);
    pool.stop();
  });

  it('replaces a member whose container dies while idle', async () => {
    const admission = new Admission(2, 0);
    const { hooks, discarded, exits, owner } = fakeHooks();
    const pool = (owner.pool = new WarmPool({ size: 1, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log));
    pool.start();
    await flush();
    exits.get('c1')!(137);
    await flush();
    await flush();
    expect(discarded).toEqual(['c1']);
    expect(pool.idleContainerIds()).toEqual(['c2']);
    pool.stop();
  });

  it('retires members of an old image once the image behind the tag changes', async () => {
    const admission = new Admission(4, 0);
    const { hooks, discarded, state, owner } = fakeHooks('sha256:old');
    const pool = (owner.pool = new WarmPool({ size: 2, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log));
    pool.start();
    await flush();
    await pool.retire();
    expect(discarded).toEqual([]);
    state.imageId = 'sha256:new';
    await pool.retire();
    await flush();
    expect(discarded.sort()).toEqual(['c1', 'c2']);
    expect(pool.idleContainerIds().sort()).toEqual(['c3', 'c4']);
    pool.stop();
  });

  it('retires members past their maximum age', async () => {
    const admission = new Admission(2, 0);
    const { hooks, discarded, owner } = fakeHooks();
    const pool = (owner.pool = new WarmPool({ size: 1, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log));
    // The pool's clock, moved by hand: a member's age is what the test says it is, not how long it waited.
    let now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      pool.start();
      await flush();
      now += 60_000; // at its maximum age: still young enough
      await pool.retire();
      await flush();
      expect(discarded).toEqual([]);
      now += 1; // past it
      await pool.retire();
      await flush();
      expect(discarded).toEqual(['c1']);
      expect(pool.idleContainerIds()).toEqual(['c2']);
    } finally {
      pool.stop();
      clock.mockRestore();
    }
  });

  it('removes every idle member on stop and refills no more', async () => {
    const admission = new Admission(3, 0);
    const { hooks, discarded } = fakeHooks();
    const pool = new WarmPool({ size: 2, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start();
    await flush();
    pool.stop();
    pool.refill();
    await flush();
    expect(discarded.sort()).toEqual(['c1', 'c2']);
    expect(admission.inUse).toBe(0);
  });

  it("hands a freshly prepared container's slot to a request that queued meanwhile", async () => {
    const admission = new Admission(1, 2);
    const { hooks, discarded } = fakeHooks();
    const pool = new WarmPool({ size: 1, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start(); // the refill takes the only slot...
    const queued = admission.acquire(Date.now() + 60_000); // ...and a request queues before it is ready
    await flush();
    await queued;
    expect(discarded).toEqual(['c1']);
    expect(pool.size).toBe(0);
    pool.stop();
  });

  it('backs off after a failed refill instead of retrying at once', async () => {
    const admission = new Admission(4, 0);
    let attempts = 0;
    const hooks: PoolHooks = {
      prepare: async (_memoryMb, slot) => {
        attempts++;
        slot.release();
        throw new Error('image missing');
      },
      discard: () => undefined,
      imageId: async () => undefined,
    };
    const pool = new WarmPool({ size: 3, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start();
    for (let i = 0; i < 20; i++) {
      await flush();
      pool.refill();
    }
    expect(attempts).toBe(3); // the first round only; the next waits for the back-off timer
    pool.stop();
  });

  it('lets a run with no member ready wait for the one in the making, not make its own; a failed making sends it on', async () => {
    const admission = new Admission(4, 4);
    const { hooks } = fakeHooks();
    const gates: { open: () => void; fail: () => void }[] = [];
    const prepare = hooks.prepare;
    hooks.prepare = (...args) =>
      new Promise<Sandbox>((resolve, reject) =>
        gates.push({ open: () => resolve(prepare(...args)), fail: () => reject(new Error('the engine stopped answering')) }),
      );
    const pool = new WarmPool({ size: 1, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start();
    expect(gates).toHaveLength(1);
    const open = new AbortController().signal;
    const far = Date.now() + 60_000;
    const first = pool.takeOrAwait(512, 'plain', open, far);
    // The one member in the making is promised: the next run makes its own, and so does another memory size.
    expect(await pool.takeOrAwait(512, 'plain', open, far)).toBeUndefined();
    expect(await pool.takeOrAwait(256, 'plain', open, far)).toBeUndefined();
    gates[0].open();
    expect((await first)?.containerId).toBe('c1');
    await flush();
    // The waiter got it; the pool is making the next one.
    expect(pool.size).toBe(0);
    expect(gates).toHaveLength(2);
    // A client that leaves stops waiting, and the member it waited for joins the pool.
    const leaving = new AbortController();
    const gone = pool.takeOrAwait(512, 'plain', leaving.signal, far);
    leaving.abort();
    expect(await gone).toBeUndefined();
    gates[1].open();
    await flush();
    await flush();
    expect(pool.size).toBe(1);
    // A failed making sends its waiter on to make a container of its own.
    expect(pool.take(512)?.containerId).toBe('c2');
    await flush();
    // Waiting ends at the run's queue bound, leaving the member to the next run.
    expect(await pool.takeOrAwait(512, 'plain', open, Date.now())).toBeUndefined();
    const third = pool.takeOrAwait(512, 'plain', open, far);
    gates[2].fail();
    expect(await third).toBeUndefined();
    pool.stop();
  });

  it('size 0 is the plain path: nothing is prepared', async () => {
    const admission = new Admission(2, 0);
    const { hooks } = fakeHooks();
    const pool = new WarmPool({ size: 0, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000 }, admission, hooks, log);
    pool.start();
    await flush();
    expect(pool.size).toBe(0);
    expect(admission.inUse).toBe(0);
  });

  describe('plain and preloaded members', () => {
    const options = (policy: PoolPolicy, size = 2) => ({ size, memoryMb: 512, maxAgeMs: 60_000, maxRunMs: 1000, policy });

    /** Takes a member for a run, and ends that run at once (its sandbox discarded, its slot freed). */
    const use = (pool: WarmPool, hooks: PoolHooks, wanted: 'plain' | 'preloaded') => {
      const sandbox = pool.take(512, wanted);
      if (sandbox) hooks.discard(sandbox);
      return sandbox;
    };

    /** Settles refills, and the removals and refills those cause, a few rounds deep. */
    const settle = async () => {
      for (let i = 0; i < 5; i++) await flush();
    };

    it('auto: with no demand for preloaded members, none is ever made', async () => {
      const admission = new Admission(4, 4);
      const { hooks, prepared } = fakeHooks();
      const pool = new WarmPool(options('auto'), admission, hooks, log);
      pool.start();
      await settle();
      for (let i = 0; i < 5; i++) {
        expect(use(pool, hooks, 'plain')?.kind).toBe('plain');
        await settle();
      }
      expect(prepared).not.toContain('preloaded');
      expect(pool.targets()).toEqual({ plain: 2, preloaded: 0 });
      pool.stop();
    });

    it('auto: demand for preloaded members turns the pool to them, retiring a surplus plain member', async () => {
      const admission = new Admission(4, 4);
      const { hooks, discarded, owner } = fakeHooks();
      const pool = new WarmPool(options('auto'), admission, hooks, log);
      owner.pool = pool;
      pool.start();
      await settle();
      // No preloaded member yet: the request gets a plain one rather than a cold start.
      const taken = use(pool, hooks, 'preloaded')!;
      expect(taken.kind).toBe('plain');
      await settle();
      expect(pool.targets()).toEqual({ plain: 0, preloaded: 2 });
      expect(pool.count('preloaded')).toBe(2);
      expect(pool.count('plain')).toBe(0);
      // Besides the one that ran, the surplus plain member was retired to make room.
      expect(discarded.filter((id) => id !== taken.containerId)).toHaveLength(1);
      expect(pool.take(512, 'preloaded')?.kind).toBe('preloaded');
      pool.stop();
    });

    it('auto: demand turning back to plain retires surplus preloaded members, so plain runs are warm again', async () => {
      const admission = new Admission(4, 4);
      const { hooks, owner } = fakeHooks();
      const pool = new WarmPool(options('auto', 3), admission, hooks, log);
      owner.pool = pool;
      pool.start();
      await settle();
      for (let i = 0; i < 20; i++) {
        use(pool, hooks, 'preloaded');
        await settle();
      }
      expect(pool.count('preloaded')).toBe(3);
      for (let i = 0; i < 19; i++) {
        use(pool, hooks, 'plain');
        await settle();
      }
      // One preloaded request is still in the window: its kind keeps one member.
      expect(pool.targets()).toEqual({ plain: 2, preloaded: 1 });
      expect([pool.count('plain'), pool.count('preloaded')]).toEqual([2, 1]);
      expect(pool.take(512, 'plain')?.kind).toBe('plain');
      pool.stop();
    });

    it('auto: mixed demand keeps one member of each kind, and each request gets its own kind', async () => {
      const admission = new Admission(4, 4);
      const { hooks, owner } = fakeHooks();
      const pool = new WarmPool(options('auto'), admission, hooks, log);
      owner.pool = pool;
      pool.start();
      await settle();
      for (const kind of ['preloaded', 'plain', 'preloaded', 'plain', 'plain'] as const) {
        use(pool, hooks, kind);
        await settle();
      }
      expect(pool.targets()).toEqual({ plain: 1, preloaded: 1 });
      expect([pool.count('plain'), pool.count('preloaded')]).toEqual([1, 1]);
      expect(pool.take(512, 'preloaded')?.kind).toBe('preloaded');
      expect(pool.take(512, 'plain')?.kind).toBe('plain');
      pool.stop();
    });

    it('always: every member is preloaded; off: none is', async () => {
      for (const [policy, kind] of [
        ['always', 'preloaded'],
        ['off', 'plain'],
      ] as const) {
        const admission = new Admission(4, 4);
        const { hooks, prepared } = fakeHooks();
        const pool = new WarmPool(options(policy, 3), admission, hooks, log);
        pool.start();
        await settle();
        use(pool, hooks, kind === 'plain' ? 'preloaded' : 'plain');
        await settle();
        expect(new Set(prepared)).toEqual(new Set([kind]));
        pool.stop();
      }
    });
  });
});
