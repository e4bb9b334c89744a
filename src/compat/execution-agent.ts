/**
 * POST /api/v1/execute: the contract of the FastAPI "Python Execution Agent" (seed 002), which ran code as a
 * subprocess: `{code, timeout}` (1–30 s) → `{status, stdout, stderr, execution_time, return_code}`.
 * - `status`: success (exit 0), error (non-zero exit), timeout, or failed (the service could not carry the
 *   run through: out of memory, an output flood, the engine failing during the run).
 * - `execution_time` is in seconds; `return_code` is -1 when the run has no exit status of its own.
 * - A body that breaks the model is a 422 with FastAPI's `detail` list, as the original's pydantic model gave.
 */
import type { Limits } from '../config';
import { EngineUnavailableError, type RunboxError } from '../errors';
import type { RunResponse } from '../api/run-response';
import { outputText, timeoutWithin, type CompatContract, jsonOperation, TIMEOUT_MEANING } from './contract';
import { codeLimit, FASTAPI_ERRORS, FASTAPI_SCHEMAS, fastApiRefusal, ModelReader } from './fastapi';

const MIN_TIMEOUT_S = 1;
const MAX_TIMEOUT_S = 30;
const DEFAULT_TIMEOUT_S = 5;

const STATUSES = ['success', 'error', 'timeout', 'failed'] as const;

function failed(message: string) {
  return { status: 'failed' as const, stdout: '', stderr: message, execution_time: 0, return_code: -1 };
}

export function executionAgent(limits: Limits): CompatContract<null> {
  return {
    path: '/api/v1/execute',
    tag: {
      name: 'compat: /api/v1/execute (seed 002)',
      description: 'Replaces the FastAPI Python Execution Agent (seed 002): same body, same answer, now in a hardened container.',
    },

    translate(body, maxTimeoutMs) {
      const model = new ModelReader(body);
      const code = model.string('code', { required: true, minLength: 1, maxBytes: codeLimit(limits) });
      const timeout = model.integer('timeout', { ge: MIN_TIMEOUT_S, le: MAX_TIMEOUT_S });
      model.done();
      return { request: { code: code!, timeout_ms: timeoutWithin('timeout', timeout, DEFAULT_TIMEOUT_S, maxTimeoutMs) }, context: null };
    },

    answer(response: RunResponse) {
      const status = response.timed_out
        ? 'timeout'
        : response.status === 'ok'
          ? 'success'
          : response.status === 'error'
            ? 'error'
            : 'failed';
      const note =
        status === 'failed' ? `\n[runbox] the run was stopped: ${response.status === 'oom' ? 'out of memory' : 'too much output'}` : '';
      return {
        status,
        stdout: outputText(response.stdout, response.stdout_encoding),
        stderr: outputText(response.stderr, response.stderr_encoding) + note,
        execution_time: response.duration_ms / 1000,
        return_code: response.timed_out || response.exit_code === null ? -1 : response.exit_code,
      };
    },

    refuse(err: RunboxError) {
      // A run the engine lost is the original's "failed" (an exception while executing), not an HTTP error.
      if (err instanceof EngineUnavailableError) return { status: 200, body: failed(err.message) };
      return fastApiRefusal(err);
    },
    schemas: FASTAPI_SCHEMAS,

    openapi: jsonOperation({
      operationId: 'compatExecute',
      summary: 'Execute Python (seed 002 contract)',
      description:
        `\`timeout\` is in seconds, ${MIN_TIMEOUT_S}–${MAX_TIMEOUT_S} (default ${DEFAULT_TIMEOUT_S}); outside that the answer is a 422. ` +
        `\`code\` is at most ${limits.maxCodeBytes} bytes of UTF-8 (RUNBOX_MAX_CODE_BYTES; over it, 413). ` +
        '`status`: success (exit 0), error (non-zero exit), timeout, or failed (out of memory, too much output, the engine failing). ' +
        "`execution_time` is in seconds, the program's own (as `duration_ms`); `return_code` is -1 when the run was stopped. " +
        TIMEOUT_MEANING,
      request: {
        schema: {
          type: 'object',
          required: ['code'],
          properties: {
            code: { type: 'string', minLength: 1 },
            timeout: { type: 'integer', minimum: MIN_TIMEOUT_S, maximum: MAX_TIMEOUT_S, default: DEFAULT_TIMEOUT_S },
          },
        },
        example: { code: "print('Hello, World!')\nresult = 2 + 2\nprint(f'Result: {result}')", timeout: 5 },
      },
      response: {
        description: 'The run ended, or could not be carried through (`failed`).',
        schema: {
          type: 'object',
          required: ['status', 'stdout', 'stderr', 'execution_time', 'return_code'],
          properties: {
            status: { enum: STATUSES },
            stdout: { type: 'string' },
            stderr: { type: 'string' },
            execution_time: { type: 'number' },
            return_code: { type: 'integer' },
          },
        },
        example: { status: 'success', stdout: 'Hello, World!\nResult: 4\n', stderr: '', execution_time: 0.05, return_code: 0 },
      },
      errors: FASTAPI_ERRORS,
    }),
  };
}
