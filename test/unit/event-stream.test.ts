import type { ServerResponse } from 'node:http';
import type { RunResponse } from '../../src/api/run-response';
import { incompleteUtf8Tail, RunEventStream } from '../../src/http/event-stream';

describe('incompleteUtf8Tail', () => {
  const bytes = (text: string) => Buffer.from(text, 'utf8');

  it('is 0 when the bytes end on a whole character', () => {
    for (const text of ['', 'abc', 'naïve', '日本', '🎉', 'x\n']) expect(incompleteUtf8Tail(bytes(text))).toBe(0);
  });

  it('counts the bytes of a character cut off at the end', () => {
    const emoji = bytes('a🎉'); // 1 + 4 bytes
    expect(incompleteUtf8Tail(emoji.subarray(0, 2))).toBe(1);
    expect(incompleteUtf8Tail(emoji.subarray(0, 3))).toBe(2);
    expect(incompleteUtf8Tail(emoji.subarray(0, 4))).toBe(3);
    expect(incompleteUtf8Tail(bytes('日').subarray(0, 2))).toBe(2);
    expect(incompleteUtf8Tail(bytes('é').subarray(0, 1))).toBe(1);
  });

  it('holds nothing back for invalid bytes that no later byte can complete', () => {
    expect(incompleteUtf8Tail(Buffer.from([0x61, 0x80, 0x80, 0x80]))).toBe(0);
    expect(incompleteUtf8Tail(Buffer.from([0xff]))).toBe(0);
  });
});

/** A ServerResponse that records what is written. */
function fakeResponse() {
  const written: string[] = [];
  return {
    written,
    writableEnded: false,
    destroyed: false,
    writeHead: () => undefined,
    write(text: string) {
      written.push(text);
      return true;
    },
    trailers: {} as Record<string, string>,
    addTrailers(headers: Record<string, string>) {
      Object.assign(this.trailers, headers);
    },
    end() {
      this.writableEnded = true;
    },
    once: () => undefined,
  };
}

const parse = (written: string[]) =>
  written
    .join('')
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [event, data] = block.split('\n');
      return { event: event.slice(7), data: JSON.parse(data.slice(6)) as { content?: string; encoding?: string; truncated?: boolean } };
    });

const result = { artifacts: [] } as unknown as RunResponse;

describe('RunEventStream', () => {
  it('keeps events few and their framing small however a program alternates stdout and stderr', () => {
    const res = fakeResponse();
    const events = new RunEventStream(res as unknown as ServerResponse, 60_000);
    events.started({ id: 'run', queuedMs: 0 });
    const writes = 20_000;
    for (let i = 0; i < writes; i++) events.output(i % 2 ? 'stdout' : 'stderr', Buffer.from('a'));
    events.finish(result);
    const output = parse(res.written).filter((e) => e.event === 'stdout' || e.event === 'stderr');
    expect(output.length).toBeLessThan(100);
    expect(output.map((e) => e.data.content).join('').length).toBe(writes);
    const streamBytes = res.written.join('').length - JSON.stringify(result).length;
    expect(streamBytes).toBeLessThan(writes + 100 * 64);
  });

  it('sends what came before a cut, a held-back part of a character included, before the cut mark', () => {
    const res = fakeResponse();
    const events = new RunEventStream(res as unknown as ServerResponse, 60_000);
    events.started({ id: 'run', queuedMs: 0 });
    const euro = Buffer.from('€'); // 3 bytes; the cap fell after the first two
    events.output('stdout', Buffer.concat([Buffer.from('abc'), euro.subarray(0, 2)]));
    events.truncated('stdout');
    events.finish(result);
    const stdout = parse(res.written).filter((e) => e.event === 'stdout');
    expect(stdout.map((e) => e.data)).toEqual([
      { encoding: 'utf8', content: 'abc' },
      { encoding: 'utf8', content: '\uFFFD' },
      { encoding: 'utf8', content: '', truncated: true },
    ]);
  });
});
