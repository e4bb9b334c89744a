/**
 * POST /api/run: the contract of the Azure Functions "CodeRunner" (seed 001), which ran code as a subprocess.
 * - Script mode `{script, context?}`: context files go to ./input/, and ./output/ comes back as artifacts.
 * - Files mode `{files: {path: content}, entry_point}`: every file at the execution root, imports between them.
 * - A content is a string, or `{content, encoding: "utf-8" | "base64"}`; `timeout_s` is 60 by default and at
 *   most 300 (clamped, as the original did); over the server's maximum (or the key's), a 400 as on every door;
 *   `dependencies` come from the wheelhouse.
 * - The answer: `{exit_code, stdout, stderr, artifacts}`, artifacts keyed by their path under output/, text as a
 *   string and anything else as `{content, encoding: "base64"}`; exit code 124 on timeout.
 * - Refusals: `{"error": "..."}` with the status.
 * runbox's behaviour wins where the original's was unsafe or vague: artifacts over the limits are left out
 * (with `artifacts_truncated: true`) rather than failing the whole run, and `script` with `files` is refused.
 */
import { TextDecoder } from 'node:util';
import type { Limits } from '../config';
import { InvalidRequestError, PayloadTooLargeError, type RunboxError } from '../errors';
import { base64DecodedLength, isBase64 } from '../api/base64';
import type { RunRequestBody } from '../api/run-request';
import type { RunResponse } from '../api/run-response';
import { MAX_DEPENDENCIES } from '../packages/requirements';
import { MAX_PATH_BYTES } from '../sandbox/paths';
import {
  MalformedBodyError,
  outputText,
  timeoutWithin,
  type CompatContract,
  errorResponses,
  jsonOperation,
  TIMEOUT_MEANING,
} from './contract';

/** Seed 001's limits (src/config.py there). */
export const CODE_RUNNER_LIMITS = {
  scriptBytes: 256 * 1024,
  contextBytes: 10 * 1024 * 1024,
  singleFileBytes: 5 * 1024 * 1024,
  files: 20,
  dependencies: MAX_DEPENDENCIES,
  defaultTimeoutS: 60,
  maxTimeoutS: 300,
} as const;
const TIMEOUT_EXIT_CODE = 124;

interface CodeRunnerContext {
  mode: 'script' | 'files';
}

type Content = string | { content?: unknown; encoding?: unknown };
type NativeFile = NonNullable<RunRequestBody['files']>[number];

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** An artifact as seed 001 returns it: text as a string; bytes with a NUL or that are not UTF-8 as base64. */
function artifactValue(content: string, encoding: 'utf8' | 'base64'): string | { content: string; encoding: 'base64' } {
  if (encoding === 'utf8')
    return content.includes('\0') ? { content: Buffer.from(content).toString('base64'), encoding: 'base64' } : content;
  const bytes = Buffer.from(content, 'base64');
  if (!bytes.includes(0)) {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      // not UTF-8: stays base64
    }
  }
  return { content, encoding: 'base64' };
}

/** Why `path` is not acceptable where seed 001 takes one (files mode), in its words. */
function pathProblem(path: string): string | undefined {
  if (!path) return 'Path cannot be empty.';
  if (path.startsWith('/')) return `Absolute paths not allowed: '${path}'`;
  if (/^[A-Za-z]:/.test(path)) return `Windows absolute paths not allowed: '${path}'`;
  for (const segment of path.split('/')) {
    if (segment === '..') return `Path traversal not allowed: '${path}'`;
    if (segment.startsWith('.')) return `Hidden files/directories not allowed: '${path}'`;
  }
  return undefined;
}

function nameProblem(name: string): string | undefined {
  if (!name) return 'Filename cannot be empty.';
  if (name.includes('/') || name.includes('\\')) return `Filename cannot contain path separators: '${name}'`;
  if (name.startsWith('.')) return `Hidden files not allowed: '${name}'`;
  return undefined;
}

/** The schemas the seed 001 operation refers to. */
export const CODE_RUNNER_SCHEMAS = {
  CodeRunnerContent: {
    oneOf: [
      { type: 'string' },
      {
        type: 'object',
        required: ['content'],
        properties: { content: { type: 'string' }, encoding: { enum: ['utf-8', 'base64'] } },
      },
    ],
  },
  CodeRunnerError: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
} as const;

