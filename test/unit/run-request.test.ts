import { RunRequestParser } from '../../src/api/run-request';
import { InvalidRequestError, PayloadTooLargeError } from '../../src/errors';
import { testConfig } from '../support/config';

const limits = testConfig({
  RUNBOX_MAX_CODE_BYTES: '100',
  RUNBOX_MAX_FILE_BYTES: '10',
  RUNBOX_MAX_FILES_BYTES: '15',
  RUNBOX_MAX_FILES: '3',
  RUNBOX_MAX_STDIN_BYTES: '5',
}).limits;
const parser = new RunRequestParser(limits);

function rejection(body: unknown): Error {
  try {
    parser.parse(body);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the request to be rejected');
}

describe('RunRequestParser', () => {
  it('turns code into main.py with the default timeout and memory', () => {
    const job = parser.parse({ code: 'print(1)' });
    expect(job.files).toEqual([{ path: 'main.py', data: Buffer.from('print(1)') }]);
    expect(job.entrypoint).toBe('main.py');
    expect(job.timeoutMs).toBe(limits.defaultTimeoutMs);
    expect(job.memoryMb).toBe(limits.defaultMemoryMb);
  });

  it('decodes base64 files and keeps utf8 ones as given', () => {
    const job = parser.parse({
      files: [
        { path: 'app.py', content: 'x' },
        { path: 'd/b.bin', content: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' },
      ],
      entrypoint: 'app.py',
      stdin: 'in',
      args: ['-v'],
    });
    expect(job.files[1]).toEqual({ path: 'd/b.bin', data: Buffer.from([0, 255]) });
    expect(job.stdin).toEqual(Buffer.from('in'));
    expect(job.args).toEqual(['-v']);
  });

  it.each([
    [[], /body must be a JSON object/],
    [{}, /give code, or files/],
    [{ code: 1 }, /^code must be string/],
    [{ code: 'x', nope: 1 }, /nope is not a known field/],
    [{ code: 'x', language: 'ruby' }, /language "ruby" is not supported; supported: python/],
    [{ code: 'x', timeout_ms: 999_999_999 }, /timeout_ms must be <= 300000/],
    [{ code: 'x', timeout_ms: 1.5 }, /timeout_ms must be integer/],
    [{ code: 'x', memory_mb: 4 }, /memory_mb must be >= 32/],
    [{ code: 'x', args: [1] }, /args\[0\] must be string/],
    [{ code: 'x', args: ['a\u0000'] }, /args\[0\] contains a NUL/],
    [{ files: [{ path: 'a.py', content: 'x' }] }, /entrypoint is required/],
    [{ files: [{ path: 'a.py', content: 'x' }], entrypoint: 'b.py' }, /entrypoint "b.py" is not one of the files/],
    [{ files: [{ path: '../a.py', content: 'x' }], entrypoint: '../a.py' }, /files\[0\]\.path contains a '\.\.'/],
    [{ files: [{ path: '/abs', content: 'x' }], entrypoint: '/abs' }, /files\[0\]\.path is absolute/],
    [{ code: 'x', files: [{ path: 'output/x', content: 'x' }] }, /reserved for artifacts/],
    [{ code: 'x', files: [{ path: 'main.py', content: 'y' }] }, /main.py is taken by code/],
    [
      {
        code: 'x',
        files: [
          { path: 'a', content: '' },
          { path: 'a', content: '' },
        ],
      },
      /a is given twice/,
    ],
    [{ code: 'x', files: [{ path: 'a', content: '!!', encoding: 'base64' }] }, /files\[0\]\.content is not valid base64/],
    [{ code: 'x', files: [{ path: 'a', content: 'x', encoding: 'hex' }] }, /files\[0\]\.encoding must be one of: utf8, base64/],
    [{ code: 'x', files: [{ content: 'x' }] }, /files\[0\] must have required property 'path'/],
  ])('rejects %j with a 400 naming the problem', (body, message) => {
    const err = rejection(body);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toMatch(message);
  });

  it.each([
    [{ code: 'x'.repeat(101) }, /RUNBOX_MAX_CODE_BYTES/],
    [{ code: 'x', files: [{ path: 'a', content: 'x'.repeat(11) }] }, /RUNBOX_MAX_FILE_BYTES/],
    [
      {
        code: 'x',
        files: [
          { path: 'a', content: 'x'.repeat(8) },
          { path: 'b', content: 'x'.repeat(8) },
        ],
      },
      /RUNBOX_MAX_FILES_BYTES/,
    ],
    [{ code: 'x', files: ['a', 'b', 'c', 'd'].map((path) => ({ path, content: '' })) }, /RUNBOX_MAX_FILES\)/],
    [{ code: 'x', stdin: 'x'.repeat(6) }, /RUNBOX_MAX_STDIN_BYTES/],
  ])('rejects an oversized request with a 413 naming the limit', (body, limit) => {
    const err = rejection(body);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err.message).toMatch(limit);
  });

  it('counts code size in UTF-8 bytes, not characters', () => {
    expect(rejection({ code: 'é'.repeat(51) })).toBeInstanceOf(PayloadTooLargeError);
  });

  describe('a base64 file of 4.5 M characters (3.375 MB; the old pattern threw RangeError, a 500, on it)', () => {
    const bytes = Buffer.alloc(3_375_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    const content = bytes.toString('base64');
    const body = { code: 'x', files: [{ path: 'data.bin', content, encoding: 'base64' }] };

    it('is accepted and decoded under a file limit that allows it', () => {
      const roomy = new RunRequestParser(testConfig({ RUNBOX_MAX_FILE_BYTES: String(4 * 1024 * 1024) }).limits);
      const job = roomy.parse(body);
      expect(job.files[1].data.equals(bytes)).toBe(true);
    });

    it('is a 413 naming the file limit under one that does not', () => {
      const err = rejection(body);
      expect(err).toBeInstanceOf(PayloadTooLargeError);
      expect(err.message).toBe('files[0] (data.bin) is 3375000 bytes; the limit is 10 (RUNBOX_MAX_FILE_BYTES)');
    });
  });

  it('sizes base64 by its length: text over the file limit is a 413 without its characters being read', () => {
    const err = rejection({ code: 'x', files: [{ path: 'a', content: '!'.repeat(16), encoding: 'base64' }] });
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err.message).toMatch(/files\[0\] \(a\) is 12 bytes; .*RUNBOX_MAX_FILE_BYTES/);
  });
});
