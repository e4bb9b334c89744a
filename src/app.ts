/** Builds the Koa application from its parts; main.ts gives it a port, tests drive app.callback(). */
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from './config';
import type { DockerClient } from './docker/client';
import { NotFoundError } from './errors';
import { delivery } from './http/delivery';
import { errorMiddleware } from './http/errors';
import { routes } from './http/routes';
import { requestIds } from './http/request-id';
import type { AuditTrail } from './audit/audit-trail';
import type { Metrics } from './metrics/metrics';
import type { Quotas } from './quotas/quotas';
import type { RunService } from './runs/run-service';
import type { PackageCatalog } from './packages/catalog';
import type { Store } from './store/store';

export interface AppDeps {
  config: Config;
  /** Keys, their limits' state and the audit trail; opened and closed by the caller. */
  store: Store;
  docker: DockerClient;
  quotas: Quotas;
  audit: AuditTrail;
  metrics: Metrics;
  log: Logger;
  version: string;
  /** Set once shutdown begins: readiness fails and new runs are refused. */
  state: { draining: boolean };
  /** The one run path every door adapts to. */
  runs: RunService;
  catalog: PackageCatalog;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  // Koa's own handler prints stack traces to stderr whatever the log level; ours goes through pino. What
  // reaches it happens outside the middleware (a socket failing while a response is written).
  app.on('error', (err: Error) => deps.log.warn({ err }, 'response failed'));
  const router = routes(deps);
  app.use(delivery(deps.config.http.responseTimeoutMs));
  app.use(requestIds(deps.log));
  app.use(errorMiddleware({ log: deps.log, metrics: deps.metrics }));
  app.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) throw new NotFoundError('no such route; see GET / and POST /v1/runs');
  });
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}
