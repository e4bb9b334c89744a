/**
 * Request validation as FastAPI and pydantic v2 answer it, for the compatibility routes whose originals were
 * FastAPI services (seeds 000, 002, 003, 004): a 422 whose `detail` lists each problem with its type, its
 * location and pydantic's message, and `{ "detail": "..." }` for the other refusals.
 */
import type { Limits } from '../config';
import { InvalidRequestError, PayloadTooLargeError, RunboxError, type ErrorCode } from '../errors';
import { errorResponses, MalformedBodyError } from './contract';

export interface FastApiIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** A body that breaks the route's model: 422 with pydantic's list of problems. */
export class ValidationFailed extends RunboxError {
  readonly status = 422;
  readonly code = 'invalid_request' satisfies ErrorCode;
  constructor(readonly detail: FastApiIssue[]) {
    super(detail.map((issue) => `${issue.loc.join('.')}: ${issue.msg}`).join('; '));
  }
}

/** The body was not JSON at all: what FastAPI says before any model is looked at. */
export function jsonInvalid(reason: string): ValidationFailed {
  return new ValidationFailed([{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: reason } }]);
}

/** A size limit of the service's, in UTF-8 bytes, and the setting that sets it (named in the refusal). */
export interface ByteLimit {
  limit: number;
  setting: string;
}

/** Whether `text` has at least `min` code points (pydantic's length), counting no further than `min`. */
function hasCodePoints(text: string, min: number): boolean {
  // Each code point is one or two UTF-16 units: the length alone settles most cases.
  if (text.length >= 2 * min) return true;
  if (text.length < min) return false;
  let points = 0;
  for (let i = 0; i < text.length && points < min; points++) i += text.codePointAt(i)! > 0xffff ? 2 : 1;
  return points >= min;
}

/** The `code` limit of the routes that take code as a string. */
export function codeLimit(limits: Limits): ByteLimit {
  return { limit: limits.maxCodeBytes, setting: 'RUNBOX_MAX_CODE_BYTES' };
}

/** Reads fields of a JSON body the way a pydantic model does (lax mode): unknown fields are ignored. */
export class ModelReader {
  readonly issues: FastApiIssue[] = [];
  private readonly fields: Record<string, unknown>;

