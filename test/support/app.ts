import pino from 'pino';
import { createApp } from '../../src/app';
import type { Config } from '../../src/config';
import type { DockerClient } from '../../src/docker/client';
import { Runner } from '../../src/sandbox/runner';

export const silentLog = pino({ level: 'silent' });

export function appWith(config: Config, docker: DockerClient) {
  const runner = new Runner(docker, config, 'test-instance', silentLog);
  return { app: createApp({ config, docker, runner, log: silentLog, version: '0.0.0-test' }), runner };
}
