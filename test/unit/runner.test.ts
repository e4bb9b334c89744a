/**
 * Runner.execute against a scripted engine: the test plays the container's side of the attach stream and
 * decides when `wait` answers, so rules that no real program can provoke are checked without Docker.
 */
import { Duplex } from 'node:stream';
import { extract } from 'tar-stream';
import type { DockerClient } from '../../src/docker/client';
import { EngineUnavailableError } from '../../src/errors';
import { Admission } from '../../src/sandbox/admission';
import type { Job } from '../../src/sandbox/job';
import { Runner } from '../../src/sandbox/runner';
import { silentLog } from '../support/app';
import { testConfig } from '../support/config';
import { file, tarOf } from '../support/tar';

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
  const state = { engineUp: true, calls: [] as string[] };
  const call = async (name: string) => {
    state.calls.push(name);
    if (!state.engineUp) throw new EngineUnavailableError('engine gone');
  };
  const docker: DockerClient = {
    ping: () => call('ping'),
    imageExists: async () => true,
    imageId: async () => 'sha256:scripted',
    create: async () => (await call('create'), 'container-1'),
    attach: async () => (await call('attach'), stream),
    start: () => call('start'),
    wait: async () => (await call('wait'), exited),
    inspectExit: async () => ({ exitCode: 0, oomKilled: false }),
    kill: () => call('kill'),
    remove: () => call('remove'),
    listByLabel: async () => [],
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

const job: Job = {
  files: [{ path: 'main.py', data: Buffer.from('print(1)') }],
  entrypoint: 'main.py',
  args: [],
  stdin: Buffer.alloc(0),
  timeoutMs: 5000,
  memoryMb: 512,
};

function runnerOn(docker: DockerClient) {
  const config = testConfig({ RUNBOX_POOL_SIZE: '0', RUNBOX_MAX_CONCURRENT: '1' });
  const admission = new Admission(1, 1);
  return { runner: new Runner(docker, config, admission, config.instanceId, silentLog), admission };
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
});
