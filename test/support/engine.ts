import { createDockerClient, type DockerClient } from '../../src/docker/client';
import { sandboxImageTag } from '../../src/provision/image';
import { LABEL_RUN_ID } from '../../src/sandbox/labels';
import { createService } from '../../src/service';
import { silentLog } from './app';
import { testConfig } from './config';

/** The real engine, with the image global-setup made sure of. */
export const docker = createDockerClient({ callTimeoutMs: 15_000 });

/** A runbox service on an ephemeral loopback port, backed by the real engine (or `engine`). */
export async function startServer(env: Record<string, string> = {}, engine: DockerClient = docker) {
  const config = testConfig({ RUNBOX_IMAGE: sandboxImageTag(), PORT: '0', ...env });
  const service = createService(config, engine, silentLog);
  const port = await service.start();
  return {
    ...service,
    url: `http://127.0.0.1:${port}`,
    close: (graceMs = 0) => service.stop(graceMs),
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
