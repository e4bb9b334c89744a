/**
 * `runbox run script.py [files or folders...]`: sends the files to a runbox server, streams the program's
 * stdout and stderr to the terminal as they happen (POST /v1/runs as Server-Sent Events), writes its
 * artifacts to ./output/, and exits with the program's exit status.
 */
import { readFileSync, statSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { fetch } from 'undici';
import type { RunResponse } from '../api/run-response';
import { describeRefusal, endpoint, keyAdvice, patient, unreachableReason } from '../client/server-api';
import { CliError, EXIT } from './exit-codes';
import { checkInputs, collectFiles, type FileLimits } from './job-files';
import { writeArtifacts } from './output-files';
import { Spinner } from './spinner';

export interface RunOptions {
  url: string;
  apiKey?: string;
  stdin?: string;
  arg: string[];
  timeout?: string;
  memory?: string;
  out: string;
}

/** `30s`, `500ms`, `2m`, or a number of seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new CliError(`--timeout ${JSON.stringify(text)}: give a duration such as 30s, 500ms or 2m`, EXIT.usage);
  const value = Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm'];
  if (value < 1) throw new CliError(`--timeout ${JSON.stringify(text)} is too short`, EXIT.usage);
  return Math.round(value);
}

function parseMemory(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new CliError(`--memory ${JSON.stringify(text)}: give megabytes, such as 512`, EXIT.usage);
  return Number(text);
}

/** An HTTP refusal as one line and the exit code for its kind. */
function refused(status: number, text: string, keyGiven: boolean, retryAfter?: string | null): CliError {
  const { code, message } = describeRefusal(status, text);
  if (status === 401) return new CliError(`${keyAdvice(keyGiven)} (the server said: ${message})`, EXIT.noPermission);
  const exitCode =
    status === 401 || status === 403
      ? EXIT.noPermission
      : status === 400 || status === 413 || status === 415
        ? EXIT.dataError
        : status === 429
          ? EXIT.tempFail
          : status === 503
            ? EXIT.unavailable
            : EXIT.software;
  const retry = retryAfter && /^\d+$/.test(retryAfter) ? ` (retry after ${retryAfter} s)` : '';
  return new CliError(`the server refused the run (${code}): ${message}${retry}`, exitCode);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The program's stdin, read whole but never past the server's limit; it travels as text, so it must be UTF-8. */
async function readStdin(source: string | undefined, maxBytes: number): Promise<string | undefined> {
  if (source === undefined) return undefined;
  const tooBig = () => new CliError(`--stdin ${source} is over the server's limit of ${maxBytes} bytes`, EXIT.dataError);
  let data: Buffer;
  try {
    if (source !== '-') {
      if (statSync(source).size > maxBytes) throw tooBig();
      data = readFileSync(source);
    } else {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of process.stdin) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) throw tooBig();
        chunks.push(chunk as Buffer);
      }
      data = Buffer.concat(chunks);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`--stdin ${source}: ${(err as Error).message}`, EXIT.noInput);
  }
  try {
    return strictUtf8.decode(data);
  } catch {
    throw new CliError(`--stdin ${source} is not UTF-8 text; send binary data as a file instead`, EXIT.dataError);
  }
}

/** How a run the service stopped is reported, and the exit status it gets. */
function ending(result: RunResponse, timeoutMs: number | undefined): { exitCode: number; note?: string } {
  // The server's message names the limit with its figure; a server from before it had one gets the older notes.
  const said = result.message ?? undefined;
  switch (result.status) {
    case 'timeout':
      return {
        exitCode: EXIT.timeout,
        note: said ?? (timeoutMs ? `timed out (limit ${timeoutMs} ms)` : "timed out (the server's default limit)"),
      };
    case 'oom':
      return { exitCode: EXIT.oom, note: said ?? 'killed: out of memory' };
    case 'output_limit':
      return { exitCode: EXIT.outputLimit, note: said ?? 'killed: it wrote more output than the server allows' };
    default:
      return { exitCode: result.exit_code ?? EXIT.software };
  }
}

