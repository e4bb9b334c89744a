/** The POST /v1/runs response: its JSON schema (published in the OpenAPI document) and the mapping from a run result. */
import { ERROR_CODES } from '../errors';
import type { RunResult } from '../sandbox/runner';

const encoding = {
  enum: ['utf8', 'base64'],
  description: 'utf8: the content is the text. base64: the bytes, when they are not UTF-8 or escaping them would more than double them.',
} as const;

/** The 200 body of POST /v1/runs. Every field is always present, so clients need no existence checks. */
export const runResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'status',
    'exit_code',
    'stdout',
    'stdout_encoding',
    'stderr',
    'stderr_encoding',
    'stdout_truncated',
    'stderr_truncated',
    'timed_out',
    'oom_killed',
    'message',
    'duration_ms',
    'queued_ms',
    'artifacts',
    'artifacts_truncated',
    'usage',
    'dependencies',
    'install_ms',
  ],
  properties: {
    id: { type: 'string', description: 'The run id; the sandbox container carried it as a label.' },
    status: {
      enum: ['ok', 'error', 'timeout', 'oom', 'output_limit'],
      description:
        'ok: exit 0. error: non-zero exit (or the program broke the launcher protocol). timeout: killed at timeout_ms. ' +
        'oom: killed by the kernel for memory. output_limit: killed for writing more than RUNBOX_OUTPUT_KILL_BYTES.',
    },
    exit_code: {
      type: ['integer', 'null'],
      description: "The program's exit status (137 for SIGKILL); null when the service stopped the run (timeout, output_limit).",
    },
    stdout: { type: 'string', description: 'What the program wrote to stdout, up to RUNBOX_MAX_OUTPUT_BYTES.' },
    stdout_encoding: encoding,
    stderr: { type: 'string', description: 'What the program wrote to stderr, up to RUNBOX_MAX_OUTPUT_BYTES.' },
    stderr_encoding: encoding,
    stdout_truncated: { type: 'boolean' },
    stderr_truncated: { type: 'boolean' },
    timed_out: { type: 'boolean' },
    oom_killed: { type: 'boolean' },
    message: {
      type: ['string', 'null'],
      description:
        'Which limit stopped the run, in one line for people, e.g. "time limit of 2 s exceeded", "memory limit of 128 MB ' +
        'exceeded (the program was killed)", "output limit of 1 MB exceeded (...)": present for timeout, oom and ' +
        "output_limit; null for ok and error (an error's reason is in the program's own stderr, which is left as it is).",
    },
    duration_ms: { type: 'integer', minimum: 0, description: 'From container start to exit.' },
    queued_ms: { type: 'integer', minimum: 0, description: 'Waiting for a run slot.' },
    artifacts: {
      type: 'array',
      description: 'The regular files the program left in ./output/, within the artifact caps.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'size', 'mime_type', 'sha256', 'encoding', 'content'],
        properties: {
          path: { type: 'string', description: 'Relative to ./output/.' },
          size: { type: 'integer', minimum: 0, description: 'In bytes.' },
          mime_type: { type: 'string', description: 'Detected from the bytes, and for text from the name.' },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Hex SHA-256 of the bytes.' },
          encoding,
          content: { type: 'string' },
        },
      },
    },
    artifacts_truncated: { type: 'boolean', description: 'Some files were left out (caps, links, bad names).' },
    usage: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['cpu_ms', 'max_rss_kb'],
      description: 'CPU and peak memory of the program; null when the service stopped the run.',
      properties: {
        cpu_ms: { type: 'integer', minimum: 0 },
        max_rss_kb: { type: 'integer', minimum: 0 },
      },
    },
    dependencies: {
      type: 'array',
      description: "The run's dependencies and what they resolved to: from the image (no install) or installed from the wheelhouse.",
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'version', 'source'],
        properties: { name: { type: 'string' }, version: { type: 'string' }, source: { enum: ['image', 'wheelhouse'] } },
      },
    },
    install_ms: {
      type: 'integer',
      minimum: 0,
      description: 'Time spent installing dependencies for this run (0 when none were needed or their set was ready); part of timeout_ms.',
    },
  },
} as const;

/** Every refusal and fault: `{ "error": { "code", "message" } }`, with the status ERROR_CODES gives the code. */
export const errorResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: {
        code: { enum: Object.keys(ERROR_CODES) },
        message: { type: 'string', description: 'What is wrong, naming the field or limit.' },
      },
    },
  },
} as const;

export function runResponse(result: RunResult, dependencies: readonly DependencyReport[] = []) {
  return {
    id: result.id,
    status: result.status,
    exit_code: result.exitCode,
    stdout: result.stdout.content,
    stdout_encoding: result.stdout.encoding,
    stderr: result.stderr.content,
    stderr_encoding: result.stderr.encoding,
    stdout_truncated: result.stdoutTruncated,
    stderr_truncated: result.stderrTruncated,
    timed_out: result.timedOut,
    oom_killed: result.oomKilled,
    message: result.message,
    duration_ms: result.durationMs,
    queued_ms: result.queuedMs,
    artifacts: result.artifacts.map((a) => ({
      path: a.path,
      size: a.size,
      mime_type: a.mimeType,
      sha256: a.sha256,
      encoding: a.encoding,
      content: a.content,
    })),
    artifacts_truncated: result.artifactsTruncated,
    usage: result.usage && { cpu_ms: result.usage.cpuMs, max_rss_kb: result.usage.maxRssKb },
    dependencies: dependencies.map(({ name, version, source }) => ({ name, version, source })),
    install_ms: result.installMs,
  };
}

/** A dependency as the response reports it: where it came from. */
export interface DependencyReport {
  name: string;
  version: string;
  source: 'image' | 'wheelhouse';
}

export type RunResponse = ReturnType<typeof runResponse>;
