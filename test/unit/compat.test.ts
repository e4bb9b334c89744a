/** The compat contracts' translations, without an engine: what each body becomes, and what each answer looks like. */
import { runResponse, type RunResponse } from '../../src/api/run-response';
import { codeRunner } from '../../src/compat/code-runner';
import { firstCodePoints, MalformedBodyError } from '../../src/compat/contract';
import { executionAgent } from '../../src/compat/execution-agent';
import { fastApiRefusal, ModelReader, ValidationFailed } from '../../src/compat/fastapi';
import { restrictedExecutor } from '../../src/compat/restricted-executor';
import { dedent, subprocessRunner } from '../../src/compat/subprocess-runner';
import { BusyError, EngineUnavailableError, InvalidRequestError, PayloadTooLargeError } from '../../src/errors';
import type { RunResult } from '../../src/sandbox/runner';
import { testConfig } from '../support/config';

const limits = testConfig().limits;

function response(overrides: Partial<RunResult> = {}): RunResponse {
  return runResponse({
    id: 'r1',
    status: 'ok',
    exitCode: 0,
    stdout: { content: '', encoding: 'utf8' },
    stderr: { content: '', encoding: 'utf8' },
    stdoutTruncated: false,
    stderrTruncated: false,
    timedOut: false,
    oomKilled: false,
    durationMs: 1234,
    queuedMs: 0,
    artifacts: [],
    artifactsTruncated: false,
    usage: null,
    installMs: 0,
    message: null,
    ...overrides,
  } as RunResult);
}

describe('Python’s textwrap.dedent', () => {
  it.each([
    ['    a\n    b\n', 'a\nb\n'],
    ['    a\n      b\n', 'a\n  b\n'],
    ['  a\n\tb\n', '  a\n\tb\n'],
    ['    a\n   \n    b', 'a\n\nb'],
    ['a\n    b', 'a\n    b'],
    ['\t\ta\n\tb', '\ta\nb'],
    ['', ''],
  ])('%j → %j', (given, expected) => expect(dedent(given)).toBe(expected));
});

describe('cutting at code points', () => {
  it('counts astral characters once, as Python’s len() does', () => {
    expect(firstCodePoints('😀😀😀', 2)).toEqual({ text: '😀😀', cut: true });
    expect(firstCodePoints('😀😀', 2)).toEqual({ text: '😀😀', cut: false });
    expect(firstCodePoints('abc', 3)).toEqual({ text: 'abc', cut: false });
  });
});

describe('the pydantic-like model reader', () => {
  it('reads ints as pydantic’s lax mode does, and reports each problem with its type and location', () => {
    const model = new ModelReader({ a: '7', b: 2.0, c: 2.5, d: true, e: 'x', f: 0 });
    expect([model.integer('a'), model.integer('b'), model.integer('c'), model.integer('d'), model.integer('e')]).toEqual([
      7,
      2,
      undefined,
      undefined,
      undefined,
    ]);
    expect(model.integer('f', { ge: 1 })).toBeUndefined();
    expect(model.issues.map((i) => [i.type, i.loc.join('.')])).toEqual([
      ['int_from_float', 'body.c'],
      ['int_type', 'body.d'],
      ['int_parsing', 'body.e'],
      ['greater_than_equal', 'body.f'],
    ]);
    expect(() => model.done()).toThrow(ValidationFailed);
  });

  it('a body that is not an object is one problem at `body`', () => {
    const model = new ModelReader([1]);
    model.string('code', { required: true });
    expect(model.issues[0]).toMatchObject({ type: 'model_attributes_type', loc: ['body'] });
  });

  it('counts a minimum length in code points, as pydantic does', () => {
    const model = new ModelReader({ one: '😀', two: '😀😀', none: '' });
    expect([model.string('one', { minLength: 2 }), model.string('two', { minLength: 2 }), model.string('none', { minLength: 1 })]).toEqual([
      undefined,
      '😀😀',
      undefined,
    ]);
    expect(model.issues.map((i) => [i.type, i.loc.join('.')])).toEqual([
      ['string_too_short', 'body.one'],
      ['string_too_short', 'body.none'],
    ]);
  });

  it('refuses a string over its byte limit with a 413 at once, counting UTF-8 bytes, whatever else is wrong', () => {
    const limit = { limit: 100, setting: 'RUNBOX_MAX_CODE_BYTES' };
    // 60 characters, 120 bytes: a character count would let it through.
    const model = new ModelReader({ code: 'é'.repeat(60), timeout: 'soon' });
    model.integer('timeout');
    expect(model.issues).toHaveLength(1);
    expect(() => model.string('code', { required: true, minLength: 1, maxBytes: limit })).toThrow(
      new PayloadTooLargeError('code is 120 bytes; the limit is 100 (RUNBOX_MAX_CODE_BYTES)'),
    );
    expect(new ModelReader({ code: 'é'.repeat(50) }).string('code', { maxBytes: limit })).toBe('é'.repeat(50));
    expect(fastApiRefusal(new PayloadTooLargeError('code is 120 bytes'))).toEqual({ status: 413, body: { detail: 'code is 120 bytes' } });
  });

  it('refusals: 422 lists, {detail} otherwise, with the original status', () => {
    expect(fastApiRefusal(new MalformedBodyError(new InvalidRequestError('bad')))).toMatchObject({
      status: 422,
      body: { detail: [{ type: 'json_invalid', loc: ['body', 0] }] },
    });
    expect(fastApiRefusal(new BusyError('full', 1))).toEqual({ status: 503, body: { detail: 'full' } });
  });
});

