import { classify, formatBytes, formatDuration, outcomeMessage, type RunFacts } from '../../src/sandbox/outcome';
import { boundedUsage } from '../../src/sandbox/runner';

const facts = (overrides: Partial<RunFacts>): RunFacts => ({
  timedOut: false,
  limitHit: false,
  exitCode: 0,
  markerSeen: true,
  streamEndedCleanly: true,
  engineAnswers: true,
  oomKilled: false,
  ...overrides,
});

describe('classify', () => {
  it.each<[string, Partial<RunFacts>, ReturnType<typeof classify>]>([
    ['exit 0 with the marker', {}, 'ok'],
    ['a non-zero exit', { exitCode: 3, markerSeen: true }, 'error'],
    ['a non-zero exit without the marker (launcher killed by the program)', { exitCode: 143, markerSeen: false }, 'error'],
    ['our timer killed it, whatever the exit', { timedOut: true, exitCode: 137, markerSeen: false }, 'timeout'],
    ['our counters killed it', { limitHit: true, exitCode: 137, markerSeen: false }, 'output_limit'],
    ['a timeout wins over an output limit hit in the same moment', { timedOut: true, limitHit: true }, 'timeout'],
    ['the kernel killed it for memory', { exitCode: 137, oomKilled: true }, 'oom'],
    ['an exit by SIGKILL that was not the OOM killer', { exitCode: 137 }, 'error'],
    ['exit 0, no marker, a clean stream end, the engine answering: the program broke the protocol', { markerSeen: false }, 'error'],
    ['exit 0, no marker, a broken stream: the output was lost', { markerSeen: false, streamEndedCleanly: false }, 'lost'],
    ['exit 0, no marker, the engine gone: the output was lost', { markerSeen: false, engineAnswers: false }, 'lost'],
  ])('%s', (_name, overrides, status) => {
    expect(classify(facts(overrides))).toBe(status);
  });
});

describe('boundedUsage', () => {
  it('keeps figures that are possible for the run, and refuses the rest', () => {
    expect(boundedUsage({ cpuMs: 900, maxRssKb: 90_000 }, 1000, 1, 512)).toEqual({ cpuMs: 900, maxRssKb: 90_000 });
    // More CPU than the quota allows over the wall time (plus a second of accounting slack).
    expect(boundedUsage({ cpuMs: 5000, maxRssKb: 1 }, 1000, 1, 512)).toBeNull();
    expect(boundedUsage({ cpuMs: 3500, maxRssKb: 1 }, 1000, 4, 512)).toEqual({ cpuMs: 3500, maxRssKb: 1 });
    // More memory than the limit, negative figures, or nothing reported.
    expect(boundedUsage({ cpuMs: 1, maxRssKb: 600 * 1024 }, 1000, 1, 512)).toBeNull();
    expect(boundedUsage({ cpuMs: 1, maxRssKb: 540 * 1024 }, 1000, 1, 512)).toEqual({ cpuMs: 1, maxRssKb: 540 * 1024 });
    expect(boundedUsage({ cpuMs: -1, maxRssKb: 1 }, 1000, 1, 512)).toBeNull();
    expect(boundedUsage(undefined, 1000, 1, 512)).toBeNull();
  });
});

describe('outcomeMessage', () => {
  const limits = { timeoutMs: 2000, memoryMb: 128, outputKillBytes: 4 * 1024 * 1024 };

  it('names the limit that stopped the run, with its figure', () => {
    expect(outcomeMessage('timeout', limits)).toBe('time limit of 2 s exceeded');
    expect(outcomeMessage('oom', limits)).toBe('memory limit of 128 MB exceeded (the program was killed)');
    expect(outcomeMessage('output_limit', limits, 'output')).toBe(
      'output limit of 4 MB exceeded (stdout and stderr together; the program was killed)',
    );
    expect(outcomeMessage('output_limit', limits, 'artifacts')).toBe(
      'the files in output/ went past the artifact limits (the run was stopped)',
    );
  });

  it('has nothing to say of a run that ended by itself: ok, or an error its own stderr explains', () => {
    expect(outcomeMessage('ok', limits)).toBeNull();
    expect(outcomeMessage('error', limits)).toBeNull();
  });

  it.each([
    [1, '1 ms'],
    [500, '500 ms'],
    [999, '999 ms'],
    [1000, '1 s'],
    [1500, '1.5 s'],
    [1234, '1.234 s'],
    [2000, '2 s'],
    [300_000, '300 s'],
  ])('writes %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([
    [100, '100 bytes'],
    [1024, '1 KB'],
    [1536, '1.5 KB'],
    [1024 * 1024, '1 MB'],
    [16 * 1024 * 1024, '16 MB'],
    [1.5 * 1024 * 1024, '1.5 MB'],
  ])('writes %i bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
