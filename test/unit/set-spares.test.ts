/** Spares for dependency sets, with a fake factory: how many, for whom, and giving way. */
import { EventEmitter } from 'node:events';
import type { WheelhouseEntry } from '../../src/packages/wheelhouse';
import { Admission } from '../../src/sandbox/admission';
import type { DependencySets } from '../../src/sandbox/dependency-sets';
import type { Sandbox, SandboxFactory } from '../../src/sandbox/sandboxes';
import { SetSpares } from '../../src/sandbox/set-spares';
import { silentLog } from '../support/app';

const wheel = (file: string) => ({ file, sha256: file.padEnd(64, '0') }) as WheelhouseEntry;
const A = [wheel('a-1-py3-none-any.whl')];
const B = [wheel('b-1-py3-none-any.whl')];
const far = () => Date.now() + 60_000;
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

function setup({ maxSpares = 4, slots = 8, maxAgeMs = 60_000, makeMs = 1 } = {}) {
  const admission = new Admission(slots, 8);
  const discarded: Sandbox[] = [];
  const exits = new Map<Sandbox, () => void>();
  let made = 0;
  const released: string[] = [];
  const sets = {
    prepare: async () => ({ volume: 'vol', installMs: 0, release: () => released.push('vol') }),
  } as unknown as DependencySets;
  const sandboxes = {
    prepare: async (_memoryMb: number, slot: { release(): void }) => {
      await tick(makeMs);
      made += 1;
      let exit!: () => void;
      const sandbox = {
        runId: `s${made}`,
        slot,
        stream: new EventEmitter(),
        exit: new Promise<number>((r) => (exit = () => r(0))),
      } as unknown as Sandbox;
      exits.set(sandbox, exit);
      return sandbox;
    },
    discard: (sandbox: Sandbox) => {
      discarded.push(sandbox);
      sandbox.slot.release();
    },
  } as unknown as SandboxFactory;
  const spares = new SetSpares({ maxSpares, memoryMb: 512, maxAgeMs, maxRunMs: 10_000 }, admission, sets, sandboxes, silentLog);
  spares.start();
  return { spares, admission, discarded, exits, made: () => made, released };
}

describe('spares for dependency sets', () => {
  it('makes two per set, gives them only to that set’s runs of the right size', async () => {
    const { spares, admission } = setup();
    spares.replenish(A);
    await tick(20);
    expect(spares.size).toBe(2);
    expect(admission.inUse).toBe(2);
    expect(await spares.take(B, 512, far())).toBeUndefined();
    expect(await spares.take(A, 1024, far())).toBeUndefined();
    expect(await spares.take(A, 512, far())).toBeDefined();
    expect(spares.size).toBe(1);
  });

  it('a run waits for a spare of its set being made rather than make a container itself', async () => {
    const { spares } = setup({ makeMs: 50 });
    spares.replenish(A);
    const got = await spares.take(A, 512, far());
    expect(got).toBeDefined();
  });

  it('another set’s spares give way beyond maxSpares, the least recently used first', async () => {
    const { spares, discarded } = setup({ maxSpares: 2 });
    spares.replenish(A);
    await tick(20);
    spares.replenish(B);
    await tick(20);
    // B took the room A's spares held (A's went as their slots came back).
    expect(discarded.length).toBeGreaterThanOrEqual(1);
    expect(spares.size).toBeLessThanOrEqual(2);
  });

  it('gives a slot back when a request must queue, drops a spare whose container ended, and discards all at stop', async () => {
    const { spares, admission, exits } = setup({ slots: 2 });
    spares.replenish(A);
    await tick(20);
    expect(admission.full).toBe(true);
    spares.yieldSlot();
    expect(spares.size).toBe(1);
    const [remaining] = [...exits.keys()].slice(-1);
    exits.get(remaining)!();
    await tick();
    expect(spares.size).toBe(0);
    spares.replenish(A);
    await tick(20);
    spares.stop();
    expect(spares.size).toBe(0);
    expect(admission.inUse).toBe(0);
  });

  it('never hands out a spare past its age', async () => {
    const { spares, discarded } = setup({ maxAgeMs: 1 });
    spares.replenish(A);
    await tick(20);
    expect(await spares.take(A, 512, far())).toBeUndefined();
    expect(discarded.length).toBe(2);
  });
});
