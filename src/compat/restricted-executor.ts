/**
 * POST /execute: the contract of the RestrictedPython "Python Code Executor API" (seed 004):
 * `{code, data}` with `X-API-Key` → `{success: true, result}`, or `{success: false, error}`.
 * The code runs as full Python in the sandbox (a superset of what RestrictedPython allowed: imports, files
 * in its own workspace), sees `data` as a dict, and what it leaves in `result` comes back as JSON. A small
 * harness, sent as the run's main.py, does that; it is the program's own code, trusted with nothing.
 * runbox adds `stdout`.
 */
import type { Limits } from '../config';
import { EngineUnavailableError, type RunboxError } from '../errors';
import type { RunResponse } from '../api/run-response';
import { JsonText, outputText, type CompatContract, jsonOperation, TIMEOUT_MEANING } from './contract';
import { codeLimit, FASTAPI_ERRORS, FASTAPI_SCHEMAS, fastApiRefusal, ModelReader } from './fastapi';

/**
 * Where the harness finds the code and the data, and where it leaves its outcome and the result's JSON text
 * (artifacts, taken out of the answer). The text is passed on as Python wrote it, so 3.0 stays 3.0.
 */
const CODE_FILE = '.runbox/code.py';
const DATA_FILE = '.runbox/data.json';
const OUTCOME_ARTIFACT = '.runbox-outcome.json';
const RESULT_ARTIFACT = '.runbox-result.json';

/**
 * The harness: runs the code with `data` in its namespace, then writes `{success: true}` and the result's
 * JSON, or `{success: false, error}` (the exception's type and message, never a traceback).
 */
export const HARNESS = `import json


def describe(exc):
    return "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__


def outcome():
    with open(${JSON.stringify(DATA_FILE)}, encoding="utf-8") as f:
        data = json.load(f)
    with open(${JSON.stringify(CODE_FILE)}, encoding="utf-8") as f:
        source = f.read()
    namespace = {"__name__": "__main__", "data": data}
    try:
        exec(compile(source, "<string>", "exec"), namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return {"success": False, "error": describe(exc)}
    except BaseException as exc:
        return {"success": False, "error": describe(exc)}
    try:
        text = json.dumps(namespace.get("result"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return {"success": False, "error": "result is not JSON-serialisable: " + describe(exc)}
    with open(${JSON.stringify(`output/${RESULT_ARTIFACT}`)}, "w", encoding="utf-8") as f:
        f.write(text)
    return {"success": True}


answer = outcome()
with open(${JSON.stringify(`output/${OUTCOME_ARTIFACT}`)}, "w", encoding="utf-8") as f:
    json.dump(answer, f)
`;

interface ExecuteContext {
  timeoutSeconds: number;
}

/** Why a run gave no outcome of its own. */
function stopped(response: RunResponse, { timeoutSeconds }: ExecuteContext): string {
  if (response.timed_out) return `Execution timed out after ${timeoutSeconds} seconds`;
  if (response.status === 'oom') return 'MemoryError: the run went over its memory limit';
  if (response.status === 'output_limit') return 'the run wrote too much output and was stopped';
  return `the program ended without a result (exit code ${response.exit_code})`;
}

export function restrictedExecutor(limits: Limits): CompatContract<ExecuteContext> {
  return {
    path: '/execute',
    tag: {
      name: 'compat: /execute (seed 004)',
      description:
        'Replaces the RestrictedPython executor (seed 004): `data` in, `result` out, with keys from `runbox keys` ' +
        '(named clients, test and prod). The code runs as full Python in a hardened container.',
    },

    translate(body, maxTimeoutMs) {
      const model = new ModelReader(body);
      const code = model.string('code', { required: true, maxBytes: codeLimit(limits) });
      const data = model.object('data') ?? {};
      model.done();
      // The original had no time limit: the server's default, within the key's.
      const timeoutMs = Math.min(limits.defaultTimeoutMs, maxTimeoutMs);
      return {
        request: {
          code: HARNESS,
          files: [
            { path: CODE_FILE, content: code! },
            { path: DATA_FILE, content: JSON.stringify(data) },
          ],
          timeout_ms: timeoutMs,
        },
        context: { timeoutSeconds: timeoutMs / 1000 },
      };
    },

    answer(response: RunResponse, context) {
      const stdout = outputText(response.stdout, response.stdout_encoding);
      const artifact = (path: string) => {
        const found = response.artifacts.find((a) => a.path === path);
        return found && (found.encoding === 'base64' ? Buffer.from(found.content, 'base64').toString('utf8') : found.content);
      };
      const reported = artifact(OUTCOME_ARTIFACT);
      if (reported === undefined || response.status !== 'ok') return { success: false, error: stopped(response, context), stdout };
      // The program may overwrite the harness's files: what it leaves there is its own answer, as long as it is JSON.
      let outcome: { success?: unknown; error?: unknown };
      let result: string | undefined;
      try {
        outcome = JSON.parse(reported) as typeof outcome;
        result = artifact(RESULT_ARTIFACT);
        if (outcome.success === true && result === undefined) {
          return {
            success: false,
            error: `the result is larger than ${limits.maxArtifactBytes} bytes of JSON (RUNBOX_MAX_ARTIFACT_BYTES)`,
            stdout,
          };
        }
        if (outcome.success === true) JSON.parse(result!);
      } catch {
        return { success: false, error: 'the program replaced its result with something that is not JSON', stdout };
      }
      if (outcome.success !== true) return { success: false, error: String(outcome.error), stdout };
      return new JsonText(`{"success":true,"result":${result!.trim()},"stdout":${JSON.stringify(stdout)}}`);
    },

    refuse(err: RunboxError) {
      if (err instanceof EngineUnavailableError) return { status: 200, body: { success: false, error: err.message } };
      return fastApiRefusal(err);
    },
    schemas: FASTAPI_SCHEMAS,

    openapi: jsonOperation({
      operationId: 'compatExecuteWithData',
      summary: 'Execute Python with data (seed 004 contract)',
      description:
        'The code sees `data` as a dict; what it leaves in `result` comes back as JSON. An exception is `success: false` ' +
        'with its type and message; a `result` that is not JSON (a set, NaN) is `success: false` too. `stdout` is what the code printed. ' +
        `\`code\` is at most ${limits.maxCodeBytes} bytes of UTF-8 (RUNBOX_MAX_CODE_BYTES; over it, 413). ` +
        `It runs for at most the server's default timeout (${limits.defaultTimeoutMs / 1000} s). ${TIMEOUT_MEANING}`,
      request: {
        schema: {
          type: 'object',
          required: ['code'],
          properties: { code: { type: 'string' }, data: { type: 'object', default: {} } },
        },
        example: { code: "result = sum(data['numbers']) / len(data['numbers'])", data: { numbers: [1, 2, 3, 4, 5] } },
      },
      response: {
        description: 'The code ran: `success` says whether it finished with a result.',
        schema: {
          type: 'object',
          required: ['success'],
          properties: { success: { type: 'boolean' }, result: {}, error: { type: 'string' }, stdout: { type: 'string' } },
        },
        example: { success: true, result: 3.0, stdout: '' },
      },
      errors: FASTAPI_ERRORS,
    }),
  };
}
