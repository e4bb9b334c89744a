/** Starting up against the real engine: a server that cannot listen leaves nothing behind; one id, one live server. */
import net from 'node:net';
import { eventually, runContainers } from '../support/engine';
import { testInstanceId } from '../support/instance';
import { serverToExit, spawnServer } from '../support/server-process';
import { docker } from '../support/engine';
import { leaseContainerName } from '../../src/sandbox/instance-lease';
import { LABEL_INSTANCE } from '../../src/sandbox/labels';

it('a port already taken: exits 1 with one line naming the address and PORT, and starts no warm containers', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const instance = testInstanceId('startup');
  try {
    const { code, stdout, stderr } = await serverToExit({ PORT: String(port), RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '2' });
    expect(code).toBe(1);
    expect(stderr).toBe(`runbox: 127.0.0.1:${port} is in use by another process; set PORT to another port (or stop that process)\n`);
    expect(stdout).not.toMatch(/EADDRINUSE|UnhandledPromiseRejection|unhandled/i);
    // Nothing labelled with its instance was created (the pool only starts once the port is ours).
    const mine = async () => (await docker.listByLabel(LABEL_INSTANCE)).filter((c) => c.labels[LABEL_INSTANCE] === instance);
    expect(await mine()).toEqual([]);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
});

describe('the instance lease: one live server per RUNBOX_INSTANCE_ID on an engine', () => {
  const leaseState = async (instance: string) => (await docker.inspect(leaseContainerName(instance))).status;

  it("a second server with a live server's id refuses to start, naming it; the first one's run goes on untouched", async () => {
    const instance = testInstanceId('lease-shared');
    const first = await spawnServer({ RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '1' });
    try {
      expect(await leaseState(instance)).toBe('running');
      const run = fetch(`${first.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'import time\ntime.sleep(3)\nprint("done")', timeout_ms: 60_000 }),
      });
      const second = await spawnServer({ RUNBOX_INSTANCE_ID: instance }).catch((err: Error) => err);
      expect(second).toBeInstanceOf(Error);
      expect((second as Error).message).toMatch(/server exited \(1\)/);
      expect((second as Error).message).toContain(`RUNBOX_INSTANCE_ID \\"${instance}\\" is held by another live runbox server`);
      // On the previous main the second server's reaper removed the first one's sandboxes: exit 137.
      const result = (await (await run).json()) as { status: string; exit_code: number; stdout: string };
      expect(result).toMatchObject({ status: 'ok', exit_code: 0, stdout: 'done\n' });
      expect(await leaseState(instance)).toBe('running');
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
    // A graceful stop gives the lease up.
    expect(await leaseState(instance)).toBe('gone');
  }, 90_000);

  it('a server killed with -9 frees its id: a successor takes the lease over and serves', async () => {
    const instance = testInstanceId('lease-successor');
    const first = await spawnServer({ RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '0' });
    first.child.kill('SIGKILL');
    await first.exited;
    const successor = await spawnServer({ RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '0' });
    try {
      expect(await leaseState(instance)).toBe('running');
      const res = await fetch(`${successor.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"code":"print(2)"}',
      });
      expect(((await res.json()) as { stdout: string }).stdout).toBe('2\n');
    } finally {
      successor.child.kill('SIGTERM');
      await successor.exited;
    }
    expect(await leaseState(instance)).toBe('gone');
  }, 90_000);
});
