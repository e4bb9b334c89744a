import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDockerClient } from '../../src/docker/client';
import { LABEL_RUN_ID } from '../../src/sandbox/labels';
import { appWith } from './app';
import { testConfig } from './config';
import { sandboxImageTag } from '../../src/provision/image';

/** The real engine, with the image global-setup made sure of. */
export const docker = createDockerClient({ callTimeoutMs: 15_000 });

/** A runbox server on an ephemeral loopback port, backed by the real engine. */
export async function startServer(env: Record<string, string> = {}) {
  const config = testConfig({ RUNBOX_IMAGE: sandboxImageTag(), ...env });
  const { app, runner } = appWith(config, docker);
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    config,
    runner,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await runner.settle();
    },
  };
}

export async function runContainers(): Promise<string[]> {
  return (await docker.listByLabel(LABEL_RUN_ID)).map((c) => c.id);
}

/** Polls (bounded) until `check` holds; returns whether it did. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}
