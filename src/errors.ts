/**
 * The service's error model. A failure of the user's program is a result (200), never one of these;
 * these are the service's own refusals and faults, mapped to HTTP in one place (src/http/errors.ts).
 */
export abstract class RunboxError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string> = {};
}

/** The request is malformed or breaks the schema; the message names the field. */
export class InvalidRequestError extends RunboxError {
  readonly status = 400;
  readonly code = 'invalid_request';
}

export class UnauthorizedError extends RunboxError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

/** The request exceeds a configured size limit; the message names the limit. */
export class PayloadTooLargeError extends RunboxError {
  readonly status = 413;
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends RunboxError {
  readonly status = 415;
  readonly code = 'unsupported_media_type';
}

export class NotFoundError extends RunboxError {
  readonly status = 404;
  readonly code = 'not_found';
}

/** The Docker engine does not answer, or answered with a server-side failure. */
export class EngineUnavailableError extends RunboxError {
  readonly status = 503;
  readonly code = 'engine_unavailable';
}

/** No run slot is free and the queue is full (or the wait outlasted the run's deadline). */
export class BusyError extends RunboxError {
  readonly status = 503;
  readonly code = 'busy';
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.headers['Retry-After'] = String(retryAfterSeconds);
  }
}

/** The server is shutting down: it accepts no new runs, and runs still going at the end of the grace period are stopped. */
export class ShuttingDownError extends RunboxError {
  readonly status = 503;
  readonly code = 'shutting_down';
  constructor(message = 'the server is shutting down') {
    super(message);
    this.headers['Retry-After'] = '5';
  }
}

/** The client went away (or stopped waiting) before its run could start; nobody reads this response. */
export class ClientGoneError extends RunboxError {
  readonly status = 499;
  readonly code = 'client_closed_request';
}
