/** `npm run provision`: make sure the Docker engine answers, has the runtime (RUNBOX_RUNTIME), and the sandbox image exists. */
import { dockerHostSetting, runtimeConfig } from '../config';
import { createDockerClient } from '../docker/client';
import { ensureEngine } from './engine';
import { ensureImage, sandboxImageTag } from './image';
import { ensureRuntime } from './runtime';

export async function provision(log: (line: string) => void = (line) => console.log(`[provision] ${line}`)) {
  const docker = createDockerClient({ callTimeoutMs: 10_000 });
  const dockerHost = dockerHostSetting(process.env);
  const startedDockerdPid = await ensureEngine(docker, dockerHost, log);
  await ensureRuntime(docker, runtimeConfig(process.env), dockerHost, log);
  await ensureImage(docker, sandboxImageTag(), log);
  return { startedDockerdPid };
}

if (require.main === module) {
  provision().catch((err: Error) => {
    console.error(`[provision] ${err.message}`);
    process.exit(1);
  });
}
