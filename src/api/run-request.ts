/** The POST /v1/runs request: its JSON schema (compiled once) and its conversion into a Job. */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Limits } from '../config';
import { base64DecodedLength, isBase64 } from './base64';
import { InvalidRequestError, PayloadTooLargeError } from '../errors';
import type { Job, JobFile } from '../sandbox/job';
import { OUTPUT_DIR } from '../sandbox/protocol';
import { MAX_PATH_BYTES, pathConflict, relativePathProblem } from '../sandbox/paths';
import { MAX_DEPENDENCIES, parseRunDependency } from '../packages/requirements';

export const SUPPORTED_LANGUAGES = ['python'] as const;
export const DEFAULT_ENTRYPOINT = 'main.py';
const MAX_ARG_LENGTH = 4096;
const MIN_MEMORY_MB = 32;

export interface RunRequestBody {
  language?: string;
  code?: string;
  files?: { path: string; content: string; encoding?: 'utf8' | 'base64' }[];
  entrypoint?: string;
  stdin?: string;
  args?: string[];
  timeout_ms?: number;
  memory_mb?: number;
  dependencies?: string[];
}

/** The JSON schema of a run request; bounds come from the configured limits. */
export function runRequestSchema(limits: Limits) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      language: { type: 'string', description: `one of: ${SUPPORTED_LANGUAGES.join(', ')} (default python)` },
      code: { type: 'string', description: 'the script; it becomes main.py' },
      files: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['path', 'content'],
          properties: {
            path: { type: 'string', minLength: 1, maxLength: MAX_PATH_BYTES },
            content: { type: 'string' },
            encoding: { enum: ['utf8', 'base64'], default: 'utf8' },
          },
        },
      },
      entrypoint: { type: 'string', minLength: 1, maxLength: MAX_PATH_BYTES },
      stdin: { type: 'string' },
      args: { type: 'array', items: { type: 'string', maxLength: MAX_ARG_LENGTH } },
      timeout_ms: { type: 'integer', minimum: 1, maximum: limits.maxTimeoutMs },
      memory_mb: { type: 'integer', minimum: MIN_MEMORY_MB, maximum: limits.maxMemoryMb },
      dependencies: {
        type: 'array',
        maxItems: MAX_DEPENDENCIES,
        items: { type: 'string', minLength: 1, maxLength: 100 },
        description:
          "Python packages the program needs: a name, or a name with ==, >= or <= and a version. The image's own " +
          "packages need no install; others come from the server's wheelhouse (GET /v1/packages), never from the network.",
      },
    },
  } as const;
}

function fieldName(error: ErrorObject): string {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('')
    .replace(/^\./, '');
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return path ? `${path}.${extra}` : extra;
  }
  return path || 'body';
}

