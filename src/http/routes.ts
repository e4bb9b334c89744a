/** The HTTP API: GET /, GET /health, GET /ready, POST /v1/runs. */
import Router from '@koa/router';
import type { Context } from 'koa';
import { koaBody } from 'koa-body';
import { runResponse } from '../api/run-response';
import { RunRequestParser, SUPPORTED_LANGUAGES } from '../api/run-request';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import type { Runner } from '../sandbox/runner';
import { ShuttingDownError, UnsupportedMediaTypeError } from '../errors';
import { requireApiKey } from './auth';

export interface RouteDeps {
  config: Config;
  docker: DockerClient;
  runner: Runner;
  version: string;
  state: { draining: boolean };
}

/** Aborts when the client goes away before its response is written. */
function clientGone(ctx: Context): AbortSignal {
  const controller = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function routes({ config, docker, runner, version, state }: RouteDeps): Router {
  const router = new Router();
  const parser = new RunRequestParser(config.limits);
  const auth = requireApiKey(config.apiKey);
  const limits = config.limits;
  // GET / shows every limit under its snake_case name, the API's convention.
  const publicLimits = Object.fromEntries(
    Object.entries(limits).map(([key, value]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), value]),
  );

  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/ready', async (ctx) => {
    const checks = { accepting: !state.draining, engine: false, image: false };
    try {
      await docker.ping();
      checks.engine = true;
      checks.image = await docker.imageExists(config.image);
    } catch {
      // Reported through the checks below.
    }
    const ready = checks.accepting && checks.engine && checks.image;
    ctx.status = ready ? 200 : 503;
    ctx.body = { ready, checks, image: config.image };
  });

  router.get('/', (ctx) => {
    ctx.body = {
      name: 'runbox',
      version,
      languages: SUPPORTED_LANGUAGES,
      auth: config.apiKey !== undefined ? 'api_key' : 'none',
      limits: publicLimits,
    };
  });

  router.post(
    '/v1/runs',
    auth,
    koaBody({
      json: true,
      jsonStrict: true,
      jsonLimit: limits.maxBodyBytes,
      multipart: false,
      urlencoded: false,
      text: false,
      // Parse errors reach our error middleware instead of koa's default text response.
      onError: (err) => {
        throw err;
      },
    }),
    async (ctx) => {
      if (!ctx.is('application/json')) {
        throw new UnsupportedMediaTypeError('send the body as application/json');
      }
      const receivedAt = Date.now();
      if (state.draining) throw new ShuttingDownError();
      const job = parser.parse(ctx.request.body);
      const result = await runner.run(job, { cancel: clientGone(ctx), receivedAt });
      ctx.body = runResponse(result);
    },
  );

  return router;
}
