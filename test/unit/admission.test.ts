import { Admission } from '../../src/sandbox/admission';
import { BusyError, QueueTimeoutError } from '../../src/errors';

const far = () => Date.now() + 60_000;

describe('Admission', () => {
  it('grants up to the maximum at once, then queues in order', async () => {
    const admission = new Admission(2, 5);
    const a = await admission.acquire(far());
    await admission.acquire(far());
    expect(admission.inUse).toBe(2);
    const order: string[] = [];
    const c = admission.acquire(far()).then((slot) => (order.push('c'), slot));
    const d = admission.acquire(far()).then((slot) => (order.push('d'), slot));
    expect(admission.queued).toBe(2);
    a.release();
    (await c).release();
    await d;
    expect(order).toEqual(['c', 'd']);
    expect(admission.inUse).toBe(2);
  });

  it('refuses at once with Retry-After when the queue is full', async () => {
    const admission = new Admission(1, 1, 3);
    await admission.acquire(far());
    const leave = new AbortController();
    void admission.acquire(far(), leave.signal).catch(() => undefined);
    const err = await admission.acquire(far()).catch((e: unknown) => e);
    leave.abort();
    expect(err).toBeInstanceOf(BusyError);
    expect((err as BusyError).headers['Retry-After']).toBe('3');
    expect((err as BusyError).status).toBe(503);
  });

  it('gives up on a waiter at its deadline and frees its queue place', async () => {
    const admission = new Admission(1, 1);
    await admission.acquire(far());
    const err = await admission.acquire(Date.now() + 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueTimeoutError);
    expect((err as QueueTimeoutError).code).toBe('queue_timeout');
    expect((err as Error).message).toMatch(/RUNBOX_QUEUE_TIMEOUT_MS/);
    expect(admission.queued).toBe(0);
  });

  it('lets a cancelled waiter leave the queue without taking a slot', async () => {
    const admission = new Admission(1, 2);
    const first = await admission.acquire(far());
    const controller = new AbortController();
    const cancelled = admission.acquire(far(), controller.signal).catch((e: Error) => e.message);
    controller.abort();
    expect(await cancelled).toMatch(/went away while queued/);
    first.release();
    expect(admission.inUse).toBe(0);
  });

  it('does not queue a waiter whose client has already gone', async () => {
    const admission = new Admission(1, 2);
    await admission.acquire(far());
    const gone = AbortSignal.abort();
    expect(await admission.acquire(far(), gone).catch((e: Error) => e.message)).toMatch(/went away while queued/);
    expect(admission.queued).toBe(0);
  });

  it('numbers slots 0..max-1, never two live slots with one number, and passes a number on with its slot', async () => {
    const admission = new Admission(3, 1);
    const slots = [await admission.acquire(far()), await admission.acquire(far()), await admission.acquire(far())];
    expect(slots.map((s) => s.index).sort()).toEqual([0, 1, 2]);
    const waiting = admission.acquire(far());
    slots[1].release();
    expect((await waiting).index).toBe(slots[1].index);
    slots[0].release();
    expect(admission.tryAcquire()!.index).toBe(slots[0].index);
  });

  it('releases a slot once however often release is called', async () => {
    const admission = new Admission(2, 0);
    const slot = await admission.acquire(far());
    await admission.acquire(far());
    slot.release();
    slot.release();
    expect(admission.inUse).toBe(1);
  });

  it('lets background work take only a free slot nobody is waiting for', async () => {
    const admission = new Admission(1, 1);
    const slot = admission.tryAcquire();
    expect(slot).toBeDefined();
    expect(admission.tryAcquire()).toBeUndefined();
    const waiting = admission.acquire(far());
    slot!.release();
    await waiting;
    expect(admission.tryAcquire()).toBeUndefined();
  });
});

describe('Admission between tenants', () => {
  /** Queues `count` waiters for `tenant`, recording the order slots are granted in; each releases at once. */
  function queueFor(admission: Admission, tenant: string, count: number, order: string[]) {
    return Array.from({ length: count }, (_, i) =>
      admission.acquire(far(), undefined, tenant).then(
        (slot) => {
          order.push(`${tenant}${i}`);
          slot.release();
        },
        (err: Error) => order.push(`${tenant}${i}:${err.constructor.name}`),
      ),
    );
  }

  it('serves tenants in turn: a key with many waiting does not starve one that came later', async () => {
    const admission = new Admission(1, 50);
    const held = await admission.acquire(far(), undefined, 'busy');
    const order: string[] = [];
    const waits = [...queueFor(admission, 'busy', 10, order), ...queueFor(admission, 'light', 2, order)];
    held.release();
    await Promise.all(waits);
    // FIFO would give light its turn only after all ten.
    expect(order).toEqual(['busy0', 'light0', 'busy1', 'light1', 'busy2', 'busy3', 'busy4', 'busy5', 'busy6', 'busy7', 'busy8', 'busy9']);
    expect(admission.queued).toBe(0);
    expect(admission.inUse).toBe(0);
  });

  it('with the queue full, a newcomer takes the busiest key’s newest place; the busiest key is refused', async () => {
    const admission = new Admission(1, 4, 2);
    const held = await admission.acquire(far(), undefined, 'busy');
    const order: string[] = [];
    const waits = queueFor(admission, 'busy', 4, order);
    expect(admission.queueFull).toBe(true);
    const busyAgain = await admission.acquire(far(), undefined, 'busy').catch((e: unknown) => e);
    expect(busyAgain).toBeInstanceOf(BusyError);
    const light = queueFor(admission, 'light', 2, order);
    expect(admission.queued).toBe(4);
    held.release();
    await Promise.all([...waits, ...light]);
    expect(order).toEqual(['busy3:BusyError', 'busy2:BusyError', 'busy0', 'light0', 'busy1', 'light1']);
  });

  it('refuses a newcomer when its key already holds as much of the full queue as any other', async () => {
    const admission = new Admission(1, 2);
    const held = await admission.acquire(far(), undefined, 'a');
    const order: string[] = [];
    const waits = [...queueFor(admission, 'a', 1, order), ...queueFor(admission, 'b', 1, order)];
    expect(await admission.acquire(far(), undefined, 'b').catch((e: unknown) => e)).toBeInstanceOf(BusyError);
    expect(await admission.acquire(far(), undefined, 'c').catch((e: unknown) => e)).toBeInstanceOf(BusyError);
    held.release();
    await Promise.all(waits);
    expect(order).toEqual(['a0', 'b0']);
  });
});
