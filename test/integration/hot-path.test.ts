/**
 * The hot path against the real engine, through a recording engine client: what a run on a warm member asks of
 * the engine before its answer (nothing), and what it costs after (its removal and the member's refill).
 */
import type { DockerClient } from '../../src/docker/client';
import { docker, eventually, startServer } from '../support/engine';
import { postRun } from '../support/http';

/** The container lifecycle's calls; the reaper's and the instance lease's periodic ones are beside the point. */
const LIFECYCLE = new Set(['create', 'attach', 'start', 'wait', 'inspect', 'kill', 'remove']);

/** The real engine client, noting each lifecycle call as it is made. */
function recordingEngine(engine: DockerClient) {
  const calls: string[] = [];
  const recording = new Proxy(engine, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || !LIFECYCLE.has(String(property))) return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { engine: recording, calls };
}

describe('the hot path', () => {
  it('makes no engine call between a request and its answer on a warm member; its removal and the refill come after', async () => {
    const { engine, calls } = recordingEngine(docker);
    const server = await startServer({ RUNBOX_POOL_SIZE: '1' }, engine);
    try {
      for (const code of ['print(2+2)', 'import sys; sys.exit(3)']) {
        expect(await eventually(async () => server.runner.pool.size === 1)).toBe(true);
        calls.length = 0;
        const res = await postRun(server.url, { code });
        const beforeAnswer = [...calls];
        expect(res.status).toBe(200);
        expect(res.headers.get('server-timing')).toContain('acquire;dur=');
        expect(res.headers.get('server-timing')).toContain('desc="warm pool"');
        expect({ code, beforeAnswer }).toEqual({ code, beforeAnswer: [] });
        // After it: the used container removed, and a new member made (create, attach, start, and its wait).
        expect(await eventually(async () => server.runner.pool.size === 1 && calls.includes('remove'))).toBe(true);
        expect({ code, after: [...calls].sort() }).toEqual({ code, after: ['attach', 'create', 'remove', 'start', 'wait'] });
      }
    } finally {
      await server.close();
    }
  });
});
