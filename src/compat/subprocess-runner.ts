/**
 * POST /run: the contract of two FastAPI runners that ran code as a bare subprocess, answered as one
 * superset.
 * - Seed 000 (a bearer-token tool endpoint): `{language?: "python", code}` → `{stdout, stderr, returncode}`;
 *   the code is dedented first.
 * - Seed 003 (a Kubernetes code runner): `{code, timeout?}` (seconds, 5 by default) →
 *   `{stdout, stderr, exit_code, timed_out}`, each stream cut at 10,000 characters, and on timeout
 *   `exit_code: -1` and "Execution timed out after N seconds" ending stderr.
 * Where they differ, runbox keeps the partial output of a timed-out run (003 dropped it), and bounds `timeout`
 * by the server's maximum (or the key's) rather than by 10 s: over it, a 400 as on every door.
 */
import type { Limits } from '../config';
import { InvalidRequestError } from '../errors';
import type { RunResponse } from '../api/run-response';
import { firstCodePoints, outputText, timeoutWithin, type CompatContract, jsonOperation, TIMEOUT_MEANING } from './contract';
import { codeLimit, FASTAPI_ERRORS, FASTAPI_SCHEMAS, fastApiRefusal, ModelReader } from './fastapi';

/** Seed 003's cut, in characters per stream, and what marks it. */
export const MAX_OUTPUT_CHARS = 10_000;
const TRUNCATED = '\n... (output truncated)';
const DEFAULT_TIMEOUT_S = 5;

interface RunContext {
  timeoutSeconds: number;
}

/** Python's textwrap.dedent: whitespace-only lines are emptied, and the margin common to the rest is removed. */
export function dedent(text: string): string {
  const lines = text.split('\n').map((line) => (/^[ \t]+$/.test(line) ? '' : line));
  let margin: string | undefined;
  for (const line of lines) {
    const indent = /^[ \t]*(?=[^ \t])/.exec(line)?.[0];
    if (indent === undefined) continue;
    if (margin === undefined || indent.startsWith(margin)) margin ??= indent;
    else {
      let same = 0;
      while (same < margin.length && same < indent.length && margin[same] === indent[same]) same++;
      margin = margin.slice(0, same);
    }
  }
  const cut = margin ?? '';
  return lines.map((line) => (line.startsWith(cut) ? line.slice(cut.length) : line)).join('\n');
}

function stream(content: string, encoding: 'utf8' | 'base64', truncatedByServer: boolean): string {
  const { text, cut } = firstCodePoints(outputText(content, encoding), MAX_OUTPUT_CHARS);
  return cut || truncatedByServer ? text + TRUNCATED : text;
}

export function subprocessRunner(limits: Limits): CompatContract<RunContext> {
  const serverMaxSeconds = limits.maxTimeoutMs / 1000;
  return {
    path: '/run',
    tag: {
      name: 'compat: /run (seeds 000, 003)',
      description:
        'Replaces the FastAPI subprocess runner (seed 000, `returncode`) and the Kubernetes code runner (seed 003, ' +
        '`exit_code`, `timed_out`): one route answering both, now in a hardened container.',
    },

    translate(body, maxTimeoutMs) {
      const model = new ModelReader(body);
      // The limit applies to the code as sent: above it, nothing (dedent, trim) reads it.
      const code = model.string('code', { required: true, maxBytes: codeLimit(limits) });
      const timeout = model.integer('timeout', { nullable: true });
      const language = model.raw('language');
      model.done();
      if (language !== undefined && language !== null && language !== 'python') {
        throw new InvalidRequestError(`language ${JSON.stringify(language)} is not supported: only python`);
      }
      if (!code!.trim()) throw new InvalidRequestError('Code cannot be empty');
      // As seed 003, at least 1 s; its 10 s maximum is the server's (or the key's) here, and beyond it a 400.
      const timeoutMs = timeoutWithin(
        'timeout',
        timeout === null || timeout === undefined ? undefined : Math.max(timeout, 1),
        DEFAULT_TIMEOUT_S,
        maxTimeoutMs,
      );
      return {
        request: { code: dedent(code!), timeout_ms: timeoutMs },
        context: { timeoutSeconds: timeoutMs / 1000 },
      };
    },

    answer(response: RunResponse, { timeoutSeconds }) {
      let stderr = stream(response.stderr, response.stderr_encoding, response.stderr_truncated);
      if (response.timed_out)
        stderr += `${stderr && !stderr.endsWith('\n') ? '\n' : ''}Execution timed out after ${timeoutSeconds} seconds`;
      // A run the service stopped (timeout, output flood) has no exit status of its own: -1, as seed 003 says.
      const exitCode = response.timed_out || response.exit_code === null ? -1 : response.exit_code;
      return {
        stdout: stream(response.stdout, response.stdout_encoding, response.stdout_truncated),
        stderr,
        returncode: exitCode,
        exit_code: exitCode,
        timed_out: response.timed_out,
      };
    },

    refuse: fastApiRefusal,
    schemas: FASTAPI_SCHEMAS,

    openapi: jsonOperation({
      operationId: 'compatRun',
      summary: 'Run Python (seed 000 and 003 contract)',
      description:
        `\`timeout\` is in seconds (default ${DEFAULT_TIMEOUT_S}, at least 1, at most the server's ${serverMaxSeconds}, or the key's; over it, 400). ` +
        `\`code\` is at most ${limits.maxCodeBytes} bytes of UTF-8 as sent (RUNBOX_MAX_CODE_BYTES; over it, 413); it is then dedented (seed 000). ` +
        'Each stream is cut at 10,000 characters, ending with "\\n... (output truncated)". ' +
        'On timeout: `timed_out: true`, `exit_code` and `returncode` -1, the output so far, and "Execution timed out after N seconds" ending stderr. ' +
        TIMEOUT_MEANING,
      request: {
        schema: {
          type: 'object',
          required: ['code'],
          properties: {
            language: { type: 'string', enum: ['python'] },
            code: { type: 'string', minLength: 1 },
            timeout: { type: ['integer', 'null'], default: DEFAULT_TIMEOUT_S },
          },
        },
        example: { code: 'print("Hello, World!")', timeout: 5 },
      },
      response: {
        description: 'The run ended (its exit code says how).',
        schema: {
          type: 'object',
          required: ['stdout', 'stderr', 'returncode', 'exit_code', 'timed_out'],
          properties: {
            stdout: { type: 'string' },
            stderr: { type: 'string' },
            returncode: { type: 'integer' },
            exit_code: { type: 'integer' },
            timed_out: { type: 'boolean' },
          },
        },
        example: { stdout: 'Hello, World!\n', stderr: '', returncode: 0, exit_code: 0, timed_out: false },
      },
      errors: FASTAPI_ERRORS,
    }),
  };
}
