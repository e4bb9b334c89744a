import pino from 'pino';
import { createApp } from '../../src/app';
import type { Config } from '../../src/config';
import type { DockerClient } from '../../src/docker/client';
import { Admission } from '../../src/sandbox/admission';
import { Runner } from '../../src/sandbox/runner';
import { openSqlite } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';

export const silentLog = pino({ level: process.env.RUNBOX_TEST_LOG ?? 'silent' });

/** The Koa app with a runner on `docker`, for driving through supertest. */
export function appWith(config: Config, docker: DockerClient, store: Store = openSqlite(config.store.dataDir)) {
  const admission = new Admission(config.limits.maxConcurrent, config.limits.maxQueue);
  const runner = new Runner(docker, config, admission, silentLog);
  const state = { draining: false };
  return { store, app: createApp({ config, store, docker, runner, log: silentLog, version: '0.0.0-test', state }), runner, state };
}
