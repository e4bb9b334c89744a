/** Dependency sets with a scripted engine: one install per set, failures leave nothing used, LRU eviction, the set volume's life. */
import { chmodSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { DockerClient } from '../../src/docker/client';
import { EngineUnavailableError, InvalidRequestError } from '../../src/errors';
import type { WheelhouseEntry } from '../../src/packages/wheelhouse';
import type { Slot } from '../../src/sandbox/admission';
import { DependencySets, InstallSpentError } from '../../src/sandbox/dependency-sets';
import { INSTALLER_UID } from '../../src/sandbox/protocol';
import { SandboxFactory } from '../../src/sandbox/sandboxes';
import { silentLog } from '../support/app';
import { testConfig, testDataDir } from '../support/config';
import { until } from '../support/wait';

type Spec = {
  Entrypoint?: string[];
  User?: string;
  Labels?: Record<string, string>;
  HostConfig?: { Mounts?: { Source?: string; Target?: string; ReadOnly?: boolean }[] };
};

/** An engine frame: [stream, 0, 0, 0, length] then the bytes. */
function frame(stream: 1 | 2, text: string): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(Buffer.byteLength(text), 4);
  return Buffer.concat([header, Buffer.from(text)]);
}

interface Install {
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** The installer runs until it is killed (then exits 137), instead of exiting with `exitCode` after `waitMs`. */
  untilKilled?: boolean;
  /** The engine stops answering: `wait` settles only when its caller gives up on it. */
  engineHangs?: boolean;
}

/** `installs`: what each install container says and exits with, in turn (the last one repeats). */
function scriptedEngine(installs: Install[], waitMs = 20) {
  const volumes = new Map<string, Record<string, string>>();
  const calls: string[] = [];
  const specs: Spec[] = [];
  let containers = 0;
  const killed = new Map<string, { promise: Promise<void>; kill: () => void }>();
  /** What container `id` (c1, c2, ...) does: the installs in turn, the last one repeating. */
  const installOf = (id: string) => installs[Math.min(Number(id.slice(1)), installs.length) - 1];
  const docker = {
    create: async (spec: Spec) => {
      calls.push('create');
      specs.push(spec);
      const id = `c${++containers}`;
      let kill!: () => void;
      killed.set(id, { promise: new Promise<void>((resolve) => (kill = resolve)), kill });
      return id;
    },
    attach: async () => {
      const { stdout = '', stderr = '' } = installs[Math.min(specs.length, installs.length) - 1];
      const stream = new PassThrough();
      stream.push(Buffer.concat([frame(2, stderr), frame(1, stdout)]));
      stream.push(null);
      return stream;
    },
    start: async () => void calls.push('start'),
    wait: async (id: string, signal?: AbortSignal) => {
      const install = installOf(id);
      if (install.engineHangs) {
        return new Promise<number>((_, reject) =>
          signal?.addEventListener('abort', () => reject(new EngineUnavailableError('Docker engine call did not answer in time (wait)')), {
            once: true,
          }),
        );
      }
      if (install.untilKilled) return (await killed.get(id)!.promise, 137);
      await new Promise((r) => setTimeout(r, waitMs));
      return install.exitCode;
    },
    kill: async (id: string) => {
      calls.push('kill');
      killed.get(id)?.kill();
    },
    remove: async () => void calls.push('remove'),
    createVolume: async (name: string, labels: Record<string, string>) => void volumes.set(name, labels),
    removeVolume: async (name: string) => void volumes.delete(name),
    // As the engine's label filter: `key` or `key=value`.
    listVolumes: async (filter: string) => {
      const [key, value] = filter.split('=');
      return [...volumes].filter(([, labels]) => key in labels && (value === undefined || labels[key] === value)).map(([name]) => name);
    },
  } as unknown as DockerClient;
  return { docker, volumes, calls, specs };
}