export async function runCommand(inputs: string[], options: RunOptions): Promise<number> {
  const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout);
  const memoryMb = options.memory === undefined ? undefined : parseMemory(options.memory);
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  checkInputs(inputs);

  // The server's limits first: a folder too big for it fails here, before it is read into memory.
  let limits: FileLimits & { max_stdin_bytes: number };
  try {
    const about = await fetch(endpoint(options.url, ''), { headers });
    if (!about.ok) throw refused(about.status, await about.text(), !!options.apiKey);
    limits = ((await about.json()) as { limits: FileLimits & { max_stdin_bytes: number } }).limits;
    if (typeof limits?.max_files !== 'number') throw new Error('no limits');
  } catch (err) {
    if (err instanceof CliError) throw err;
    if ((err as Error).message === 'no limits' || err instanceof SyntaxError) {
      throw new CliError(`${options.url} does not answer like a runbox server`, EXIT.software);
    }
    throw new CliError(`cannot reach runbox at ${options.url} (${unreachableReason(err)})`, EXIT.unavailable);
  }

  const { files, entrypoint } = collectFiles(inputs, limits);
  const body = {
    files,
    entrypoint,
    args: options.arg,
    stdin: await readStdin(options.stdin, limits.max_stdin_bytes),
    timeout_ms: timeoutMs,
    memory_mb: memoryMb,
  };

  const spinner = new Spinner(process.stderr, 'waiting for a run slot');
  const controller = new AbortController();
  // Ctrl-C, or a reader that went away (`| head`): closing the request makes the server stop the run.
  let ended: number | undefined;
  const stopWith = (exitCode: number) => {
    ended ??= exitCode;
    controller.abort();
  };
  const interrupt = () => stopWith(130);
  const pipeClosed = (err: NodeJS.ErrnoException) => stopWith(err.code === 'EPIPE' ? 141 : EXIT.software);
  process.once('SIGINT', interrupt);
  // Left in place: a closed pipe may report again after the run is over, and must not crash the process.
  process.stdout.on('error', pipeClosed);
  process.stderr.on('error', pipeClosed);
  try {
    let response;
    try {
      response = await fetch(endpoint(options.url, 'v1/runs'), {
        method: 'POST',
        dispatcher: patient,
        signal: controller.signal,
        headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(body),
      });
    } catch (err) {
      if (ended !== undefined) return ended;
      throw new CliError(`cannot reach runbox at ${options.url} (${unreachableReason(err)})`, EXIT.unavailable);
    }
    if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
      spinner.stop();
      throw refused(response.status, await response.text(), !!options.apiKey, response.headers.get('retry-after'));
    }

    let result: RunResponse | undefined;
    let failure: { code: string; message: string } | undefined;
    const parser = createParser({
      onEvent: ({ event, data }) => {
        let payload: { content: string; encoding: 'utf8' | 'base64' };
        try {
          payload = JSON.parse(data) as typeof payload;
        } catch {
          throw new CliError(`the server sent an event that is not JSON (${event})`, EXIT.software);
        }
        if (event === 'start') spinner.stop();
        else if (event === 'stdout' || event === 'stderr') {
          const bytes = Buffer.from(payload.content, payload.encoding === 'base64' ? 'base64' : 'utf8');
          (event === 'stdout' ? process.stdout : process.stderr).write(bytes);
        } else if (event === 'result') result = JSON.parse(data) as RunResponse;
        else if (event === 'error') failure = JSON.parse(data) as { code: string; message: string };
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch (err) {
      if (err instanceof CliError) throw err;
      if (ended !== undefined) return ended;
      throw new CliError(`the connection to runbox broke during the run (${unreachableReason(err)})`, EXIT.unavailable);
    }
    if (ended !== undefined) return ended;
    if (failure)
      throw new CliError(
        `the run failed on the server (${failure.code}): ${failure.message}`,
        failure.code === 'internal' ? EXIT.software : EXIT.unavailable,
      );
    if (!result) throw new CliError('the server ended the stream without a result', EXIT.unavailable);

    const written = writeArtifacts(result.artifacts, options.out);
    const { exitCode, note } = ending(result, timeoutMs);
    if (note) process.stderr.write(`runbox: ${note}\n`);
    if (written.length > 0) process.stderr.write(`runbox: ${written.length} file(s) written to ${options.out}/: ${written.join(', ')}\n`);
    if (result.artifacts_truncated)
      process.stderr.write('runbox: some output files were not returned (over the limits, or not regular files)\n');
    return exitCode;
  } finally {
    spinner.stop();
    process.removeListener('SIGINT', interrupt);
  }
}
