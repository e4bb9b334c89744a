/**
 * Dependencies from the operator's wheelhouse, against the real engine: wheels the test writes itself,
 * installed with the network off, reused as a set, and refused when they cannot be met.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { makeKey } from '../../src/keys/api-keys';
import { LABEL_RUN_ID } from '../../src/sandbox/labels';
import { NO_LIMITS, utcDay, type KeyLimits } from '../../src/store/store';
import { testDataDir } from '../support/config';
import { eventually, runContainers, startServer, watchInstance } from '../support/engine';
import { getRecord, postRun } from '../support/http';
import { makeWheel, type WheelSpec } from '../support/wheels';

const CLI = join(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);
const engine = new Docker();

type Server = Awaited<ReturnType<typeof startServer>>;

/** Where a hostile wheel would write on the host, if anything of it ran outside the sandbox. */
const ESCAPE_MARK = join('/tmp', `runbox-wheel-escape-${randomBytes(6).toString('hex')}`);

const WHEELS: WheelSpec[] = [
  { name: 'tiny-dep', version: '1.0' },
  { name: 'tiny-dep', version: '1.2' },
  {
    name: 'tiny-app',
    version: '1.0',
    requires: ['tiny-dep>=1.1'],
    files: { 'tiny_app/__init__.py': 'import tiny_dep\n__version__ = "1.0"\n' },
  },
  { name: 'shared-first', version: '0.1' },
  // Larger unpacked than a run's /tmp (64 MB): the install stages in the set's volume instead.
  { name: 'big-data', version: '1.0', blobs: { 'big_data/blob.bin': randomBytes(96 * 1024 * 1024) } },
  {
    // A wheel has no install-time code; this one tries anyway: a setup.py and a .pth file that write to the host.
    name: 'sneaky',
    version: '1.0',
    files: {
      'sneaky/__init__.py': 'value = 42\n',
      'setup.py': `open(${JSON.stringify(ESCAPE_MARK)}, "w").write("setup.py ran")\n`,
      'sneaky-init.pth': `import os; open(${JSON.stringify(ESCAPE_MARK)}, "w").write(".pth ran")\n`,
    },
  },
];

async function depsVolumes(instanceId: string): Promise<string[]> {
  const listed = await engine.listVolumes({ filters: JSON.stringify({ label: [`runbox.deps-volume=${instanceId}`] }) });
  return (listed.Volumes ?? []).map((v) => v.Name);
}

