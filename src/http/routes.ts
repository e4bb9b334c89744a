/**
 * The HTTP API: POST /v1/runs and GET /v1/runs/{id} (the audit record), the doors onto the same run path
 * for agents (POST /mcp, GET /v1/tools), the API's description (GET /openapi.json, /docs), probes (GET /,
 * /health, /ready) and GET /metrics.
 */
import Router, { type RouterMiddleware } from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { ABOUT_LINKS, openApiDocument, type OperationId } from '../api/openapi';
import type { RunResponse } from '../api/run-response';
import { RunRequestParser, SUPPORTED_LANGUAGES } from '../api/run-request';
import { runPythonTool, toolFormats } from '../api/run-python-tool';
import { isLoopback, type Config } from '../config';
import type { DockerClient } from '../docker/client';
import type { Store } from '../store/store';
import { NotFoundError, RunboxError, ShuttingDownError, UnauthorizedError } from '../errors';
import { jsonRpcRefusal, mcpHandler } from '../mcp/http';
import type { AuditTrail } from '../audit/audit-trail';
import { runRecordResponse } from '../api/run-record';
import type { Metrics } from '../metrics/metrics';
import { metricsGuard } from '../metrics/access';
import { rateLimitHeaders, type QuotaState, type Quotas } from '../quotas/quotas';
import { PRELOAD_MIN_MEMORY_MB } from '../sandbox/preload';
import type { PackageCatalog } from '../packages/catalog';
import { formatRequirement } from '../packages/requirements';
import type { RunService } from '../runs/run-service';
import { poolPolicy, type LiveRun } from '../sandbox/runner';
import { keyMatches, presentedKey, requireApiKey, requireLoopbackHost } from './auth';
import type { Principal } from '../keys/principal';
import { ByteBudget, JsonBodyReader } from './body';
import { closed } from './delivery';
import { failure } from './failure';
import { docsRoutes } from './docs';
import { RunEventStream } from './event-stream';
import { playgroundRoutes } from './playground';
import { PAGE_ROUTE } from './static-assets';
import { API_ROUTES, routerPath } from './api-routes';
import { requestLog } from './request-id';
import { serverTiming } from './server-timing';
import { PhaseClock } from '../sandbox/phases';
import { compatContracts } from '../compat/contracts';
import { compatRoutes } from '../compat/routes';

export interface RouteDeps {
  config: Config;
  store: Store;
  log: Logger;
  docker: DockerClient;
  quotas: Quotas;
  audit: AuditTrail;
  metrics: Metrics;
  version: string;
  state: { draining: boolean };
  /** The one run path every door adapts to. */
  runs: RunService;
  catalog: PackageCatalog;
}

interface ExecuteOptions {
  requestParser?: RunRequestParser;
  cancel?: AbortSignal;
  live?: LiveRun;
  /** The run's phases (a streaming door reports them itself); from the request's arrival by default. */
  clock?: PhaseClock;
}

/** A run's phase clock, started when its request arrived (src/http/request-id.ts). */
const arrivalClock = (ctx: Context) => new PhaseClock(ctx.state.arrivedAt as number | undefined);

/** Aborts when the client goes away before its response is written (or has gone already). */
function clientGone(ctx: Context): AbortSignal {
  const controller = new AbortController();
  const check = () => {
    if (!ctx.res.writableFinished) controller.abort();
  };
  if (ctx.res.closed) check();
  else ctx.res.once('close', check);
  return controller.signal;
}

/** How long one engine check answers every /ready probe: probes are unauthenticated, engine calls are not free. */
const READY_CACHE_MS = 1000;
/** A run request nests three levels ({ files: [ { } ] }); anything deeper is refused while it arrives. */
const MAX_BODY_DEPTH = 16;

interface EngineChecks {
  engine: boolean;
  image: boolean;
}

/** The engine and image checks, shared by every probe within READY_CACHE_MS of the last answer. */
function engineProbe(docker: DockerClient, image: string): () => Promise<EngineChecks> {
  let last: { at: number; checks: Promise<EngineChecks> } | undefined;
  const check = async (): Promise<EngineChecks> => {
    try {
      await docker.ping();
      return { engine: true, image: await docker.imageExists(image) };
    } catch {
      return { engine: false, image: false };
    }
  };
  return () => {
    // `at` is set when the check finishes, so an in-flight check is shared too.
    if (!last || (last.at > 0 && Date.now() - last.at > READY_CACHE_MS)) {
      const entry = { at: 0, checks: check() };
      void entry.checks.then(() => (entry.at = Date.now()));
      last = entry;
    }
    return last.checks;
  };
}

