/** `runbox serve` (and `npm start`): read configuration, start the service, stop it gracefully on SIGTERM/SIGINT. */
import { ConfigError, EXPOSED_WITHOUT_KEYS, isLoopback, loadConfig, type Config } from '../config';
import { createDockerClient } from '../docker/client';
import { createLogger } from '../log';
import { Metrics } from '../metrics/metrics';
import { sandboxImageTag } from '../provision/image';
import { createService } from '../service';
import { listenFailure } from './listen-failure';
import { describeStore, earlierDefaultStore, openStore } from '../store/open';
import { StoreError, type Store } from '../store/store';

export async function serve(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, sandboxImageTag);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`runbox: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let store: Store;
  try {
    const earlier = earlierDefaultStore(config.store);
    if (earlier !== undefined) throw new ConfigError(earlier);
    store = await openStore(config.store);
    if (config.apiKey === undefined && !isLoopback(config.host) && !(await store.hasActiveKeys())) {
      throw new ConfigError(EXPOSED_WITHOUT_KEYS(config.host));
    }
  } catch (err) {
    if (err instanceof StoreError || err instanceof ConfigError) {
      console.error(`runbox: ${err instanceof ConfigError ? 'configuration error: ' : ''}${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const metrics = new Metrics();
  const docker = createDockerClient({
    callTimeoutMs: config.dockerCallTimeoutMs,
    observe: (operation, seconds, failed) => metrics.engineCall(operation, seconds, failed),
  });
  const service = createService(config, docker, log, store, metrics);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    service.stop().then(
      async () => {
        await store.close().catch((err: Error) => log.warn({ err }, 'closing the store failed'));
        log.info('stopped');
        process.exit(0);
      },
      (err: Error) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  let port: number;
  try {
    port = await service.start();
  } catch (err) {
    // e.g. EADDRINUSE: nothing was started that needs stopping (the pool starts only once listening).
    const taken = listenFailure(err, config.host, config.port);
    if (taken !== undefined) console.error(`runbox: ${taken}`);
    else log.fatal({ err, host: config.host, port: config.port }, 'could not start');
    process.exit(1);
  }
  log.info(
    { host: config.host, port, image: config.image, instanceId: config.instanceId, store: describeStore(config.store) },
    'runbox listening',
  );
  if (config.apiKey === undefined && !(await store.hasActiveKeys().catch(() => true))) {
    log.warn('no RUNBOX_API_KEY and no stored keys: no authentication, so runbox only binds to loopback');
  }
}
