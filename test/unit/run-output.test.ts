import { createHash } from 'node:crypto';
import { READY_SIGNAL } from '../../src/sandbox/protocol';
import { CappedBuffer, FrameDemuxer, MarkerSplitter, RunOutput } from '../../src/sandbox/run-output';
import { file, tarOf } from '../support/tar';

/** One frame of the engine's multiplexed attach stream. */
function frame(stream: 1 | 2, payload: string | Buffer): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

function splitEvery(data: Buffer, size: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return parts;
}

describe('FrameDemuxer', () => {
  it.each([1, 3, 7, 8, 9, 1000])('reassembles frames split every %i bytes', (size) => {
    const got: Record<number, string> = { 1: '', 2: '' };
    const demuxer = new FrameDemuxer((stream, chunk) => (got[stream] += chunk.toString()));
    const wire = Buffer.concat([frame(1, 'out1 '), frame(2, 'err1 '), frame(1, ''), frame(1, 'out2'), frame(2, 'err2')]);
    for (const part of splitEvery(wire, size)) demuxer.write(part);
    expect(got).toEqual({ 1: 'out1 out2', 2: 'err1 err2' });
  });
});

describe('MarkerSplitter', () => {
  it.each([1, 2, 5, 64])('finds a marker straddling chunks of %i bytes', (size) => {
    let before = '';
    let after = '';
    const splitter = new MarkerSplitter(
      Buffer.from('<<END>>'),
      (c) => (before += c),
      (c) => (after += c),
    );
    for (const part of splitEvery(Buffer.from('program <<END output<<END>>archive'), size)) splitter.write(part);
    splitter.end();
    expect(before).toBe('program <<END output');
    expect(after).toBe('archive');
    expect(splitter.found).toBe(true);
  });

  it('gives back held bytes when the stream ends without a marker', () => {
    let before = '';
    const splitter = new MarkerSplitter(
      Buffer.from('<<END>>'),
      (c) => (before += c),
      () => undefined,
    );
    splitter.write(Buffer.from('killed mid <<EN'));
    splitter.end();
    expect(before).toBe('killed mid <<EN');
    expect(splitter.found).toBe(false);
  });
});

describe('CappedBuffer', () => {
  it('keeps the first bytes up to the cap and counts the rest', () => {
    const buffer = new CappedBuffer(5);
    buffer.push(Buffer.from('abc'));
    buffer.push(Buffer.from('defgh'));
    expect(buffer.encoded()).toEqual({ encoding: 'utf8', content: 'abcde' });
    expect(buffer.total).toBe(8);
    expect(buffer.truncated).toBe(true);
  });

  it('turns invalid UTF-8 into replacement characters instead of failing', () => {
    const buffer = new CappedBuffer(10);
    buffer.push(Buffer.from([0x61, 0xff, 0x62]));
    expect(buffer.encoded()).toEqual({ encoding: 'utf8', content: 'a\uFFFDb' });
  });

  it('sends a flood of control bytes as base64 rather than escaping it sixfold', () => {
    const buffer = new CappedBuffer(4096);
    buffer.push(Buffer.alloc(3000, 1));
    expect(buffer.encoded()).toEqual({ encoding: 'base64', content: Buffer.alloc(3000, 1).toString('base64') });
  });
});

describe('RunOutput', () => {
  const options = {
    marker: '\0MARK\0',
    maxOutputBytes: 10,
    outputKillBytes: 30,
    artifactCaps: { maxFiles: 5, maxFileBytes: 100, maxTotalBytes: 100 },
  };

  it('separates stdout, stderr and the artifact archive', async () => {
    const limits: string[] = [];
    const output = new RunOutput({ ...options, onLimitExceeded: (what) => limits.push(what) });
    const archive = await tarOf([file('output/r.txt', 'result')]);
    output.write(Buffer.concat([frame(1, 'hello'), frame(2, 'oops'), frame(1, Buffer.concat([Buffer.from('\0MARK\0'), archive]))]));
    output.end();
    expect(output.collected()).toEqual({
      stdout: { encoding: 'utf8', content: 'hello' },
      stderr: { encoding: 'utf8', content: 'oops' },
      stdoutTruncated: false,
      stderrTruncated: false,
      completed: true,
    });
    expect((await output.artifacts.finish()).artifacts).toEqual([
      {
        path: 'r.txt',
        size: 6,
        mimeType: 'text/plain',
        sha256: createHash('sha256').update('result').digest('hex'),
        encoding: 'utf8',
        content: 'result',
      },
    ]);
    expect(limits).toEqual([]);
  });

  it('truncates each stream at its cap and reports a flood once', () => {
    const limits: string[] = [];
    const output = new RunOutput({ ...options, onLimitExceeded: (what) => limits.push(what) });
    for (let i = 0; i < 10; i++) output.write(Buffer.concat([frame(1, 'xxxxxxxx'), frame(2, 'yy')]));
    output.end();
    const collected = output.collected();
    expect(collected.stdout.content).toBe('x'.repeat(10));
    expect(collected.stdoutTruncated).toBe(true);
    expect(collected.stderrTruncated).toBe(true);
    expect(limits).toEqual(['output']);
  });
  it('is sealed once the launcher closes both streams with the marker, and reads the exit status behind it', async () => {
    const output = new RunOutput({ ...options, onLimitExceeded: () => undefined });
    let sealed = false;
    void output.sealed.then(() => (sealed = true));
    const archive = await tarOf([file('summary.json', JSON.stringify({ exit_code: 3 })), file('output/r.txt', 'r')]);
    const marker = Buffer.from('\0MARK\0');
    // The closing marker on stdout, split across frames; a forged or late byte after it is dropped.
    const stdout = Buffer.concat([Buffer.from('out'), marker, archive, marker, Buffer.from('late')]);
    for (const part of splitEvery(stdout, 7)) output.write(frame(1, part));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sealed).toBe(false); // stderr is still open: the program may be writing to it
    output.write(frame(2, Buffer.concat([Buffer.from('err'), marker.subarray(0, 3)])));
    output.write(frame(2, Buffer.concat([marker.subarray(3), Buffer.from('after')])));
    await output.sealed;
    const result = await output.artifacts.finish();
    expect(result.exitCode).toBe(3);
    expect(result.artifacts.map((a) => a.path)).toEqual(['r.txt']);
    output.end();
    expect(output.collected()).toMatchObject({ stdout: { content: 'out' }, stderr: { content: 'err' }, completed: true });
  });

  it('is never sealed by a stream that ends without its closing marker, as when the launcher is killed', async () => {
    const output = new RunOutput({ ...options, onLimitExceeded: () => undefined });
    let sealed = false;
    void output.sealed.then(() => (sealed = true));
    output.write(Buffer.concat([frame(1, Buffer.from('\0MARK\0')), frame(2, Buffer.from('\0MARK\0'))]));
    output.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(sealed).toBe(false);
    expect((await output.artifacts.finish()).exitCode).toBeUndefined();
  });
  it("drops the launcher's ready signal, which comes first on stdout, even split across frames", () => {
    const output = new RunOutput({ ...options, maxOutputBytes: 100, onLimitExceeded: () => undefined });
    const ready = READY_SIGNAL;
    output.write(
      Buffer.concat([frame(1, ready.subarray(0, 5)), frame(2, 'err'), frame(1, Buffer.concat([ready.subarray(5), Buffer.from('out')]))]),
    );
    output.end();
    expect(output.collected()).toMatchObject({ stdout: { content: 'out' }, stderr: { content: 'err' } });
  });
});