/**
 * Per-key request limits, after authentication: a token per request (429 rate_limited), and the RateLimit
 * headers on every response to a key with limits. `refuse` answers a refusal in the route's own terms.
 */
function requestLimits(quotas: Quotas, baseLog: Logger, refuse?: (ctx: Context, err: RunboxError) => void) {
  return async (ctx: Context, next: () => Promise<unknown>) => {
    let quota: QuotaState;
    try {
      quota = await quotas.admitRequest(ctx.state.principal as Principal, requestLog(ctx, baseLog));
    } catch (err) {
      if (refuse && err instanceof RunboxError) return refuse(ctx, err);
      throw err;
    }
    ctx.state.quota = quota;
    ctx.set(rateLimitHeaders(quota));
    await next();
  };
}

export function routes({ config, store, docker, quotas, audit, metrics, log, version, state, runs, catalog }: RouteDeps): Router {
  const router = new Router();
  const tool = runPythonTool(config);
  const toolParser = new RunRequestParser(config.limits, tool.inputSchema);
  const auth = requireApiKey(config.apiKey, store, log, isLoopback(config.host));
  const limited = requestLimits(quotas, log);
  const limits = config.limits;
  const bodies = new JsonBodyReader(
    {
      maxBytes: limits.maxBodyBytes,
      maxDepth: MAX_BODY_DEPTH,
      // Room for every field of a request at its limits (a file is an object of three fields and a comma).
      maxItems: 8 * (limits.maxFiles + limits.maxArgs) + 64,
    },
    new ByteBudget(config.http.maxBodiesBytes),
  );
  const engineChecks = engineProbe(docker, config.image);
  // GET / shows every limit under its snake_case name, the API's convention.
  const publicLimits = Object.fromEntries(
    Object.entries(limits).map(([key, value]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), value]),
  );
  const compat = compatContracts(limits);

  const openApi = openApiDocument(config, version, tool, API_ROUTES, compat);
  const tools = toolFormats(tool);

  /** The one run path, whichever door a request came in by: the run service, as this HTTP request. */
  const execute = async (
    ctx: Context,
    request: unknown,
    { requestParser, cancel, live, clock = arrivalClock(ctx) }: ExecuteOptions = {},
  ): Promise<RunResponse> => {
    const quota: QuotaState = (ctx.state.quota as QuotaState | undefined) ?? {};
    const gone = clientGone(ctx);
    try {
      return await runs.run({
        principal: ctx.state.principal as Principal,
        quota,
        request,
        parser: requestParser,
        requestId: ctx.state.requestId as string,
        log: requestLog(ctx, log),
        signal: cancel ? AbortSignal.any([gone, cancel]) : gone,
        live,
        // Delivered, or abandoned (the connection gone, RUNBOX_RESPONSE_TIMEOUT_MS).
        delivered: closed(ctx.res),
        clock,
      });
    } finally {
      ctx.set(rateLimitHeaders(quota));
      // Every door's answer says where the run's time went, a refusal's too (a stream's was sent already).
      ctx.set('Server-Timing', serverTiming(clock));
    }
  };

  /** The same run, answered as Server-Sent Events once it starts; refusals before that stay JSON errors. */
  const stream = async (ctx: Context, request: unknown): Promise<void> => {
    const clock = arrivalClock(ctx);
    const events = new RunEventStream(ctx.res, config.http.streamKeepAliveMs, clock);
    try {
      const result = await execute(ctx, request, { live: events, clock });
      ctx.respond = false;
      events.finish(result);
    } catch (err) {
      if (!events.open) throw err;
      ctx.respond = false;
      const failed = failure(ctx, err, { log, metrics });
      events.fail({ code: failed.code, message: failed.message });
    }
  };

  /** What each operation does; API_ROUTES says where it is served and who may call it. */
  const handlers: Record<OperationId, { limit?: RouterMiddleware; handle: RouterMiddleware }> = {
    // The probes' `status` words (healthy; ready or not_ready) are those seed 003's checks look for.
    health: {
      handle: (ctx) => {
        ctx.body = { status: 'healthy', service: 'runbox', version };
      },
    },

    ready: {
      handle: async (ctx) => {
        const checks = { accepting: !state.draining, ...(await engineChecks()) };
        const ready = checks.accepting && checks.engine && checks.image;
        ctx.status = ready ? 200 : 503;
        ctx.body = { status: ready ? 'ready' : 'not_ready', ready, checks, image: config.image };
      },
    },

    about: {
      handle: async (ctx) => {
        ctx.body = {
          name: 'runbox',
          service: 'runbox',
          version,
          description: 'Runs untrusted Python in a throwaway, hardened Docker container per request.',
          endpoints: {
            health: '/health',
            ready: '/ready',
            runs: '/v1/runs (POST)',
            ...Object.fromEntries(compat.map((c) => [c.path, `${c.path} (POST): ${c.tag.name}`])),
          },
          languages: SUPPORTED_LANGUAGES,
          auth:
            config.apiKey !== undefined || !isLoopback(config.host) || (await store.hasActiveKeys().catch(() => true)) ? 'api_key' : 'none',
          limits: publicLimits,
          // The fast path for data science: what warm members have imported, and when a run may use one.
          preload: {
            modules: config.preload,
            policy: poolPolicy(config),
            min_memory_mb: PRELOAD_MIN_MEMORY_MB,
            member_memory_mb: config.limits.defaultMemoryMb,
          },
          links: ABOUT_LINKS,
        };
      },
    },

    createRun: {
      handle: async (ctx) => {
        if (state.draining) throw new ShuttingDownError();
        const body = await bodies.read(ctx);
        if (ctx.accepts('application/json', 'text/event-stream') === 'text/event-stream') return stream(ctx, body);
        ctx.body = await execute(ctx, body);
      },
    },

    getRun: {
      handle: async (ctx) => {
        const record = await audit.record(ctx.params.id, (ctx.state.principal as Principal).keyId, requestLog(ctx, log));
        // Another key's run is as absent as one that never was: ids are not to be probed.
        if (!record) throw new NotFoundError(`no run ${JSON.stringify(ctx.params.id.slice(0, 64))} for this key`);
        ctx.body = runRecordResponse(record);
      },
    },

    mcp: {
      // A refusal of the request limits is a JSON-RPC error, as the rest of this door's answers.
      limit: requestLimits(quotas, log, (ctx, err) => jsonRpcRefusal(ctx, failure(ctx, err, { log, metrics }))),
      handle: mcpHandler({
        tool,
        version,
        bodies,
        log,
        metrics,
        run: (ctx, args, cancel) => execute(ctx, args, { requestParser: toolParser, cancel }),
      }),
    },

    metrics: {
      handle: async (ctx) => {
        const { contentType, body } = await metrics.exposition();
        ctx.type = contentType;
        ctx.body = body;
      },
    },

    listPackages: {
      handle: async (ctx) => {
        const image = await catalog.imageDistributions();
        const { wheels, invalid } = catalog.wheels();
        ctx.body = {
          install: config.wheelhouse !== undefined,
          image: [...image.values()].sort((a, b) => a.name.localeCompare(b.name)),
          wheelhouse: wheels.map((w) => ({
            name: w.name,
            version: w.version,
            file: w.file,
            sha256: w.sha256,
            requires: w.requires.map(formatRequirement),
          })),
          // Files a run cannot use; their reasons are for the operator (`runbox packages list`).
          unusable: invalid.length,
        };
      },
    },

    listTools: {
      handle: (ctx) => {
        ctx.body = tools;
      },
    },
  };

  /** The guards an access implies, before the operation's handler. */
  const metricsAccess: RouterMiddleware = async (ctx, next) => {
    const guard = metricsGuard(config);
    if (guard === undefined) requireLoopbackHost(ctx, 'GET /metrics');
    if (guard !== undefined && (guard.key === undefined || !keyMatches(guard.key, presentedKey(ctx)))) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedError(
        guard.key === undefined
          ? 'GET /metrics beyond loopback needs a key: set RUNBOX_METRICS_KEY (or RUNBOX_API_KEY) and send it as Authorization: Bearer <key>'
          : `GET /metrics needs ${guard.setting} (Authorization: Bearer <key>)`,
      );
    }
    await next();
  };
  for (const { method, path, operationId, access } of API_ROUTES) {
    const { limit = limited, handle } = handlers[operationId];
    const guards = access === 'key' ? [auth, limit] : access === 'metrics' ? [metricsAccess] : [];
    router[method](routerPath(path), ...guards, handle);
  }

  // Other runners' contracts, each a translation onto `execute`.
  compatRoutes(router, compat, {
    auth,
    limited,
    bodies,
    execute: (ctx, request) => execute(ctx, request),
    log,
    metrics,
    maxTimeoutMs: limits.maxTimeoutMs,
  });

  // The document itself, for tools and the docs page.
  router.get(PAGE_ROUTE, '/openapi.json', (ctx) => {
    ctx.body = openApi;
  });

  docsRoutes(router);
  playgroundRoutes(router);

  return router;
}
