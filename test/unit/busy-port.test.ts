/**
 * A server started on a port another process holds: one line naming the address and the setting to change,
 * and exit 1. No engine needed: the server only warns about an engine it cannot reach before it listens.
 */
import net from 'node:net';
import { serverToExit } from '../support/server-process';

it('a port already taken: one line on stderr naming the address and PORT, no stack trace, exit 1', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const { code, stdout, stderr } = await serverToExit({
      PORT: String(port),
      RUNBOX_POOL_SIZE: '0',
      // Nothing answers there: each engine call fails at once, and the server goes on to listen.
      DOCKER_HOST: 'unix:///nonexistent/runbox-test-docker.sock',
    });
    expect(stderr).toBe(`runbox: 127.0.0.1:${port} is in use by another process; set PORT to another port (or stop that process)\n`);
    expect(code).toBe(1);
    // Nor is the failure logged besides, with its stack (stdout has the unreachable engine's warnings, expected here).
    expect(stdout).not.toMatch(/EADDRINUSE|could not start/);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