const wheel = (file: string, size = 1000): WheelhouseEntry =>
  ({
    file,
    sha256: file.padEnd(64, '0'),
    size,
    name: file,
    key: file,
    version: '1.0',
    requires: [],
    requiresPython: null,
    tags: { python: [], abi: [], platform: [] },
  }) as WheelhouseEntry;

const installed = (bytes = 4096): Install => ({ exitCode: 0, stdout: `runbox-set-bytes=${bytes}\n` });

function sets(env: Record<string, string> = {}, installs: Install[] = [installed()], waitMs = 20) {
  const wheelhouse = testDataDir();
  chmodSync(wheelhouse, 0o755);
  const engine = scriptedEngine(installs, waitMs);
  const config = testConfig({ RUNBOX_WHEELHOUSE: wheelhouse, ...env });
  const volume = DependencySets.volumeName(config.instanceId);
  /** For each install container as it starts: whether the reaper would spare it (it counts as live). */
  const live: boolean[] = [];
  const docker = {
    ...engine.docker,
    start: async (id: string) => {
      live.push(factory.isLive(engine.specs[engine.specs.length - 1].Labels!['runbox.run-id']));
      return engine.docker.start(id);
    },
  } as DockerClient;
  const factory = new SandboxFactory(docker, config, silentLog, volume);
  const deps = new DependencySets(docker, config, silentLog, factory, volume);
  return { deps, engine, live, volume, config, factory };
}

const far = () => Date.now() + 60_000;
/** The run's slot an install is made under: it must stay the run's (released by no install). */
const runSlot = (): Slot => ({ index: 0, release: () => (runSlot.released += 1) });
runSlot.released = 0;
const never = new AbortController().signal;
/** The folders an install was told to delete first. */
const removed = (spec: Spec) => (spec.Entrypoint ?? []).flatMap((arg, i, all) => (all[i - 1] === '--remove' ? [arg] : []));
const folderOf = (path: string) => path.split('/').pop()!;

