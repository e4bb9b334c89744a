/** Wires the parts into one service with a lifecycle: start (reap, listen), and graceful stop. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './app';
import type { Config } from './config';
import type { DockerClient } from './docker/client';
import { createHttpServer } from './http/connections';
import { Admission } from './sandbox/admission';
import { PackageCatalog } from './packages/catalog';
import { reportingGraceMs } from './sandbox/sandboxes';
import { InstanceInUseError, InstanceLease } from './sandbox/instance-lease';
import { Reaper } from './sandbox/reaper';
import { Runner } from './sandbox/runner';
import { AuditTrail } from './audit/audit-trail';
import { Metrics } from './metrics/metrics';
import { Quotas } from './quotas/quotas';
import { RunRequestParser } from './api/run-request';
import { RunService } from './runs/run-service';
import type { Store } from './store/store';
import { version } from './version';

export interface Service {
  config: Config;
  runner: Runner;
  admission: Admission;
  reaper: Reaper;
  metrics: Metrics;
  server: http.Server;
  /** Removes what a predecessor left, starts the periodic reaper, listens; resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Graceful stop: readiness goes 503 and new runs are refused at once; runs in progress get the grace
   * period to finish, then are killed; every container is removed before this resolves.
   */
  stop(graceMs?: number): Promise<void>;
}

/** The service's parts around one runner, and the Koa app over them (what tests drive without a listener). */
export function assemble(config: Config, docker: DockerClient, log: Logger, store: Store, metrics = new Metrics()) {
  const admission = new Admission(config.limits.maxConcurrent, config.limits.maxQueue);
  const runner = new Runner(docker, config, admission, log);
  const lease = new InstanceLease(docker, config, log);
  const reaper = new Reaper(docker, config.instanceId, (runId) => runner.isLive(runId), log, lease);
  const quotas = new Quotas(store, log, {
    maxWaitingPerKey: Math.max(1, config.limits.maxQueue),
    // Past its deadline a run may still wait for create, attach and start, then for its kill to be reported,
    // and its response for delivery (the lease is held until then).
    leaseMarginMs: 3 * config.dockerCallTimeoutMs + reportingGraceMs(config) + config.http.responseTimeoutMs + 60_000,
  });
  const audit = new AuditTrail(store, config.audit, () => docker.imageId(config.image), log, metrics);
  metrics.observe({
    liveContainers: () => runner.liveCount,
    poolIdle: () => runner.pool.size,
    queueDepth: () => admission.queued,
    keyShareWaiting: () => quotas.waiting,
    slotsInUse: () => admission.inUse,
  });
  const state = { draining: false };
  const catalog = new PackageCatalog(docker, config.image, config.wheelhouse);
  const runs = new RunService({
    parser: new RunRequestParser(config.limits),
    runner,
    catalog,
    quotas,
    audit,
    metrics,
    state,
    queueTimeoutMs: config.limits.queueTimeoutMs,
  });
  const app = createApp({ config, store, docker, runs, quotas, audit, metrics, log, version, state, catalog });
  return { admission, runner, reaper, lease, quotas, audit, metrics, state, runs, app };
}

/** `metrics`: pass the instance the Docker client reports its calls to, so they are served too. */
export function createService(config: Config, docker: DockerClient, log: Logger, store: Store, metrics = new Metrics()): Service {
  const { admission, runner, reaper, lease, audit, quotas, state, runs, app } = assemble(config, docker, log, store, metrics);
  const server = createHttpServer(config.http, app.callback(), log);

  return {
    config,
    runner,
    admission,
    reaper,
    metrics,
    server,

    async start() {
      // Before any reaping: another live server with this id would have its sandboxes removed by ours.
      try {
        await lease.acquire();
      } catch (err) {
        if (err instanceof InstanceInUseError) throw err;
        log.warn({ err }, 'could not take the instance lease yet (engine or image unavailable); the reaper will retry');
      }
      try {
        await reaper.sweep();
      } catch (err) {
        log.warn({ err }, 'startup reap failed; the periodic reaper will retry');
      }
      reaper.start(config.reapIntervalMs);
      // Before any sandbox mounts the set volume: what a predecessor left goes first.
      await runner.dependencySets.open().catch((err: Error) => log.warn({ err }, 'could not prepare the set volume'));
      audit.startPurging();
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(config.port, config.host, resolve);
        });
      } catch (err) {
        reaper.stop();
        audit.stopPurging();
        await lease.release();
        throw err;
      }
      // Only once the port is ours: a server that cannot listen must not leave warm containers behind.
      runner.start();
      return (server.address() as AddressInfo).port;
    },

    async stop(graceMs = config.shutdownGraceMs) {
      // Keep listening while draining, so probes see /ready 503 and new runs get a clear 503.
      state.draining = true;
      reaper.stop();
      audit.stopPurging();
      quotas.stop();
      await runner.stop(graceMs);
      // Every container of this server is gone: a successor with the same id may start.
      await lease.release();
      // Runs have ended; their requests still write their audit records before answering.
      await runs.settle();
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}
