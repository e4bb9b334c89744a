/**
 * The service's error model. A failure of the user's program is a result (200), never one of these;
 * these are the service's own refusals and faults. src/http/failure.ts turns anything thrown into one of them,
 * once, and each door renders it in its own shape.
 */

/** Every error code a client can receive, with its status and meaning: the classes below and the OpenAPI document read it. */
export const ERROR_CODES = {
  invalid_request: { status: 400, meaning: 'The request is malformed or breaks the schema; the message names the field.' },
  unauthorized: { status: 401, meaning: 'A valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>).' },
  forbidden: {
    status: 403,
    meaning:
      'Without an API key configured, runs are taken only from requests addressed to a loopback name (Host: localhost, 127.0.0.1, [::1]).',
  },
  not_found: { status: 404, meaning: 'No such route.' },
  method_not_allowed: { status: 405, meaning: 'The route exists, but not for this method.' },
  payload_too_large: { status: 413, meaning: 'The request exceeds a configured size limit; the message names the limit.' },
  unsupported_media_type: { status: 415, meaning: 'The body must be plain (not Content-Encoding compressed) JSON.' },
  rate_limited: {
    status: 429,
    meaning: "The key's requests per second are used up; retry after Retry-After seconds (RateLimit headers show the policy).",
  },
  quota_exceeded: {
    status: 429,
    meaning: "The key's runs for this UTC day are used up; Retry-After is the time until midnight UTC.",
  },
  internal: { status: 500, meaning: 'A fault in runbox itself; nothing of the run is left behind.' },
  busy: { status: 503, meaning: 'Every run slot is taken and the queue is full; retry after Retry-After seconds.' },
  queue_timeout: {
    status: 503,
    meaning:
      "The run waited RUNBOX_QUEUE_TIMEOUT_MS for a run slot, or for its key's concurrency share, and did not get one; it never started. Retry after Retry-After seconds.",
  },
  engine_unavailable: {
    status: 503,
    meaning: 'The Docker engine did not answer, or failed; the run did not happen or its result is unknown.',
  },
  shutting_down: { status: 503, meaning: 'The server is shutting down and accepts no new runs; retry on another replica or later.' },
  store_unavailable: {
    status: 503,
    meaning:
      "The store (SQLite, or PostgreSQL at RUNBOX_DATABASE_URL) did not answer: nothing was run, or, if the run's audit record could not be completed, its result is withheld.",
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export abstract class RunboxError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string> = {};
}

/** The request is malformed or breaks the schema; the message names the field. */
export class InvalidRequestError extends RunboxError {
  readonly status = ERROR_CODES.invalid_request.status;
  readonly code = 'invalid_request' satisfies ErrorCode;
}

export class UnauthorizedError extends RunboxError {
  readonly status = ERROR_CODES.unauthorized.status;
  readonly code = 'unauthorized' satisfies ErrorCode;
}

/** Keyless mode refuses a request addressed to another name: a web page's DNS rebinding, not a local client. */
export class ForbiddenError extends RunboxError {
  readonly status = ERROR_CODES.forbidden.status;
  readonly code = 'forbidden' satisfies ErrorCode;
}

/** The request exceeds a configured size limit; the message names the limit. */
export class PayloadTooLargeError extends RunboxError {
  readonly status = ERROR_CODES.payload_too_large.status;
  readonly code = 'payload_too_large' satisfies ErrorCode;
}

export class UnsupportedMediaTypeError extends RunboxError {
  readonly status = ERROR_CODES.unsupported_media_type.status;
  readonly code = 'unsupported_media_type' satisfies ErrorCode;
}

export class NotFoundError extends RunboxError {
  readonly status = ERROR_CODES.not_found.status;
  readonly code = 'not_found' satisfies ErrorCode;
}

/** A fault in runbox itself, for the routes that answer faults in their own shape (the main handler makes its own). */
export class InternalError extends RunboxError {
  readonly status = ERROR_CODES.internal.status;
  readonly code = 'internal' satisfies ErrorCode;
}

/** The Docker engine does not answer, or answered with a server-side failure. */
export class EngineUnavailableError extends RunboxError {
  readonly status = ERROR_CODES.engine_unavailable.status;
  readonly code = 'engine_unavailable' satisfies ErrorCode;
}

/** A refusal the client may retry after a while: it carries Retry-After. */
abstract class RetryLaterError extends RunboxError {
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.headers['Retry-After'] = String(retryAfterSeconds);
  }
}

/** No run slot is free and the queue is full. */
export class BusyError extends RetryLaterError {
  readonly status = ERROR_CODES.busy.status;
  readonly code = 'busy' satisfies ErrorCode;
}

/** The run queued for as long as the server lets a run wait, and never started. */
export class QueueTimeoutError extends RetryLaterError {
  readonly status = ERROR_CODES.queue_timeout.status;
  readonly code = 'queue_timeout' satisfies ErrorCode;
}

/** Too many requests per second for the key. */
export class RateLimitedError extends RetryLaterError {
  readonly status = ERROR_CODES.rate_limited.status;
  readonly code = 'rate_limited' satisfies ErrorCode;
}

/** The key's runs for the day are used up. */
export class QuotaExceededError extends RetryLaterError {
  readonly status = ERROR_CODES.quota_exceeded.status;
  readonly code = 'quota_exceeded' satisfies ErrorCode;
}

/** The store of keys failed: a request whose key cannot be checked is not run. */
export class StoreUnavailableError extends RunboxError {
  readonly status = ERROR_CODES.store_unavailable.status;
  readonly code = 'store_unavailable' satisfies ErrorCode;
  constructor(message: string) {
    super(message);
    this.headers['Retry-After'] = '5';
  }
}

/** The server is shutting down: it accepts no new runs, and runs still going at the end of the grace period are stopped. */
export class ShuttingDownError extends RunboxError {
  readonly status = ERROR_CODES.shutting_down.status;
  readonly code = 'shutting_down' satisfies ErrorCode;
  constructor(message = 'the server is shutting down') {
    super(message);
    this.headers['Retry-After'] = '5';
  }
}

/** @koa/router's answer for a known route and another method. */
export class MethodNotAllowedError extends RunboxError {
  readonly status = ERROR_CODES.method_not_allowed.status;
  readonly code = 'method_not_allowed' satisfies ErrorCode;
}

/** The client went away (or stopped waiting) before its run could start; nobody reads this response. */
export class ClientGoneError extends RunboxError {
  readonly status = 499;
  readonly code = 'client_closed_request';
}
