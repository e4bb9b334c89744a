/** Builds the Koa application from its parts; main.ts gives it a port, tests drive app.callback(). */
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from './config';
import type { DockerClient } from './docker/client';
import { errorMiddleware } from './http/errors';
import { routes } from './http/routes';
import type { Runner } from './sandbox/runner';

export interface AppDeps {
  config: Config;
  docker: DockerClient;
  runner: Runner;
  log: Logger;
  version: string;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  const router = routes(deps);
  app.use(errorMiddleware(deps.log));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
