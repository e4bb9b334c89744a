import { Admission } from '../../src/sandbox/admission';
import { BusyError } from '../../src/errors';

const far = () => Date.now() + 60_000;

describe('Admission', () => {
  it('grants up to the maximum at once, then queues in order', async () => {
    const admission = new Admission(2, 5);
    const a = await admission.acquire(far());
    await admission.acquire(far());
    expect(admission.inUse).toBe(2);
    const order: string[] = [];
    const c = admission.acquire(far()).then((release) => (order.push('c'), release));
    const d = admission.acquire(far()).then((release) => (order.push('d'), release));
    expect(admission.queued).toBe(2);
    a();
    (await c)();
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
    expect(err).toBeInstanceOf(BusyError);
    expect((err as Error).message).toMatch(/deadline/);
    expect(admission.queued).toBe(0);
  });

  it('lets a cancelled waiter leave the queue without taking a slot', async () => {
    const admission = new Admission(1, 2);
    const first = await admission.acquire(far());
    const controller = new AbortController();
    const cancelled = admission.acquire(far(), controller.signal).catch((e: Error) => e.message);
    controller.abort();
    expect(await cancelled).toMatch(/went away while queued/);
    first();
    expect(admission.inUse).toBe(0);
  });

  it('releases a slot once however often release is called', async () => {
    const admission = new Admission(2, 0);
    const release = await admission.acquire(far());
    await admission.acquire(far());
    release();
    release();
    expect(admission.inUse).toBe(1);
  });

  it('lets background work take only a free slot nobody is waiting for', async () => {
    const admission = new Admission(1, 1);
    const release = admission.tryAcquire();
    expect(release).toBeDefined();
    expect(admission.tryAcquire()).toBeUndefined();
    const waiting = admission.acquire(far());
    release!();
    await waiting;
    expect(admission.tryAcquire()).toBeUndefined();
  });
});
