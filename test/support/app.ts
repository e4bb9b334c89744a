import pino, { type Logger } from 'pino';
import type { Config } from '../../src/config';
import type { DockerClient } from '../../src/docker/client';
import { assemble } from '../../src/service';
import { openSqlite } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';

export const silentLog = pino({ level: process.env.RUNBOX_TEST_LOG ?? 'silent' });

/** The Koa app with a runner on `docker`, for driving through supertest. */
export function appWith(config: Config, docker: DockerClient, store: Store = openSqlite(config.store.dataDir), log: Logger = silentLog) {
  const parts = assemble(config, docker, log, store);
  return { store, ...parts };
}
