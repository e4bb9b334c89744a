import { serverTiming } from '../../src/http/server-timing';
import { PhaseClock, PHASES } from '../../src/sandbox/phases';

/** Moves performance.now() by hand, so that the phases are exact. */
function manualClock() {
  let now = 1000;
  const spy = jest.spyOn(performance, 'now').mockImplementation(() => now);
  return { advance: (ms: number) => (now += ms), restore: () => spy.mockRestore() };
}

describe('PhaseClock', () => {
  let time: ReturnType<typeof manualClock>;
  beforeEach(() => (time = manualClock()));
  afterEach(() => time.restore());

  it('credits each phase the time since the one before ended, so the phases add up to the whole', () => {
    const clock = new PhaseClock(900); // the request arrived 100 ms before now
    clock.lap('queue');
    time.advance(12.34);
    clock.lap('acquire');
    time.advance(50);
    clock.lap('program');
    time.advance(2);
    clock.lap('record');
    time.advance(3);
    clock.lap('record'); // a phase met twice adds up
    expect(clock.snapshot()).toEqual({ queue: 100, acquire: 12.3, program: 50, record: 5 });
    expect(Object.keys(clock.snapshot())).toEqual(PHASES.filter((p) => ['queue', 'acquire', 'program', 'record'].includes(p)));
  });

  it('credits a part of the time since the last lap to a phase, and no more than has passed', () => {
    const clock = new PhaseClock();
    time.advance(30);
    clock.credit('install', 20);
    clock.lap('acquire');
    clock.credit('collect', 5);
    expect(clock.snapshot()).toEqual({ install: 20, acquire: 10, collect: 0 });
  });
});

describe('serverTiming', () => {
  let time: ReturnType<typeof manualClock>;
  beforeEach(() => (time = manualClock()));
  afterEach(() => time.restore());

  it('lists the phases in order with their durations, where the sandbox came from, and the time since arrival', () => {
    const clock = new PhaseClock();
    time.advance(1.25);
    clock.lap('queue');
    time.advance(0.5);
    clock.lap('acquire');
    clock.source = 'preloaded';
    time.advance(40);
    clock.lap('program');
    time.advance(2); // writing the answer
    expect(serverTiming(clock)).toBe('queue;dur=1.3, acquire;dur=0.5;desc="preloaded pool", program;dur=40, total;dur=43.8');
  });

  it('is only the total for a request refused before any phase', () => {
    const clock = new PhaseClock();
    time.advance(0.4);
    expect(serverTiming(clock)).toBe('total;dur=0.4');
  });
});