describe('dependency sets', () => {
  it('installs a set once, as the installer, with install.py on explicit files, and shares it', async () => {
    const { deps, engine, live, volume } = sets();
    const [a, b] = await Promise.all([
      deps.prepare([wheel('x-1.0-py3-none-any.whl')], runSlot(), far(), never),
      deps.prepare([wheel('x-1.0-py3-none-any.whl')], runSlot(), far(), never),
    ]);
    expect(a.path).toBe(b.path);
    expect(a.path).toMatch(/^\/opt\/deps\/[0-9a-f]{16}-[0-9a-f]{24}$/);
    expect(deps.installs).toBe(1);
    expect(live).toEqual([true]);
    expect(runSlot.released).toBe(0);
    const [spec] = engine.specs;
    expect(spec.Entrypoint).toEqual(['python3', '-I', '/opt/runbox/install.py', folderOf(a.path), '--', 'x-1.0-py3-none-any.whl']);
    expect(spec.User).toBe(`${INSTALLER_UID}:${INSTALLER_UID}`);
    expect(spec.HostConfig?.Mounts).toEqual([
      expect.objectContaining({ Source: volume, Target: '/opt/deps', ReadOnly: false }),
      expect.objectContaining({ Target: '/wheelhouse', ReadOnly: true }),
    ]);
    expect(engine.calls.filter((c) => c === 'remove')).toHaveLength(1);
    // Installed: taken without a container, and without install time.
    const again = deps.take([wheel('x-1.0-py3-none-any.whl')]);
    expect(again).toMatchObject({ path: a.path, installMs: 0 });
    expect(deps.take([wheel('other-1.0-py3-none-any.whl')])).toBeUndefined();
    expect(engine.specs).toHaveLength(1);
  });

  it('a failed install is a 400 with pip’s words and no set; the next install deletes its folder', async () => {
    const { deps, engine } = sets({}, [{ exitCode: 1, stderr: 'ERROR: no such file\n' }, installed()]);
    const failed = await deps.prepare([wheel('y-1.0-py3-none-any.whl')], runSlot(), far(), never).catch((e: unknown) => e);
    // The run spent a container on it: the error says which, for the run's accounting, around the 400.
    expect(failed).toBeInstanceOf(InstallSpentError);
    const { original, installId } = failed as InstallSpentError;
    expect(original).toBeInstanceOf(InvalidRequestError);
    expect(original.message).toMatch(/pip could not install y-1\.0-py3-none-any\.whl \(exit 1\): ERROR: no such file/);
    expect(engine.specs[0].Labels?.['runbox.run-id']).toBe(installId);
    expect(engine.calls.filter((c) => c === 'remove')).toHaveLength(1);
    expect(deps.size).toBe(0);
    expect(deps.take([wheel('y-1.0-py3-none-any.whl')])).toBeUndefined();
    const halfDone = engine.specs[0].Entrypoint![3];
    await deps.prepare([wheel('y-1.0-py3-none-any.whl')], runSlot(), far(), never);
    expect(removed(engine.specs[1])).toEqual([halfDone]);
  });

  it('an engine that stops answering during an install is given up on once the run could no longer be reported', async () => {
    const { deps, engine } = sets({ RUNBOX_KILL_GRACE_MS: '0', RUNBOX_DOCKER_CALL_TIMEOUT_MS: '1000' }, [
      { exitCode: 0, engineHangs: true },
    ]);
    // The deadline (100 ms) comes well before the bound on a wait once the stream has ended (1 s): the kill is certain.
    // On the previous main this wait had no bound: the install, its run's slot and a shutdown hung for good.
    const failed = await deps.prepare([wheel('h-1.0-py3-none-any.whl')], runSlot(), Date.now() + 100, never).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(InstallSpentError);
    expect((failed as InstallSpentError).original).toBeInstanceOf(EngineUnavailableError);
    expect(engine.calls).toEqual(expect.arrayContaining(['kill', 'remove']));
    expect(deps.size).toBe(0);
  });

  it('an install given up before its container exists is still accounted under an id of its own', async () => {
    const { deps, engine } = sets();
    const failed = await deps.prepare([wheel('g-1.0-py3-none-any.whl')], runSlot(), far(), AbortSignal.abort()).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(InstallSpentError);
    expect((failed as InstallSpentError).installId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(engine.calls).not.toContain('create');
  });

  it('an install that exits 0 without reporting its size is a failure, not a set', async () => {
    const { deps } = sets({}, [{ exitCode: 0, stdout: 'something else\n' }]);
    await expect(deps.prepare([wheel('w-1.0-py3-none-any.whl')], runSlot(), far(), never)).rejects.toThrow(/could not install/);
    expect(deps.size).toBe(0);
  });

  it('keeps at most RUNBOX_DEPS_CACHE_SETS sets, dropping the least recently used one not in use', async () => {
    const { deps, engine } = sets({ RUNBOX_DEPS_CACHE_SETS: '2' });
    const use = async (file: string) => {
      const set = await deps.prepare([wheel(file)], runSlot(), far(), never);
      set.release();
      return folderOf(set.path);
    };
    const a = await use('a-1-py3-none-any.whl');
    const held = await deps.prepare([wheel('b-1-py3-none-any.whl')], runSlot(), far(), never);
    await use('c-1-py3-none-any.whl');
    // b is in use, so a (least recently used) goes, though c is newer.
    expect(deps.size).toBe(2);
    expect(deps.take([wheel('a-1-py3-none-any.whl')])).toBeUndefined();
    const stillB = deps.take([wheel('b-1-py3-none-any.whl')]);
    expect(stillB?.path).toBe(held.path);
    stillB!.release();
    held.release();
    const c = deps.take([wheel('c-1-py3-none-any.whl')])!;
    await use('d-1-py3-none-any.whl');
    // The next install deleted a's folder first; b then went: c is in use, and b was used before d.
    expect(removed(engine.specs[3])).toEqual([a]);
    expect(deps.take([wheel('b-1-py3-none-any.whl')])).toBeUndefined();
    expect(deps.size).toBe(2);
    c.release();
  });

  it('bounds the sets by their size on disk as install.py measured it, not by their wheels', async () => {
    const { deps } = sets({ RUNBOX_DEPS_CACHE_MB: '1' }, [installed(700 * 1024)]);
    (await deps.prepare([wheel('a-1-py3-none-any.whl', 10)], runSlot(), far(), never)).release();
    (await deps.prepare([wheel('b-1-py3-none-any.whl', 10)], runSlot(), far(), never)).release();
    expect(deps.size).toBe(1);
    expect(deps.take([wheel('b-1-py3-none-any.whl', 10)])).toBeDefined();
  });

  it("a set is its tenant's: another key installs its own, so install_ms tells nothing of other keys", async () => {
    const { deps, engine } = sets();
    const mine = await deps.prepare([wheel('z-1.0-py3-none-any.whl')], runSlot(), far(), never, 'key-a');
    expect(deps.take([wheel('z-1.0-py3-none-any.whl')], 'key-b')).toBeUndefined();
    const theirs = await deps.prepare([wheel('z-1.0-py3-none-any.whl')], runSlot(), far(), never, 'key-b');
    expect(theirs.installMs).toBeGreaterThan(0);
    expect(theirs.path).not.toBe(mine.path);
    expect(engine.specs).toHaveLength(2);
    expect(deps.take([wheel('z-1.0-py3-none-any.whl')], 'key-a')).toMatchObject({ path: mine.path, installMs: 0 });
  });

  it('a set is named by its wheels’ content: the same file name with other bytes is another set', () => {
    const one = DependencySets.key([wheel('a-1-py3-none-any.whl')]);
    const other = DependencySets.key([{ ...wheel('a-1-py3-none-any.whl'), sha256: 'f'.repeat(64) }]);
    expect(one).not.toBe(other);
    expect(DependencySets.key([wheel('a'), wheel('b')])).toBe(DependencySets.key([wheel('b'), wheel('a')]));
  });

  it('a run waiting on another run’s install that gave up installs the set itself', async () => {
    const { deps, engine } = sets({}, [{ ...installed(), untilKilled: true }, installed()]);
    const leaving = new AbortController();
    const first = deps.prepare([wheel('z-1-py3-none-any.whl')], runSlot(), far(), leaving.signal);
    // Its install runs...
    await until(() => engine.calls.includes('start'), "the first run's install started");
    // ...when a second run of the set comes to wait on it, and the first run's client leaves.
    const second = deps.prepare([wheel('z-1-py3-none-any.whl')], runSlot(), far(), never);
    leaving.abort();
    await expect(first).rejects.toThrow(/cancelled|went away/);
    const got = await second;
    expect(got.installMs).toBeGreaterThan(0);
    expect(deps.installs).toBe(1);
    // The abandoned attempt's folder is deleted by the install that replaced it.
    expect(removed(engine.specs[1])).toEqual([engine.specs[0].Entrypoint![3]]);
  });

  it('opens by removing what a predecessor of this instance left, and clears by removing its own volume', async () => {
    const { deps, engine, volume, config } = sets();
    const label = { 'runbox.deps-volume': config.instanceId };
    engine.volumes.set(`runbox-deps-${config.instanceId}-0badf00d`, label);
    engine.volumes.set('runbox-deps-another-instance-0badf00d', { 'runbox.deps-volume': 'another-instance' });
    // An instance whose id starts with this one's: its name has this one's prefix, its label does not match.
    const longer = `runbox-deps-${config.instanceId}-b-0badf00d`;
    engine.volumes.set(longer, { 'runbox.deps-volume': `${config.instanceId}-b` });
    await deps.open();
    expect([...engine.volumes.keys()].sort()).toEqual(['runbox-deps-another-instance-0badf00d', longer, volume].sort());
    await deps.clear();
    expect([...engine.volumes.keys()].sort()).toEqual(['runbox-deps-another-instance-0badf00d', longer].sort());
  });
});