describe('the contracts', () => {
  describe('check the code limit on the code as sent, before the model, dedent or trim read it', () => {
    const small = { ...limits, maxCodeBytes: 100 };
    const tooLarge = (translate: () => unknown) => {
      expect(translate).toThrow(PayloadTooLargeError);
      expect(translate).toThrow(/^code is \d+ bytes; the limit is 100 \(RUNBOX_MAX_CODE_BYTES\)$/);
    };

    it('/run: indented code over the limit is refused, though dedented it would fit', () => {
      const code = '        x = 1\n'.repeat(8); // 112 bytes as sent, 48 dedented
      expect(dedent(code).length).toBeLessThan(100);
      tooLarge(() => subprocessRunner(small).translate({ code }, 5000));
    });

    it('/run: blank code over the limit is a 413, not "Code cannot be empty"', () => {
      tooLarge(() => subprocessRunner(small).translate({ code: '\n'.repeat(101), timeout: 'soon' }, 5000));
      expect(() => subprocessRunner(small).translate({ code: '\n'.repeat(100) }, 5000)).toThrow('Code cannot be empty');
    });

    it('/api/v1/execute: over the limit is a 413, not the 422 its timeout would earn', () => {
      tooLarge(() => executionAgent(small).translate({ code: 'x'.repeat(101), timeout: 0 }, 5000));
    });

    it('/execute: over the limit is a 413, not the 422 its data would earn', () => {
      tooLarge(() => restrictedExecutor(small).translate({ code: 'x'.repeat(101), data: [] }, 5000));
    });
  });

  it('/run: a timeout defaults to 5 s (fitted under the maximum), is at least 1, and over the server’s (or the key’s) maximum is refused', () => {
    const contract = subprocessRunner({ ...limits, maxTimeoutMs: 20_000 });
    expect(contract.translate({ code: 'x' }, 20_000).request.timeout_ms).toBe(5000);
    expect(contract.translate({ code: 'x', timeout: 0 }, 20_000).request.timeout_ms).toBe(1000);
    expect(contract.translate({ code: 'x' }, 3000)).toMatchObject({ request: { timeout_ms: 3000 }, context: { timeoutSeconds: 3 } });
    expect(contract.translate({ code: 'x', timeout: 20 }, 20_000)).toMatchObject({
      request: { timeout_ms: 20_000 },
      context: { timeoutSeconds: 20 },
    });
    // The policy of every door, /v1/runs's: a timeout asked beyond the limit is a 400 naming it, never clamped.
    expect(() => contract.translate({ code: 'x', timeout: 3600 }, 20_000)).toThrow(
      new InvalidRequestError("`timeout` 3600 is over the limit of 20 s (the server's maximum, or this key's)"),
    );
    const timedOut = contract.answer(response({ timedOut: true, exitCode: null, stderr: { content: 'partial', encoding: 'utf8' } }), {
      timeoutSeconds: 2,
    });
    expect(timedOut).toMatchObject({
      exit_code: -1,
      returncode: -1,
      timed_out: true,
      stderr: 'partial\nExecution timed out after 2 seconds',
    });
  });

  it('/run: a stream the server already cut is marked even under 10,000 characters; non-UTF-8 output becomes text', () => {
    const answer = subprocessRunner(limits).answer(
      response({ stdoutTruncated: true, stdout: { content: 'abc', encoding: 'utf8' }, stderr: { content: '/w==', encoding: 'base64' } }),
      { timeoutSeconds: 5 },
    ) as { stdout: string; stderr: string };
    expect(answer.stdout).toBe('abc\n... (output truncated)');
    expect(answer.stderr).toBe('\uFFFD');
  });

  it('/api/run: text artifacts as strings, other bytes (NUL, not UTF-8) as base64', () => {
    const artifact = (path: string, content: string, encoding: 'utf8' | 'base64') => ({
      path,
      content,
      encoding,
      size: 1,
      mimeType: 'x',
      sha256: '0'.repeat(64),
    });
    const answer = codeRunner(limits).answer(
      response({
        artifacts: [
          artifact('a.txt', 'hello', 'utf8'),
          artifact('b.bin', Buffer.from([0xff, 0xfe]).toString('base64'), 'base64'),
          artifact('c.txt', Buffer.from('é escaped').toString('base64'), 'base64'),
          artifact('d.bin', 'a\0b', 'utf8'),
        ],
        artifactsTruncated: true,
      }),
      { mode: 'script' },
    );
    expect(answer).toMatchObject({
      artifacts: {
        'a.txt': 'hello',
        'b.bin': { content: '//4=', encoding: 'base64' },
        'c.txt': 'é escaped',
        'd.bin': { content: Buffer.from('a\0b').toString('base64'), encoding: 'base64' },
      },
      artifacts_truncated: true,
    });
  });

  it('/api/run: timeout_s is 60 by default, clamped at 300, truncated like Python’s int()', () => {
    const contract = codeRunner({ ...limits, maxTimeoutMs: 600_000 });
    expect(contract.translate({ script: 'x' }, 600_000).request.timeout_ms).toBe(60_000);
    expect(contract.translate({ script: 'x', timeout_s: 900 }, 600_000).request.timeout_ms).toBe(300_000);
    // Its own maximum clamps, as the original's did; the server's (or the key's), below it, refuses.
    expect(() => contract.translate({ script: 'x', timeout_s: 90 }, 60_000)).toThrow(/`timeout_s` 90 is over the limit of 60 s/);
    expect(contract.translate({ script: 'x' }, 30_000).request.timeout_ms).toBe(30_000);
    expect(contract.translate({ script: 'x', timeout_s: 2.9 }, 600_000).request.timeout_ms).toBe(2000);
    expect(contract.translate({ script: 'x', timeout_s: '7' }, 600_000).request.timeout_ms).toBe(7000);
    expect(contract.translate({ script: 'x' }, 30_000).request.timeout_ms).toBe(30_000);
    expect(contract.refuse(new MalformedBodyError(new InvalidRequestError('Unexpected end')))).toEqual({
      status: 400,
      body: { error: 'Request body must be valid JSON: Unexpected end' },
    });
  });

  it('/api/run: a base64 file of 4.5 M characters is taken (the old pattern threw RangeError on it)', () => {
    const content = Buffer.alloc(3_375_000, 1).toString('base64');
    const { request } = codeRunner(limits).translate({ script: 'x', context: { 'data.bin': { content, encoding: 'base64' } } }, 5000);
    expect(request.files).toEqual([{ path: 'input/data.bin', content, encoding: 'base64' }]);
  });

  it('/api/run: a file name over the path limit is refused by its size, not split or quoted back', () => {
    const name = '/'.repeat(600);
    expect(() => codeRunner(limits).translate({ files: { [name]: 'x' }, entry_point: 'a.py' }, 5000)).toThrow(
      new InvalidRequestError('File name is 600 bytes, longer than 512.'),
    );
    expect(() => codeRunner(limits).translate({ script: 'x', context: { [name]: 'x' } }, 5000)).toThrow(
      new InvalidRequestError('Context file name is 600 bytes, longer than 512.'),
    );
  });

  it('/api/v1/execute: statuses from the run, and a run the engine lost is `failed`, not an HTTP error', () => {
    const contract = executionAgent(limits);
    const answer = (overrides: Partial<RunResult>) => contract.answer(response(overrides), null) as { status: string; return_code: number };
    expect(answer({}).status).toBe('success');
    expect(answer({ status: 'error', exitCode: 3 })).toMatchObject({ status: 'error', return_code: 3 });
    expect(answer({ status: 'timeout', timedOut: true, exitCode: null })).toMatchObject({ status: 'timeout', return_code: -1 });
    expect(answer({ status: 'oom', exitCode: 137 })).toMatchObject({ status: 'failed', return_code: 137 });
    expect(contract.answer(response(), null)).toMatchObject({ execution_time: 1.234 });
    expect(contract.refuse(new EngineUnavailableError('gone'))).toMatchObject({ status: 200, body: { status: 'failed', stderr: 'gone' } });
  });

  it('/execute: a run stopped before its outcome says why', () => {
    const contract = restrictedExecutor(limits);
    expect(contract.answer(response({ status: 'timeout', timedOut: true, exitCode: null }), { timeoutSeconds: 10 })).toMatchObject({
      success: false,
      error: 'Execution timed out after 10 seconds',
    });
    expect(contract.answer(response({ status: 'oom', exitCode: 137 }), { timeoutSeconds: 10 })).toMatchObject({
      success: false,
      error: expect.stringMatching(/^MemoryError/),
    });
    expect(contract.answer(response({ status: 'error', exitCode: 3 }), { timeoutSeconds: 10 })).toMatchObject({
      error: 'the program ended without a result (exit code 3)',
    });
  });
});
