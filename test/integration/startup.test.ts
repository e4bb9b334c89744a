/** Starting up against the real engine: a server that cannot listen leaves nothing behind. */
import net from 'node:net';
import { eventually, runContainers } from '../support/engine';
import { spawnServer } from '../support/server-process';
import { docker } from '../support/engine';
import { LABEL_INSTANCE } from '../../src/sandbox/labels';

it('a port already taken: exits 1 with a logged reason, and starts no warm containers', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const instance = `startup-${process.pid}`;
  try {
    const failed = await spawnServer({ PORT: String(port), RUNBOX_INSTANCE_ID: instance, RUNBOX_POOL_SIZE: '2' }).catch(
      (err: Error) => err,
    );
    expect(failed).toBeInstanceOf(Error);
    const message = (failed as Error).message;
    expect(message).toMatch(/server exited \(1\)/);
    expect(message).toMatch(/"msg":"could not start"/);
    expect(message).toMatch(/EADDRINUSE/);
    expect(message).not.toMatch(/UnhandledPromiseRejection|unhandled/i);
    // Nothing labelled with its instance was created (the pool only starts once the port is ours).
    const mine = async () => (await docker.listByLabel(LABEL_INSTANCE)).filter((c) => c.labels[LABEL_INSTANCE] === instance);
    expect(await mine()).toEqual([]);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
});
