/**
 * Runner.execute against a scripted engine: the test plays the container's side of the attach stream and
 * decides when `wait` answers, so rules that no real program can provoke are checked without Docker.
 */
import { Duplex } from 'node:stream';
import { extract } from 'tar-stream';
import type { DockerClient } from '../../src/docker/client';
import { ClientGoneError, EngineUnavailableError, ShuttingDownError } from '../../src/errors';
import { Admission } from '../../src/sandbox/admission';
import type { Job } from '../../src/sandbox/job';
import { READY_SIGNAL } from '../../src/sandbox/protocol';
import { Runner } from '../../src/sandbox/runner';
import { silentLog } from '../support/app';
import { testConfig } from '../support/config';
import { file, tarOf } from '../support/tar';
import { until as waitUntil } from '../support/wait';

/** One frame of the engine's multiplexed stream format. */
const frame = (stream: 1 | 2, payload: string | Buffer) => {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
};

function scriptedEngine() {
  const written: Buffer[] = [];
  let jobArrived!: () => void;
  const job = new Promise<void>((resolve) => (jobArrived = resolve));
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      written.push(chunk);
      done();
    },
    final(done) {
      jobArrived();
      done();
    },
  });
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const state = {
    engineUp: true,
    startFails: false,
    oomKilled: false,
    removed: false,
    calls: [] as string[],
    attached: undefined as Duplex | undefined,
  };
  const call = async (name: string) => {
    state.calls.push(name);
    if (!state.engineUp) throw new EngineUnavailableError('engine gone');
  };
  const docker: DockerClient = {
    ping: () => call('ping'),
    runtimes: async () => ({ runc: { path: 'runc', runtimeArgs: [] } }),
    imageExists: async () => true,
    imageId: async () => 'sha256:scripted',
    create: async () => (await call('create'), 'container-1'),
    createNamed: async () => (await call('createNamed'), 'named-1'),
    attach: async () => (await call('attach'), (state.attached = stream)),
    start: async () => {
      await call('start');
      if (state.startFails) throw new EngineUnavailableError('start failed');
      // As the launcher does once its interpreter is up, before it reads its job.
      stream.push(frame(1, READY_SIGNAL));
    },
    // Like the real client: settles with the exit code, or rejects once abandoned.
    wait: async (_id, signal) => {
      await call('wait');
      return new Promise<number>((resolve, reject) => {
        void exited.then(resolve);
        signal?.addEventListener('abort', () => reject(new EngineUnavailableError('wait abandoned')), { once: true });
      });
    },
    inspect: async () => (
      await call('inspect'),
      { status: state.removed ? 'gone' : 'exited', exitCode: 137, oomKilled: state.oomKilled, labels: {}, startedAt: '' }
    ),
    // SIGKILL is 'kill'; a SIGTERM first (a launcher relaying output, at the deadline) is 'term'.
    kill: (_id, signal) => call(signal === 'SIGTERM' ? 'term' : 'kill'),
    remove: () => call('remove'),
    listByLabel: async () => [],
    imageLabels: async () => ({}),
    createVolume: () => call('createVolume'),
    removeVolume: () => call('removeVolume'),
    listVolumes: async () => [],
  };
  /** The marker the runner sent in job.json, once the job archive is through. */
  const marker = async (): Promise<string> => {
    await job;
    const parser = extract();
    const manifest = new Promise<string>((resolve) =>
      parser.on('entry', (header, entry, next) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c) => chunks.push(c as Buffer));
        entry.on('end', () => {
          if (header.name === 'job.json') resolve((JSON.parse(Buffer.concat(chunks).toString()) as { marker: string }).marker);
          next();
        });
      }),
    );
    parser.end(Buffer.concat(written));
    return manifest;
  };
  return { docker, stream, exit, state, marker };
}

/** Plays a container killed by SIGKILL: its stream ends, the engine reports 137. */
function killed(engine: ReturnType<typeof scriptedEngine>) {
  engine.stream.push(null);
  engine.exit(137);
}

