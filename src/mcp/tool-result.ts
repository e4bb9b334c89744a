/**
 * What a run_python call answers, whichever door it came through: the run stated plainly for a model
 * (status, exit code, stdout, stderr), images as MCP images, other files as embedded resources. A program
 * that fails is a normal result; only the service failing to run it is a tool error (isError).
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { RunResponse } from '../api/run-response';
import type { ErrorCode } from '../errors';

const PNG_END = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/**
 * The image types MCP clients show as images, each with a check that the file is whole: a file cut off
 * (a run killed mid-write) or merely starting with a signature would make the client, or the model
 * API it forwards images to, fail the whole turn; those go back as resources instead.
 */
const IMAGE_TYPES: Record<string, (bytes: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(12, 16).toString('latin1') === 'IHDR' && b.subarray(-12).equals(PNG_END),
  'image/jpeg': (b) => b.length > 4 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9,
  'image/gif': (b) => b.length > 13 && b[b.length - 1] === 0x3b,
  'image/webp': (b) => b.length > 12 && b.readUInt32LE(4) + 8 === b.length && b.subarray(8, 12).toString('latin1') === 'WEBP',
  'image/svg+xml': (b) => /<svg[\s>/]/i.test(b.toString('utf8')) && /(<\/svg>|\/>)\s*$/i.test(b.subarray(-256).toString('utf8')),
};

type Content = CallToolResult['content'][number];

function headline(run: RunResponse): string {
  const exit = run.exit_code === null ? 'no exit code' : `exit code ${run.exit_code}`;
  const took = `${run.duration_ms} ms`;
  switch (run.status) {
    case 'ok':
      return `The program finished successfully (${exit}) in ${took}.`;
    case 'error':
      return `The program failed (${exit}) after ${took}; see stderr.`;
    case 'timeout':
      return `The program was killed at its time limit after ${took} (${exit}); output up to then is below.`;
    case 'oom':
      return `The program was killed for running out of memory (${exit}) after ${took}.`;
    case 'output_limit':
      return `The program was killed for writing too much output (${exit}) after ${took}.`;
  }
}

/** A stream as text for a model: base64 output (binary, or escape-heavy) is decoded, with what was done said. */
function streamText(name: string, content: string, encoding: 'utf8' | 'base64', truncated: boolean): string {
  const text = encoding === 'base64' ? Buffer.from(content, 'base64').toString('utf8') : content;
  const notes = [
    encoding === 'base64' ? 'not plain text; shown decoded as UTF-8' : '',
    truncated ? 'truncated: the program wrote more than the limit' : '',
  ].filter(Boolean);
  const label = `${name}${notes.length ? ` (${notes.join('; ')})` : ''}:`;
  return text === '' ? `${label} (empty)` : `${label}\n${text}`;
}

function artifactContent(run: RunResponse, artifact: RunResponse['artifacts'][number]): Content {
  const bytes = Buffer.from(artifact.content, artifact.encoding === 'base64' ? 'base64' : 'utf8');
  const whole = Object.hasOwn(IMAGE_TYPES, artifact.mime_type) ? IMAGE_TYPES[artifact.mime_type] : undefined;
  if (whole?.(bytes)) return { type: 'image', data: bytes.toString('base64'), mimeType: artifact.mime_type };
  const uri = `runbox://runs/${run.id}/output/${artifact.path.split('/').map(encodeURIComponent).join('/')}`;
  return artifact.encoding === 'utf8'
    ? { type: 'resource', resource: { uri, mimeType: artifact.mime_type, text: artifact.content } }
    : { type: 'resource', resource: { uri, mimeType: artifact.mime_type, blob: artifact.content } };
}

export function runToolResult(run: RunResponse): CallToolResult {
  const summary = [headline(run)];
  // Which limit it was, with its figure: what a model needs to adjust its next call.
  if (run.message !== null) summary.push(`runbox: ${run.message}.`);
  if (run.artifacts.length > 0) {
    summary.push(`Files saved in output/: ${run.artifacts.map((a) => `${a.path} (${a.mime_type}, ${a.size} bytes)`).join(', ')}.`);
  }
  if (run.artifacts_truncated) summary.push('Some files in output/ were not returned (too many, too large, or not regular files).');
  return {
    content: [
      { type: 'text', text: summary.join('\n') },
      { type: 'text', text: streamText('stdout', run.stdout, run.stdout_encoding, run.stdout_truncated) },
      { type: 'text', text: streamText('stderr', run.stderr, run.stderr_encoding, run.stderr_truncated) },
      ...run.artifacts.map((artifact) => artifactContent(run, artifact)),
    ],
    structuredContent: {
      id: run.id,
      status: run.status,
      exit_code: run.exit_code,
      timed_out: run.timed_out,
      oom_killed: run.oom_killed,
      message: run.message,
      duration_ms: run.duration_ms,
      artifacts: run.artifacts.map(({ path, size, mime_type, sha256 }) => ({ path, size, mime_type, sha256 })),
    },
    isError: false,
  };
}

/** What a model can do about each service failure; the program did not run (or its result is unknown). */
const ADVICE: Partial<Record<ErrorCode | 'unreachable', string>> = {
  busy: 'The sandbox service is busy: every run slot is taken. Wait a few seconds and call the tool again with the same code.',
  shutting_down: 'The sandbox service is restarting. Wait a few seconds and call the tool again with the same code.',
  engine_unavailable:
    'The sandbox engine is not available right now, so the code did not run (or its result was lost). Try again later; if it keeps failing, tell the user the code runner is down.',
  unauthorized: 'The code runner refused its API key, so nothing can run. Tell the user to check the runbox API key.',
  unreachable: 'The code runner cannot be reached, so nothing can run. Tell the user the code runner is down.',
};

/** A service error as a tool error: isError, with a message a model can act on. */
export function serviceErrorResult(code: string, message: string, retryAfterSeconds?: number): CallToolResult {
  const advice = ADVICE[code as keyof typeof ADVICE] ?? 'The code runner failed, so the code did not run. Try again later.';
  const retry = retryAfterSeconds !== undefined ? ` (retry after ${retryAfterSeconds} s)` : '';
  return { content: [{ type: 'text', text: `${advice}${retry}\nrunbox said: ${code}: ${message}` }], isError: true };
}
