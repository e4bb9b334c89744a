/**
 * The hot path against the real engine, through an engine client that can hold calls: a run on a warm member
 * waits for no engine call before its answer. Its container's removal and the pool's refill are issued
 * beside it, and the answer comes while they are held.
 */
import type { DockerClient } from '../../src/docker/client';
import { docker, eventually, startServer } from '../support/engine';
import { postRun } from '../support/http';

/** The container lifecycle's calls; the reaper's and the instance lease's periodic ones are beside the point. */
const LIFECYCLE = new Set(['create', 'attach', 'start', 'wait', 'inspect', 'kill', 'remove']);

/** The real engine client, noting each lifecycle call; while `holding`, a call waits for release() before it goes to the engine. */
function holdingEngine(engine: DockerClient) {
  const calls: string[] = [];
  let held: (() => void)[] | undefined;
  const proxy = new Proxy(engine, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || !LIFECYCLE.has(String(property))) return value;
      return async (...args: unknown[]) => {
        calls.push(String(property));
        if (held) await new Promise<void>((resolve) => held!.push(resolve));
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  return {
    engine: proxy,
    calls,
    hold: () => (held = []),
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const go of waiting) go();
    },
  };
}

describe('the hot path', () => {
  it('waits for no engine call between a request and its answer on a warm member; removal and refill go beside it', async () => {
    const engine = holdingEngine(docker);
    const server = await startServer({ RUNBOX_POOL_SIZE: '1' }, engine.engine);
    try {
      for (const [code, status] of [
        ['print(2+2)', 'ok'],
        ['import sys; sys.exit(3)', 'error'],
      ]) {
        expect(await eventually(async () => server.runner.pool.size === 1)).toBe(true);
        engine.calls.length = 0;
        engine.hold();
        let res;
        try {
          res = await postRun(server.url, { code });
        } finally {
          engine.release();
        }
        expect(res.status).toBe(200);
        expect(res.body.status).toBe(status);
        expect(res.headers.get('server-timing')).toContain('desc="warm pool"');
        // Issued meanwhile, and held until the answer had come: the used container's removal, and the refill's
        // create (unless the pool had not got to it yet).
        const issued = [...engine.calls];
        expect({ code, issued: [...new Set(issued)].sort() }).toEqual({
          code,
          issued: issued.includes('create') ? ['create', 'remove'] : ['remove'],
        });
        expect(issued.length).toBeLessThanOrEqual(2);
        // Then the new member is made (attach, start and its wait follow its create).
        expect(await eventually(async () => server.runner.pool.size === 1 && engine.calls.includes('wait'))).toBe(true);
        expect({ code, after: [...engine.calls].sort() }).toEqual({ code, after: ['attach', 'create', 'remove', 'start', 'wait'] });
      }
    } finally {
      await server.close();
    }
  });
});