const job: Job = {
  dependencies: [],
  files: [{ path: 'main.py', data: Buffer.from('print(1)') }],
  entrypoint: 'main.py',
  args: [],
  stdin: Buffer.alloc(0),
  timeoutMs: 5000,
  memoryMb: 512,
};

/** Waits (bounded) until `check` holds, yielding to timers and I/O in between. */
const until = (check: () => boolean, what: string): Promise<void> => waitUntil(check, what, 15_000, 2);

function runnerOn(docker: DockerClient, env: Record<string, string> = {}) {
  const config = testConfig({ RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_CONCURRENT: '1', ...env });
  const admission = new Admission(1, 1);
  return { runner: new Runner(docker, config, admission, silentLog), admission };
}

describe('Runner with a scripted engine', () => {
  it('a launcher that wrote its marker and archive: ok, with the artifact', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    const marker = await engine.marker();
    const archive = await tarOf([file('output/r.txt', 'result'), file('summary.json', '{"skipped":0}')]);
    engine.stream.push(frame(1, Buffer.concat([Buffer.from('1\n'), Buffer.from(marker), archive])));
    engine.stream.push(null);
    engine.exit(0);
    expect(await result).toMatchObject({
      status: 'ok',
      exitCode: 0,
      stdout: { encoding: 'utf8', content: '1\n' },
      artifacts: [{ path: 'r.txt', content: 'result' }],
    });
    await runner.settle();
  });

  it("exit 0 without the marker on a stream the engine ended cleanly: the program's error, not a 503", async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    await engine.marker();
    engine.stream.push(frame(1, 'forged\n'));
    engine.stream.push(null);
    engine.exit(0);
    const outcome = await result;
    expect(outcome).toMatchObject({ status: 'error', exitCode: 0, artifacts: [], artifactsTruncated: true });
    expect(outcome.stdout.content).toBe('forged\n');
    expect(outcome.stderr.content).toMatch(/interfered with the sandbox launcher/);
    await runner.settle();
  });

  it('exit 0 without the marker on a stream that broke: 503 engine_unavailable', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    await engine.marker();
    engine.stream.push(frame(1, 'partial'));
    engine.stream.destroy(new Error('read ECONNRESET'));
    engine.exit(0);
    await expect(result).rejects.toBeInstanceOf(EngineUnavailableError);
    await runner.settle();
    expect(engine.state.calls).toContain('remove');
  });

  it('exit 0 without the marker when the engine no longer answers: 503 engine_unavailable', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    await engine.marker();
    engine.stream.push(null);
    engine.state.engineUp = false;
    engine.exit(0);
    await expect(result).rejects.toBeInstanceOf(EngineUnavailableError);
    await runner.settle();
  });

  it('a container removed under the run by someone else: error with a note saying so, no exit code of the program', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    await engine.marker();
    engine.stream.push(frame(1, 'working\n'));
    // As `docker rm -f`, or another server's reaper with the same instance id: killed, then gone.
    engine.state.removed = true;
    killed(engine);
    const outcome = await result;
    expect(outcome).toMatchObject({ status: 'error', exitCode: null, usage: null, stdout: { content: 'working\n' } });
    expect(outcome.stderr.content).toMatch(/sandbox was removed while the program ran, by something other than this run/);
    await runner.settle();
  });

  it('a launcher killed by SIGKILL while its container stays: the exit code stands (the program may have done it)', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    await engine.marker();
    killed(engine);
    expect(await result).toMatchObject({ status: 'error', exitCode: 137 });
    await runner.settle();
  });

  it("keeps the run's slot until its response is delivered, after the container is gone", async () => {
    const engine = scriptedEngine();
    const { runner, admission } = runnerOn(engine.docker);
    let delivered!: () => void;
    const result = runner.run(job, { holdSlotUntil: new Promise<void>((resolve) => (delivered = resolve)) });
    const marker = await engine.marker();
    engine.stream.push(frame(1, Buffer.concat([Buffer.from(marker), await tarOf([file('summary.json', '{"skipped":0}')])])));
    engine.stream.push(null);
    engine.exit(0);
    expect((await result).status).toBe('ok');
    await runner.settle();
    expect(engine.state.calls).toContain('remove');
    expect(admission.inUse).toBe(1);
    delivered();
    await new Promise((r) => setImmediate(r));
    expect(admission.inUse).toBe(0);
  });

  it('kills a run at its deadline: timeout, no exit code, no artifacts', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run({ ...job, timeoutMs: 50 });
    await engine.marker();
    await until(() => engine.state.calls.includes('kill'), 'kill at the deadline');
    killed(engine);
    expect(await result).toMatchObject({
      status: 'timeout',
      timedOut: true,
      exitCode: null,
      artifacts: [],
      message: 'time limit of 50 ms exceeded',
    });
    await runner.settle();
  });

  it('under gVisor, a run at its deadline gets SIGTERM first: its launcher copies out what its relay holds and exits, no SIGKILL', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker, { RUNBOX_RUNTIME: 'runsc' });
    const result = runner.run({ ...job, timeoutMs: 50 });
    await engine.marker();
    await until(() => engine.state.calls.includes('term'), 'SIGTERM at the deadline');
    // What the launcher drains out of its pipes after the SIGTERM, then its exit (128 + SIGTERM).
    engine.stream.push(frame(1, 'written just before the deadline\n'));
    engine.stream.push(null);
    engine.exit(143);
    expect(await result).toMatchObject({
      status: 'timeout',
      timedOut: true,
      exitCode: null,
      stdout: { encoding: 'utf8', content: 'written just before the deadline\n' },
    });
    expect(engine.state.calls).not.toContain('kill');
    await runner.settle();
  });

  it('under gVisor, a launcher that has not exited within its share of the kill grace gets SIGKILL', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker, { RUNBOX_RUNTIME: 'runsc', RUNBOX_KILL_GRACE_MS: '100' });
    const result = runner.run({ ...job, timeoutMs: 50 });
    await engine.marker();
    await until(() => engine.state.calls.includes('kill'), 'SIGKILL once the drain grace is over');
    expect(engine.state.calls.indexOf('term')).toBeLessThan(engine.state.calls.indexOf('kill'));
    killed(engine);
    expect(await result).toMatchObject({ status: 'timeout', timedOut: true, exitCode: null });
    await runner.settle();
  });

  it('a run that exited before its deadline is not a timeout, even if its output is still arriving then', async () => {
    // The run's clock is the test's: its deadline passes, and its kill grace does not, because the test says so.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    try {
      const engine = scriptedEngine();
      const { runner } = runnerOn(engine.docker, { RUNBOX_KILL_GRACE_MS: '2000' });
      const result = runner.run({ ...job, timeoutMs: 100 });
      const marker = await engine.marker();
      engine.exit(0);
      await jest.advanceTimersByTimeAsync(150);
      engine.stream.push(frame(1, Buffer.concat([Buffer.from(marker), await tarOf([file('summary.json', '{"skipped":0}')])])));
      engine.stream.push(null);
      expect(await result).toMatchObject({ status: 'ok', timedOut: false, exitCode: 0, message: null });
      expect(engine.state.calls).not.toContain('kill');
      await runner.settle();
    } finally {
      jest.useRealTimers();
    }
  });

  it('kills a run that floods its output: output_limit, what was kept is capped', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker, { RUNBOX_MAX_OUTPUT_BYTES: '1000', RUNBOX_OUTPUT_KILL_BYTES: '5000' });
    const result = runner.run(job);
    await engine.marker();
    for (let i = 0; i < 10; i++) engine.stream.push(frame(1, 'x'.repeat(1000)));
    await until(() => engine.state.calls.includes('kill'), 'kill for the flood');
    killed(engine);
    const outcome = await result;
    expect(outcome).toMatchObject({
      status: 'output_limit',
      exitCode: null,
      stdoutTruncated: true,
      message: 'output limit of 4.9 KB exceeded (stdout and stderr together; the program was killed)',
    });
    expect(outcome.stdout.content).toHaveLength(1000);
    await runner.settle();
  });

  it('reports an exit by SIGKILL as oom when the engine says the kernel did it, else as error 137', async () => {
    for (const oomKilled of [true, false]) {
      const engine = scriptedEngine();
      engine.state.oomKilled = oomKilled;
      const { runner } = runnerOn(engine.docker);
      const result = runner.run(job);
      await engine.marker();
      killed(engine);
      expect(await result).toMatchObject({
        status: oomKilled ? 'oom' : 'error',
        exitCode: 137,
        oomKilled,
        // The program's own stderr says why it failed; only a limit the service enforced is named.
        message: oomKilled ? `memory limit of ${job.memoryMb} MB exceeded (the program was killed)` : null,
      });
      await runner.settle();
    }
  });

  it('kills the run when its client leaves while it runs', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const client = new AbortController();
    const result = runner.run(job, { cancel: client.signal });
    await engine.marker();
    client.abort();
    await until(() => engine.state.calls.includes('kill'), 'kill for the departed client');
    killed(engine);
    await result;
    await runner.settle();
    expect(engine.state.calls).toContain('remove');
  });

  it('a client that leaves while queued creates nothing; one already gone never queues', async () => {
    const engine = scriptedEngine();
    const { runner, admission } = runnerOn(engine.docker);
    const held = admission.tryAcquire()!;
    const client = new AbortController();
    const queued = runner.run(job, { cancel: client.signal });
    await until(() => admission.queued === 1, 'the run queued');
    client.abort();
    await expect(queued).rejects.toBeInstanceOf(ClientGoneError);
    await expect(runner.run(job, { cancel: AbortSignal.abort() })).rejects.toBeInstanceOf(ClientGoneError);
    expect(admission.queued).toBe(0);
    held.release();
    await runner.settle();
    expect(engine.state.calls).not.toContain('create');
  });

  it('on stop: a run still going after the grace period is killed and ends as shutting_down; new runs are refused', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker);
    const result = runner.run(job);
    await engine.marker();
    const stopped = runner.stop(0);
    await until(() => engine.state.calls.includes('kill'), 'kill on shutdown');
    killed(engine);
    await expect(result).rejects.toBeInstanceOf(ShuttingDownError);
    await stopped;
    await expect(runner.run(job)).rejects.toBeInstanceOf(ShuttingDownError);
    expect(engine.state.calls).toContain('remove');
  });

  it('gives up on an engine that hangs: its wait never answers after the stream ended, 503', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker, { RUNBOX_DOCKER_CALL_TIMEOUT_MS: '100' });
    const result = runner.run(job);
    await engine.marker();
    engine.stream.push(null);
    await expect(result).rejects.toThrow(/stopped answering/);
    await runner.settle();
  });

  it('gives up on an engine that hangs with its stream open, once the run could no longer be reported in time', async () => {
    const engine = scriptedEngine();
    const { runner } = runnerOn(engine.docker, { RUNBOX_DOCKER_CALL_TIMEOUT_MS: '100', RUNBOX_KILL_GRACE_MS: '0' });
    const result = runner.run({ ...job, timeoutMs: 50 });
    await engine.marker();
    await expect(result).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(engine.state.calls).toContain('kill');
    await runner.settle();
  });

  it('a start that fails leaves nothing: the attach stream is destroyed, the container removed, the slot freed', async () => {
    const engine = scriptedEngine();
    engine.state.startFails = true;
    const { runner, admission } = runnerOn(engine.docker);
    await expect(runner.run(job)).rejects.toThrow(/start failed/);
    await runner.settle();
    expect(engine.state.attached?.destroyed).toBe(true);
    expect(engine.state.calls).toEqual(['create', 'attach', 'start', 'remove']);
    expect(admission.inUse).toBe(0);
  });
});
