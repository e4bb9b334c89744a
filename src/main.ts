/** Entry point: read configuration, build the service, listen. */
import { randomBytes } from 'node:crypto';
import { createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { createDockerClient } from './docker/client';
import { createLogger } from './log';
import { Runner } from './sandbox/runner';
import { version } from './version';

function main(): void {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`runbox: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const docker = createDockerClient({ callTimeoutMs: config.dockerCallTimeoutMs });
  const instanceId = randomBytes(6).toString('hex');
  const runner = new Runner(docker, config, instanceId, log);
  const app = createApp({ config, docker, runner, log, version });
  const server = app.listen(config.port, config.host, () => {
    log.info({ host: config.host, port: config.port, image: config.image, instanceId }, 'runbox listening');
    if (config.apiKey === undefined) {
      log.warn('RUNBOX_API_KEY is not set: no authentication, so runbox only binds to loopback');
    }
  });
  // Runs may legitimately take up to the maximum timeout; Node's default 5-minute request timeout must not cut them.
  server.requestTimeout = config.limits.maxTimeoutMs + 60_000;
}

main();