describe('dependencies from the wheelhouse', () => {
  let server: Server;
  let wheelhouse: string;
  beforeAll(async () => {
    const source = testDataDir();
    wheelhouse = testDataDir();
    // The operator's part: the folder is open to the sandbox user.
    chmodSync(wheelhouse, 0o755);
    const files = WHEELS.map((spec) => {
      const { file, bytes } = makeWheel(spec);
      writeFileSync(join(source, file), bytes);
      return join(source, file);
    });
    // The operator's way in: `runbox packages add`, which checks each wheel.
    await run(process.execPath, [CLI, 'packages', 'add', ...files], { env: { PATH: process.env.PATH, RUNBOX_WHEELHOUSE: wheelhouse } });
    server = await startServer({ RUNBOX_WHEELHOUSE: wheelhouse, RUNBOX_POOL_SIZE: '1', RUNBOX_MAX_CONCURRENT: '4' });
  });
  afterAll(async () => {
    await server.close();
    for (const volume of await depsVolumes(server.config.instanceId))
      await engine
        .getVolume(volume)
        .remove()
        .catch(() => undefined);
  });

  it('`runbox packages list` shows the wheels', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'packages', 'list'], {
      env: { PATH: process.env.PATH, RUNBOX_WHEELHOUSE: wheelhouse },
    });
    expect(stdout).toMatch(/tiny-app\s+1\.0\s+tiny_app-1\.0-py3-none-any\.whl\s+tiny-dep/);
    expect(stdout).toMatch(/tiny-dep\s+1\.2/);
  });

  it('installs a package and its dependency chain offline, then reuses the set without installing again', async () => {
    const body = { code: 'import tiny_app, tiny_dep; print(tiny_app.__version__, tiny_dep.__version__)', dependencies: ['tiny-app'] };
    const first = await postRun(server.url, body);
    expect(first.status).toBe(200);
    expect(first.body.stdout).toBe('1.0 1.2\n');
    expect(first.body.dependencies).toEqual([
      { name: 'tiny-app', version: '1.0', source: 'wheelhouse' },
      { name: 'tiny-dep', version: '1.2', source: 'wheelhouse' },
    ]);
    expect(first.body.install_ms).toBeGreaterThan(0);
    const installs = server.runner.dependencySets.installs;
    const again = await postRun(server.url, body);
    expect(again.body.stdout).toBe('1.0 1.2\n');
    expect(again.body.install_ms).toBe(0);
    expect(server.runner.dependencySets.installs).toBe(installs);
    expect(await depsVolumes(server.config.instanceId)).toHaveLength(1);
  });

  it("installs a set larger than a run's /tmp", async () => {
    const res = await postRun(server.url, {
      code: 'import os, big_data; print(os.path.getsize(os.path.join(os.path.dirname(big_data.__file__), "blob.bin")))',
      dependencies: ['big-data'],
      timeout_ms: 120_000,
    });
    expect(res.body.stdout).toBe(`${96 * 1024 * 1024}\n`);
  });

  it("an installed set's run takes a warm member: every sandbox mounts the set volume", async () => {
    const body = { code: 'import tiny_dep; print(tiny_dep.__version__)', dependencies: ['tiny-dep==1.2'] };
    expect((await postRun(server.url, body)).body.stdout).toBe('1.2\n');
    // The warm member was started before this set existed; it finds it all the same.
    expect(await eventually(async () => server.runner.pool.size === 1)).toBe(true);
    const [member] = server.runner.pool.idleContainerIds();
    const memberRun = (await engine.getContainer(member).inspect()).Config.Labels['runbox.run-id'];
    const again = await postRun(server.url, body);
    expect(again.body).toMatchObject({ id: memberRun, stdout: '1.2\n', install_ms: 0 });
  });

  it('honours a version pin', async () => {
    const pinned = await postRun(server.url, { code: 'import tiny_dep; print(tiny_dep.__version__)', dependencies: ['tiny-dep==1.0'] });
    expect(pinned.body.stdout).toBe('1.0\n');
  });

  it('takes a package the image has without installing anything', async () => {
    const installs = server.runner.dependencySets.installs;
    const res = await postRun(server.url, { code: 'import numpy; print(numpy.__name__)', dependencies: ['numpy>=1.0'] });
    expect(res.body.stdout).toBe('numpy\n');
    expect(res.body.dependencies).toEqual([{ name: 'numpy', version: expect.any(String), source: 'image' }]);
    expect(res.body.install_ms).toBe(0);
    expect(server.runner.dependencySets.installs).toBe(installs);
  });

  it('refuses what cannot be met, and hostile strings, with a 400 naming them and no container created', async () => {
    // A server of its own without a warm pool, so that no container is made in the background meanwhile.
    const quiet = await startServer({ RUNBOX_WHEELHOUSE: wheelhouse, RUNBOX_POOL_SIZE: '0' });
    const watch = await watchInstance(quiet.config.instanceId);
    try {
      const unknown = await postRun(quiet.url, { code: 'print(1)', dependencies: ['no-such-package'] });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toBe('dependencies: no-such-package cannot be satisfied: the wheelhouse has no wheel of it');
      const tooNew = await postRun(quiet.url, { code: 'print(1)', dependencies: ['tiny-dep>=2'] });
      expect(tooNew.body.error.message).toBe('dependencies: tiny-dep>=2 cannot be satisfied: the wheelhouse has 1.0, 1.2');
      for (const hostile of [
        '--index-url=http://127.0.0.1:9/simple',
        '-e /wheelhouse',
        'tiny-dep @ file:///etc/passwd',
        '../tiny_dep-1.0-py3-none-any.whl',
      ]) {
        const res = await postRun(quiet.url, { code: 'print(1)', dependencies: [hostile] });
        expect(res.status).toBe(400);
        expect(res.body.error.message).toContain(`dependencies[0] ${JSON.stringify(hostile)}`);
      }
      // A run the server does start, after all of those: the engine reports events in order, so once its
      // container's creation is seen, any container made for the refused requests would have been seen first.
      const after = await postRun(quiet.url, { code: 'print("after")' });
      expect(after.body.stdout).toBe('after\n');
      await watch.next((e) => e.action === 'create' && e.labels[LABEL_RUN_ID] === after.body.id);
      expect(watch.events.filter((e) => e.action === 'create').map((e) => e.labels[LABEL_RUN_ID])).toEqual([after.body.id]);
    } finally {
      watch.close();
      await quiet.close();
    }
  });

  it('runs nothing of a wheel outside the sandbox, and gives a run neither the wheelhouse, nor a writable set, nor the other sets', async () => {
    const attempt = (what: string, call: string) => [
      `try:`,
      `    ${call}`,
      `except OSError as e:`,
      `    print(${JSON.stringify(what)}, e.errno)`,
    ];
    const res = await postRun(server.url, {
      code: [
        'import os, sneaky',
        'print(sneaky.value, os.path.exists("/wheelhouse"))',
        ...attempt('write a set', 'open(os.path.join(os.path.dirname(sneaky.__path__[0]), "planted.py"), "w")'),
        ...attempt('write the volume', 'open("/opt/deps/planted.py", "w")'),
        ...attempt('list the sets', 'os.listdir("/opt/deps")'),
      ].join('\n'),
      dependencies: ['sneaky'],
    });
    // EROFS for writes (the mount is read-only), EACCES for the listing (the volume's root is the installer's, 0711).
    expect(res.body.stdout).toBe('42 False\nwrite a set 30\nwrite the volume 30\nlist the sets 13\n');
    expect(existsSync(ESCAPE_MARK)).toBe(false);
    // A run without dependencies has the volume mounted too, and finds nothing in it either.
    const plain = await postRun(server.url, { code: ['import os', ...attempt('list the sets', 'os.listdir("/opt/deps")')].join('\n') });
    expect(plain.body.stdout).toBe('list the sets 13\n');
  });

  it('concurrent first uses of one set share one install', async () => {
    const installsBefore = server.runner.dependencySets.installs;
    const body = { code: 'import shared_first; print("ok")', dependencies: ['shared-first'] };
    const runs = await Promise.all([postRun(server.url, body), postRun(server.url, body), postRun(server.url, body)]);
    expect(runs.map((r) => r.body.stdout)).toEqual(['ok\n', 'ok\n', 'ok\n']);
    expect(server.runner.dependencySets.installs).toBe(installsBefore + 1);
    // Nothing left but the warm member.
    expect(await eventually(async () => (await runContainers()).length <= 1)).toBe(true);
  });

  it('a wheel replaced in the wheelhouse makes a new set: the next run installs it again', async () => {
    const body = {
      code: 'import tiny_dep; print(tiny_dep.__version__, getattr(tiny_dep, "patched", False))',
      dependencies: ['tiny-dep==1.0'],
    };
    expect((await postRun(server.url, body)).body).toMatchObject({ stdout: '1.0 False\n', install_ms: 0 });
    const source = testDataDir();
    const { file, bytes } = makeWheel({
      name: 'tiny-dep',
      version: '1.0',
      files: { 'tiny_dep/__init__.py': '__version__ = "1.0"\npatched = True\n' },
    });
    writeFileSync(join(source, file), bytes);
    await run(process.execPath, [CLI, 'packages', 'add', join(source, file)], {
      env: { PATH: process.env.PATH, RUNBOX_WHEELHOUSE: wheelhouse },
    });
    // The server looks at the folder again at most once a second: until it has, it lists the old wheel.
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const listed = async () =>
      ((await (await fetch(`${server.url}/v1/packages`)).json()) as { wheelhouse: { file: string; sha256: string }[] }).wheelhouse;
    expect(await eventually(async () => (await listed()).some((w) => w.file === file && w.sha256 === sha256))).toBe(true);
    const replaced = await postRun(server.url, body);
    expect(replaced.body.stdout).toBe('1.0 True\n');
    expect(replaced.body.install_ms).toBeGreaterThan(0);
  });

  it("seed 001's POST /api/run takes dependencies from the wheelhouse too, and refuses an unavailable one naming it", async () => {
    const post = (body: object) =>
      fetch(`${server.url}/api/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await post({
      script: 'import tiny_app, tiny_dep; print(tiny_app.__version__, tiny_dep.__version__)',
      dependencies: ['tiny-app'],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ exit_code: 0, stdout: '1.0 1.2\n', stderr: '', artifacts: {} });
    const missing = await post({ script: 'print(1)', dependencies: ['tiny-dep>=2'] });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: 'dependencies: tiny-dep>=2 cannot be satisfied: the wheelhouse has 1.0, 1.2' });
  });

  it('GET /v1/packages lists the image and the wheelhouse', async () => {
    const listed = (await (await fetch(`${server.url}/v1/packages`)).json()) as {
      install: boolean;
      image: { name: string }[];
      wheelhouse: { name: string; version: string; requires: string[] }[];
    };
    expect(listed.install).toBe(true);
    expect(listed.image.map((d) => d.name)).toEqual(expect.arrayContaining(['numpy', 'pandas', 'pip']));
    expect(listed.wheelhouse).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'tiny-app', version: '1.0', requires: ['tiny-dep>=1.1'] })]),
    );
  });

  // Last: once the store has a key, the keyless requests above would be refused.
  describe('with stored keys', () => {
    const addKey = async (name: string, limits: Partial<KeyLimits> = {}) => {
      const made = makeKey({ name, env: 'test', limits: { ...NO_LIMITS, ...limits } });
      await server.store.addKey(made.record);
      return { key: made.key, id: made.record.id };
    };
    const runAs = (key: string, body: object) =>
      postRun(server.url, body, { headers: { 'content-type': 'application/json', 'x-api-key': key } });

    it("an install is part of its run: one cut short by the run's timeout counts against the key's day and is in its audit trail", async () => {
      const { key, id } = await addKey('installs', { dailyRuns: 5 });
      const res = await runAs(key, { code: 'import big_data', dependencies: ['big-data'], timeout_ms: 300 });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/installing them took longer than timeout_ms/);
      // On the previous main the day's run was given back and nothing was recorded: installs were free.
      expect(await server.store.runsOn(id, utcDay(Date.now()))).toBe(1);
      const runId = res.headers.get('x-runbox-run-id')!;
      const record = await getRecord(server.url, runId, key);
      expect(record.status).toBe(200);
      expect(record.body).toMatchObject({ id: runId, status: 'invalid_request', exit_code: null });
    });

    it("a key's sets are its own: install_ms never says what another key installed", async () => {
      const first = await addKey('first');
      const second = await addKey('second');
      const body = { code: 'import tiny_dep; print(tiny_dep.__version__)', dependencies: ['tiny-dep==1.2'] };
      expect((await runAs(first.key, body)).body).toMatchObject({ stdout: '1.2\n', install_ms: expect.any(Number) });
      expect((await runAs(first.key, body)).body.install_ms).toBe(0);
      // On the previous main this was 0: the first key's set, telling the second that someone had used it.
      const theirs = await runAs(second.key, body);
      expect(theirs.body.stdout).toBe('1.2\n');
      expect(theirs.body.install_ms).toBeGreaterThan(0);
    });
  });
});
