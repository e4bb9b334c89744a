/**
 * Serves each compatibility contract at its own path: the same auth and per-key limits as /v1/runs, the body
 * read by the same reader, and the run made by the same `execute`. Only the shapes differ: the contract
 * translates the body in and the answer out, and every refusal or fault on its route is answered in its terms.
 */
import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import type { RunResponse } from '../api/run-response';
import { RunboxError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import type { JsonBodyReader } from '../http/body';
import type { Principal } from '../keys/principal';
import { failure, type FailureDeps } from '../http/failure';
import { JsonText, MalformedBodyError, type CompatContract } from './contract';

export interface CompatDeps {
  auth: Middleware;
  limited: Middleware;
  bodies: JsonBodyReader;
  /** The one run path, fed a POST /v1/runs request. */
  execute: (ctx: Context, request: unknown) => Promise<RunResponse>;
  log: Logger;
  metrics: Pick<Metrics, 'rejected'>;
  /** The server's RUNBOX_MAX_TIMEOUT_MS. */
  maxTimeoutMs: number;
}

/** Renders whatever goes wrong on a contract's route (auth, limits, the body, the run) in the contract's terms. */
function inContractTerms(contract: CompatContract, deps: FailureDeps): Middleware {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (caught) {
      const err = failure(ctx, caught, deps);
      const { status, body } = contract.refuse(err);
      ctx.status = status;
      ctx.set(err instanceof MalformedBodyError ? err.original.headers : err.headers);
      ctx.body = body;
    }
  };
}

export function compatRoutes(router: Router, contracts: readonly CompatContract[], deps: CompatDeps): void {
  for (const contract of contracts) {
    router.post(contract.path, inContractTerms(contract, deps), deps.auth, deps.limited, async (ctx) => {
      const body = await deps.bodies.read(ctx).catch((err: unknown) => {
        throw err instanceof RunboxError ? new MalformedBodyError(err) : err;
      });
      const { limits } = ctx.state.principal as Principal;
      // A contract's timeout is bounded as timeout_ms is on /v1/runs: by the server's maximum, or the key's.
      const maxTimeoutMs = Math.min(deps.maxTimeoutMs, limits.maxTimeoutMs ?? Infinity);
      const { request, context } = contract.translate(body, maxTimeoutMs);
      const response = await deps.execute(ctx, request);
      // The run's id, for GET /v1/runs/{id}: the contracts' bodies have no place for it.
      ctx.set('X-Runbox-Run-Id', response.id);
      const answer = contract.answer(response, context);
      if (answer instanceof JsonText) {
        ctx.type = 'application/json';
        ctx.body = answer.text;
      } else ctx.body = answer;
    });
  }
}