function describe(error: ErrorObject): string {
  const field = fieldName(error);
  switch (error.keyword) {
    case 'additionalProperties':
      return `${field} is not a known field`;
    case 'enum':
      return `${field} must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    default:
      return `${field} ${error.message}`;
  }
}

/** A caller's own ceilings below the server's (a stored key's --max-timeout and --max-memory); null: none. */
export interface Ceilings {
  maxTimeoutMs?: number | null;
  maxMemoryMb?: number | null;
}

/**
 * A value within the caller's ceiling: asking for more is a 400 naming the ceiling; the server's default is
 * lowered to it when nothing is asked.
 */
function withinCeiling(field: string, asked: number | undefined, serverDefault: number, ceiling: number | null | undefined): number {
  if (ceiling === null || ceiling === undefined) return asked ?? serverDefault;
  if (asked === undefined) return Math.min(serverDefault, ceiling);
  if (asked > ceiling) throw new InvalidRequestError(`${field} ${asked} is over this key's limit of ${ceiling}`);
  return asked;
}

export class RunRequestParser {
  private readonly validate: ValidateFunction<RunRequestBody>;

  /** `schema` narrows the request (the run_python tool takes a subset of its fields); it defaults to the full one. */
  constructor(
    private readonly limits: Limits,
    schema: object = runRequestSchema(limits),
  ) {
    const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true });
    this.validate = ajv.compile<RunRequestBody>(schema);
  }

  /** Validates a parsed JSON body and returns the job it describes; throws 400/413 errors naming the problem. */
  parse(body: unknown, ceilings: Ceilings = {}): Job {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidRequestError('the body must be a JSON object');
    }
    if (!this.validate(body)) throw new InvalidRequestError(describe(this.validate.errors![0]));
    const request = body;
    const limits = this.limits;

    const language = request.language ?? 'python';
    if (!(SUPPORTED_LANGUAGES as readonly string[]).includes(language)) {
      throw new InvalidRequestError(`language ${JSON.stringify(language)} is not supported; supported: ${SUPPORTED_LANGUAGES.join(', ')}`);
    }
    if (request.code === undefined && request.files === undefined) {
      throw new InvalidRequestError('give code, or files with an entrypoint');
    }

    // Every size is measured (Buffer.byteLength, or from a base64 text's length) and checked before anything
    // is copied or decoded, so an oversized field costs no allocation of its size.
    const files: JobFile[] = [];
    if (request.code !== undefined) {
      const size = Buffer.byteLength(request.code);
      if (size > limits.maxCodeBytes) {
        throw new PayloadTooLargeError(`code is ${size} bytes; the limit is ${limits.maxCodeBytes} (RUNBOX_MAX_CODE_BYTES)`);
      }
      files.push({ path: DEFAULT_ENTRYPOINT, data: Buffer.from(request.code, 'utf8') });
    }

    const given = request.files ?? [];
    if (given.length > limits.maxFiles) {
      throw new PayloadTooLargeError(`files has ${given.length} entries; the limit is ${limits.maxFiles} (RUNBOX_MAX_FILES)`);
    }
    let total = 0;
    given.forEach((file, index) => {
      const problem =
        relativePathProblem(file.path) ??
        (file.path.split('/')[0] === OUTPUT_DIR ? `is inside ${OUTPUT_DIR}/, which is reserved for artifacts` : undefined);
      if (problem) throw new InvalidRequestError(`files[${index}].path ${problem}`);
      const base64 = file.encoding === 'base64';
      const size = base64 ? base64DecodedLength(file.content) : Buffer.byteLength(file.content);
      if (size === undefined) throw new InvalidRequestError(`files[${index}].content is not valid base64`);
      if (size > limits.maxFileBytes) {
        throw new PayloadTooLargeError(
          `files[${index}] (${file.path}) is ${size} bytes; the limit is ${limits.maxFileBytes} (RUNBOX_MAX_FILE_BYTES)`,
        );
      }
      if (base64 && !isBase64(file.content)) throw new InvalidRequestError(`files[${index}].content is not valid base64`);
      total += size;
    });
    if (total > limits.maxFilesBytes) {
      throw new PayloadTooLargeError(`files total ${total} bytes; the limit is ${limits.maxFilesBytes} (RUNBOX_MAX_FILES_BYTES)`);
    }
    for (const file of given)
      files.push({ path: file.path, data: Buffer.from(file.content, file.encoding === 'base64' ? 'base64' : 'utf8') });
    const conflict = pathConflict(files.map((f) => f.path));
    if (conflict) {
      throw new InvalidRequestError(
        request.code !== undefined && conflict.startsWith(DEFAULT_ENTRYPOINT)
          ? `files: ${DEFAULT_ENTRYPOINT} is taken by code`
          : `files: ${conflict}`,
      );
    }

    const entrypoint = request.entrypoint ?? (request.code !== undefined ? DEFAULT_ENTRYPOINT : undefined);
    if (entrypoint === undefined) throw new InvalidRequestError('entrypoint is required when files are given without code');
    if (!files.some((f) => f.path === entrypoint)) {
      throw new InvalidRequestError(`entrypoint ${JSON.stringify(entrypoint)} is not one of the files`);
    }

    const args = request.args ?? [];
    if (args.length > limits.maxArgs) {
      throw new PayloadTooLargeError(`args has ${args.length} entries; the limit is ${limits.maxArgs} (RUNBOX_MAX_ARGS)`);
    }
    const nulArg = args.findIndex((arg) => arg.includes('\0'));
    if (nulArg >= 0) throw new InvalidRequestError(`args[${nulArg}] contains a NUL character`);

    const stdinSize = Buffer.byteLength(request.stdin ?? '');
    if (stdinSize > limits.maxStdinBytes) {
      throw new PayloadTooLargeError(`stdin is ${stdinSize} bytes; the limit is ${limits.maxStdinBytes} (RUNBOX_MAX_STDIN_BYTES)`);
    }
    const stdin = Buffer.from(request.stdin ?? '', 'utf8');

    const dependencies = (request.dependencies ?? []).map((text, i) => {
      const parsed = parseRunDependency(text);
      if (typeof parsed === 'string') throw new InvalidRequestError(`dependencies[${i}] ${JSON.stringify(text)} ${parsed}`);
      return parsed;
    });

    return {
      files,
      entrypoint,
      args,
      stdin,
      dependencies,
      timeoutMs: withinCeiling('timeout_ms', request.timeout_ms, limits.defaultTimeoutMs, ceilings.maxTimeoutMs),
      memoryMb: withinCeiling('memory_mb', request.memory_mb, limits.defaultMemoryMb, ceilings.maxMemoryMb),
    };
  }
}