export function codeRunner(limits: Limits): CompatContract<CodeRunnerContext> {
  const L = CODE_RUNNER_LIMITS;

  /** A map of name → content as native files under `prefix`, within seed 001's count and size limits. */
  const collection = (
    raw: unknown,
    field: 'context' | 'files',
    prefix: string,
    problem: (name: string) => string | undefined,
  ): NativeFile[] => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidRequestError(`\`${field}\` must be an object.`);
    const entries = Object.entries(raw as Record<string, Content>);
    if (field === 'files' && entries.length === 0) throw new InvalidRequestError('`files` cannot be empty.');
    if (entries.length > L.files) throw new PayloadTooLargeError(`Too many files: ${entries.length} exceeds limit of ${L.files}.`);
    const what = field === 'context' ? 'Context file' : 'File';
    let total = 0;
    return entries.map(([given, value]) => {
      // Bounded before it is rewritten, split or quoted back in a message (a 20 MB name of slashes took 0.2 s to split).
      const nameBytes = Buffer.byteLength(given);
      if (nameBytes > MAX_PATH_BYTES) throw new InvalidRequestError(`${what} name is ${nameBytes} bytes, longer than ${MAX_PATH_BYTES}.`);
      const name = field === 'files' ? given.replaceAll('\\', '/') : given;
      const refused = problem(name);
      if (refused) throw new InvalidRequestError(refused);
      let content: string;
      let encoding: 'utf8' | 'base64' = 'utf8';
      if (typeof value === 'string') content = value;
      else if (typeof value === 'object' && value !== null && !Array.isArray(value) && typeof value.content === 'string') {
        content = value.content;
        const asked = value.encoding ?? 'utf-8';
        if (asked === 'base64') encoding = 'base64';
        else if (asked !== 'utf-8' && asked !== 'utf8') {
          throw new InvalidRequestError(`Invalid encoding ${JSON.stringify(asked)} for '${given}'. Use 'utf-8' or 'base64'.`);
        }
      } else throw new InvalidRequestError(`${what} '${given}' must be a string or object with 'content' field.`);
      // The size first, from the base64 text's length: nothing over the limit is scanned or decoded here.
      const size = encoding === 'base64' ? base64DecodedLength(content) : Buffer.byteLength(content);
      if (size === undefined) throw new InvalidRequestError(`${what} '${given}' is not valid base64.`);
      if (size > L.singleFileBytes) {
        throw new PayloadTooLargeError(`File too large: '${given}' is ${size} bytes, exceeds ${L.singleFileBytes} bytes.`);
      }
      if (encoding === 'base64' && !isBase64(content)) throw new InvalidRequestError(`${what} '${given}' is not valid base64.`);
      total += size;
      if (total > L.contextBytes) throw new PayloadTooLargeError(`Total size too large: ${total} bytes exceeds ${L.contextBytes} bytes.`);
      return { path: `${prefix}${name}`, content, encoding };
    });
  };

  /** The asked `timeout_s`, at most the contract's own maximum (clamped, as the original did); undefined if none. */
  const timeoutSeconds = (raw: unknown): number | undefined => {
    if (raw === undefined || raw === null) return undefined;
    // Python's int(): a number is truncated, a string must be digits.
    const parsed =
      typeof raw === 'number' && Number.isFinite(raw)
        ? Math.trunc(raw)
        : typeof raw === 'string' && /^\s*[-+]?\d+\s*$/.test(raw)
          ? Number(raw)
          : NaN;
    if (Number.isNaN(parsed)) throw new InvalidRequestError('`timeout_s` must be an integer.');
    if (parsed <= 0) throw new InvalidRequestError('`timeout_s` must be > 0.');
    return Math.min(parsed, L.maxTimeoutS);
  };

  return {
    path: '/api/run',
    tag: {
      name: 'compat: /api/run (seed 001)',
      description: 'Replaces the Azure Functions CodeRunner (seed 001): script or files mode, context, artifacts, dependencies.',
    },

    translate(body, maxTimeoutMs) {
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new InvalidRequestError('Request body must be a JSON object.');
      const raw = body as Record<string, unknown>;
      const mode = raw.files !== undefined ? 'files' : 'script';
      if (mode === 'files' && raw.script !== undefined) throw new InvalidRequestError('Give `script` or `files`, not both.');
      const timeoutMs = timeoutWithin('timeout_s', timeoutSeconds(raw.timeout_s), L.defaultTimeoutS, maxTimeoutMs);
      const deps: unknown = raw.dependencies ?? [];
      if (!Array.isArray(deps)) throw new InvalidRequestError('`dependencies` must be an array.');
      if (deps.length > L.dependencies) {
        throw new InvalidRequestError(`Too many dependencies: ${deps.length} exceeds limit of ${L.dependencies}.`);
      }
      if (!deps.every((d) => typeof d === 'string')) throw new InvalidRequestError('Dependency must be a string.');
      const context = raw.context === undefined ? [] : collection(raw.context, 'context', 'input/', nameProblem);
      const common = { timeout_ms: timeoutMs, ...(deps.length > 0 ? { dependencies: deps } : {}) };

      if (mode === 'script') {
        if (typeof raw.script !== 'string') throw new InvalidRequestError('`script` is required and must be a string.');
        const size = Buffer.byteLength(raw.script);
        if (size > L.scriptBytes) throw new PayloadTooLargeError(`Script too large: ${size} bytes exceeds ${L.scriptBytes} bytes.`);
        return { request: { code: raw.script, ...(context.length > 0 ? { files: context } : {}), ...common }, context: { mode } };
      }
      const files = collection(raw.files, 'files', '', pathProblem);
      if (typeof raw.entry_point !== 'string') throw new InvalidRequestError('`entry_point` is required and must be a string.');
      const entryPoint = raw.entry_point.replaceAll('\\', '/');
      if (!entryPoint.endsWith('.py')) throw new InvalidRequestError(`Entry point must be a .py file, got: '${entryPoint}'`);
      if (!files.some((f) => f.path === entryPoint)) throw new InvalidRequestError(`Entry point '${entryPoint}' not found in files.`);
      return { request: { files: [...files, ...context], entrypoint: entryPoint, ...common }, context: { mode } };
    },

    answer(response: RunResponse) {
      let stderr = outputText(response.stderr, response.stderr_encoding);
      if (response.timed_out) stderr += '\n[Error: Script timed out]';
      const artifacts = Object.fromEntries(response.artifacts.map((a) => [a.path, artifactValue(a.content, a.encoding)]));
      return {
        exit_code: response.timed_out ? TIMEOUT_EXIT_CODE : (response.exit_code ?? -1),
        stdout: outputText(response.stdout, response.stdout_encoding),
        stderr,
        artifacts,
        // runbox leaves out what is over the artifact limits, rather than failing the run as the original did.
        ...(response.artifacts_truncated ? { artifacts_truncated: true } : {}),
      };
    },

    schemas: CODE_RUNNER_SCHEMAS,

    refuse(err: RunboxError) {
      const cause = err instanceof MalformedBodyError ? err.original : err;
      const message =
        err instanceof MalformedBodyError && cause instanceof InvalidRequestError
          ? `Request body must be valid JSON: ${cause.message}`
          : cause.message;
      return { status: cause.status, body: { error: message } };
    },

    openapi: jsonOperation({
      operationId: 'compatCodeRunner',
      summary: 'Run a script or a project (seed 001 contract)',
      description:
        `Script mode: \`script\`, with \`context\` files in ./input/. Files mode: \`files\` and \`entry_point\`, all at the execution root. ` +
        `Contents are strings or {content, encoding: "base64"}. \`timeout_s\` defaults to ${L.defaultTimeoutS}, at most ${L.maxTimeoutS} ` +
        `(clamped); over the server's ${limits.maxTimeoutMs / 1000} (or the key's maximum) it is refused. Limits: script ${L.scriptBytes} bytes, ${L.files} files, one file ` +
        `${L.singleFileBytes} bytes, all ${L.contextBytes} bytes, ${L.dependencies} dependencies (from the wheelhouse). ` +
        'Artifacts: ./output/ by path, text as a string, other bytes as {content, encoding: "base64"}. Exit code 124 on timeout. ' +
        `${TIMEOUT_MEANING} Refusals are \`{"error": "..."}\`.`,
      request: {
        schema: {
          type: 'object',
          properties: {
            script: { type: 'string' },
            files: { type: 'object', additionalProperties: { $ref: '#/components/schemas/CodeRunnerContent' } },
            entry_point: { type: 'string' },
            context: { type: 'object', additionalProperties: { $ref: '#/components/schemas/CodeRunnerContent' } },
            timeout_s: { type: 'integer', minimum: 1, default: L.defaultTimeoutS },
            dependencies: { type: 'array', maxItems: L.dependencies, items: { type: 'string' } },
          },
        },
        example: {
          script: "import json\nwith open('./input/data.json') as f:\n    print(json.load(f))",
          timeout_s: 30,
          context: { 'data.json': '{"key": "value"}' },
        },
      },
      response: {
        description: 'The run ended; `exit_code` says how (124: timeout).',
        schema: {
          type: 'object',
          required: ['exit_code', 'stdout', 'stderr', 'artifacts'],
          properties: {
            exit_code: { type: 'integer' },
            stdout: { type: 'string' },
            stderr: { type: 'string' },
            artifacts: { type: 'object', additionalProperties: { $ref: '#/components/schemas/CodeRunnerContent' } },
            artifacts_truncated: {
              type: 'boolean',
              description: 'Present (true) when files over the artifact limits were left out.',
            },
          },
        },
        example: { exit_code: 0, stdout: "{'key': 'value'}\n", stderr: '', artifacts: {} },
      },
      errors: errorResponses('CodeRunnerError', {
        '400': 'Refused: the message says why.',
        '401': 'A valid API key is required.',
        '413': 'Over a size limit.',
        '429': "The key's rate or daily runs are used up (Retry-After).",
        '503': 'Busy, shutting down, or the engine or store is unavailable (Retry-After).',
      }),
    }),
  };
}