  constructor(body: unknown) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.issues.push({
        type: 'model_attributes_type',
        loc: ['body'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
        input: body,
      });
      this.fields = {};
    } else {
      this.fields = body as Record<string, unknown>;
    }
  }

  private problem(name: string, type: string, msg: string, ctx?: Record<string, unknown>): undefined {
    this.issues.push({ type, loc: ['body', name], msg, input: this.fields[name], ...(ctx ? { ctx } : {}) });
    return undefined;
  }

  /**
   * A `str` field; `required` without a default, as `code: str`. A string over `maxBytes` (UTF-8) is refused
   * with a 413 at once, before its characters are counted or any other field is read: the size is the
   * service's limit, not the model's, and nothing above it is worth the work.
   */
  string(
    name: string,
    { required = false, minLength = 0, maxBytes }: { required?: boolean; minLength?: number; maxBytes?: ByteLimit } = {},
  ): string | undefined {
    const value = this.fields[name];
    if (value === undefined) {
      if (required) this.issues.push({ type: 'missing', loc: ['body', name], msg: 'Field required', input: this.fields });
      return undefined;
    }
    if (typeof value !== 'string') return this.problem(name, 'string_type', 'Input should be a valid string');
    if (maxBytes !== undefined) {
      const size = Buffer.byteLength(value);
      if (size > maxBytes.limit)
        throw new PayloadTooLargeError(`${name} is ${size} bytes; the limit is ${maxBytes.limit} (${maxBytes.setting})`);
    }
    if (!hasCodePoints(value, minLength)) {
      return this.problem(name, 'string_too_short', `String should have at least ${minLength} character${minLength === 1 ? '' : 's'}`, {
        min_length: minLength,
      });
    }
    return value;
  }

  /** An `int` field (`Optional` when `nullable`): integral numbers and digit strings, within `ge`..`le`. */
  integer(name: string, { ge, le, nullable = false }: { ge?: number; le?: number; nullable?: boolean } = {}): number | undefined {
    const value = this.fields[name];
    if (value === undefined || (value === null && nullable)) return undefined;
    let number: number;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return this.problem(name, 'finite_number', 'Input should be a finite number');
      if (!Number.isInteger(value)) {
        return this.problem(name, 'int_from_float', 'Input should be a valid integer, got a number with a fractional part');
      }
      number = value;
    } else if (typeof value === 'string') {
      if (!/^\s*[-+]?\d+\s*$/.test(value)) {
        return this.problem(name, 'int_parsing', 'Input should be a valid integer, unable to parse string as an integer');
      }
      number = Number(value);
    } else {
      return this.problem(name, 'int_type', 'Input should be a valid integer');
    }
    if (ge !== undefined && number < ge) {
      return this.problem(name, 'greater_than_equal', `Input should be greater than or equal to ${ge}`, { ge });
    }
    if (le !== undefined && number > le)
      return this.problem(name, 'less_than_equal', `Input should be less than or equal to ${le}`, { le });
    return number;
  }

  /** A `dict` field. */
  object(name: string): Record<string, unknown> | undefined {
    const value = this.fields[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return this.problem(name, 'dict_type', 'Input should be a valid dictionary');
    }
    return value as Record<string, unknown>;
  }

  /** Any field, as given. */
  raw(name: string): unknown {
    return this.fields[name];
  }

  /** Throws the 422 if any field was wrong. */
  done(): void {
    if (this.issues.length > 0) throw new ValidationFailed(this.issues);
  }
}

/**
 * A refusal or fault as FastAPI answers it: 422 with the problem list for a body that breaks the model or is
 * not JSON; otherwise the status, with `{ "detail": message }` (HTTPException's shape).
 */
export function fastApiRefusal(err: RunboxError): { status: number; body: unknown } {
  if (err instanceof ValidationFailed) return { status: 422, body: { detail: err.detail } };
  if (err instanceof MalformedBodyError && err.original instanceof InvalidRequestError) {
    return { status: 422, body: { detail: jsonInvalid(err.original.message).detail } };
  }
  const cause = err instanceof MalformedBodyError ? err.original : err;
  return { status: cause.status, body: { detail: cause.message } };
}

/** A FastAPI route's error responses, for its OpenAPI operation. */
export const FASTAPI_ERRORS = errorResponses('FastApiDetail', {
  '400': 'Refused: `{"detail": "..."}` says why.',
  '401': 'A valid API key is required.',
  '413': 'Over a size limit (`code` over RUNBOX_MAX_CODE_BYTES, or the body over RUNBOX_MAX_BODY_BYTES): `detail` names it.',
  '422': ['The body breaks the model: `detail` lists each problem (type, loc, msg, input), as FastAPI does.', 'FastApiValidationError'],
  '429': "The key's rate or daily runs are used up (Retry-After).",
  '503': 'Busy, shutting down, or the engine or store is unavailable (Retry-After).',
});

/** The schemas FASTAPI_ERRORS refers to. */
export const FASTAPI_SCHEMAS = {
  FastApiDetail: { type: 'object', required: ['detail'], properties: { detail: { type: 'string' } } },
  FastApiValidationError: {
    type: 'object',
    required: ['detail'],
    properties: {
      detail: {
        type: 'array',
        items: {
          type: 'object',
          required: ['type', 'loc', 'msg'],
          properties: {
            type: { type: 'string' },
            loc: { type: 'array', items: { type: ['string', 'integer'] } },
            msg: { type: 'string' },
            input: {},
            ctx: { type: 'object' },
          },
        },
      },
    },
  },
} as const;
