/** Dependency sets with a scripted engine: one install per set, failures leave nothing, LRU eviction, clear at stop. */
import { PassThrough } from 'node:stream';
import type { DockerClient } from '../../src/docker/client';
import { InvalidRequestError } from '../../src/errors';
import type { WheelhouseEntry } from '../../src/packages/wheelhouse';
import { Admission } from '../../src/sandbox/admission';
import { DependencySets } from '../../src/sandbox/dependency-sets';
import { silentLog } from '../support/app';
import { testConfig, testDataDir } from '../support/config';
import { chmodSync } from 'node:fs';

function scriptedEngine(exitCode = 0, output = '', waitMs = 20) {
  const volumes = new Set<string>();
  const calls: string[] = [];
  const specs: { Entrypoint?: string[] | string; HostConfig?: { Mounts?: { Source?: string; ReadOnly?: boolean }[] } }[] = [];
  let containers = 0;
  /** Like the engine: a volume a container (even a stopped one) still mounts cannot be removed. */
  const mountedBy = new Map<string, string>();
  const docker = {
    create: async (spec: (typeof specs)[number]) => {
      calls.push('create');
      specs.push(spec);
      const id = `c${++containers}`;
      for (const m of spec.HostConfig?.Mounts ?? []) if (m.Source && volumes.has(m.Source)) mountedBy.set(m.Source, id);
      return id;
    },
    attach: async () => {
      const stream = new PassThrough();
      const header = Buffer.alloc(8);
      header[0] = 2;
      header.writeUInt32BE(Buffer.byteLength(output), 4);
      stream.push(Buffer.concat([header, Buffer.from(output)]));
      return stream;
    },
    start: async () => void calls.push('start'),
    wait: async () => (await new Promise((r) => setTimeout(r, waitMs)), exitCode),
    kill: async () => void calls.push('kill'),
    remove: async (id: string) => {
      calls.push('remove');
      for (const [volume, user] of mountedBy) if (user === id) mountedBy.delete(volume);
    },
    createVolume: async (name: string) => void volumes.add(name),
    removeVolume: async (name: string) => {
      if (mountedBy.has(name)) throw Object.assign(new Error('volume is in use'), { statusCode: 409 });
      volumes.delete(name);
    },
    listVolumes: async () => [...volumes],
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

function sets(env: Record<string, string> = {}, exitCode = 0, output = '', waitMs = 20) {
  const wheelhouse = testDataDir();
  chmodSync(wheelhouse, 0o755);
  const engine = scriptedEngine(exitCode, output, waitMs);
  const config = testConfig({ RUNBOX_WHEELHOUSE: wheelhouse, ...env });
  const live: string[] = [];
  const deps = new DependencySets(engine.docker, config, silentLog, async (runId, work) => {
    live.push(runId);
    return work();
  });
  return { deps, engine, admission: new Admission(4, 4), live };
}

const far = () => Date.now() + 60_000;
const never = new AbortController().signal;

describe('dependency sets', () => {
  it('installs a set once with pip on explicit files, read-write only for the install, and shares it', async () => {
    const { deps, engine, admission, live } = sets();
    const slot = await admission.acquire(far());
    const [a, b] = await Promise.all([
      deps.prepare([wheel('x-1.0-py3-none-any.whl')], slot, far(), never),
      deps.prepare([wheel('x-1.0-py3-none-any.whl')], slot, far(), never),
    ]);
    expect(a.volume).toBe(b.volume);
    expect(deps.installs).toBe(1);
    expect(live).toHaveLength(1);
    expect(engine.specs[0].Entrypoint).toEqual(expect.arrayContaining(['--no-index', '--no-deps', '/wheelhouse/x-1.0-py3-none-any.whl']));
    expect(engine.specs[0].HostConfig?.Mounts?.map((m) => m.ReadOnly)).toEqual([false, true]);
    expect(engine.calls.filter((c) => c === 'remove')).toHaveLength(1);
    const again = await deps.prepare([wheel('x-1.0-py3-none-any.whl')], slot, far(), never);
    expect(again.installMs).toBe(0);
    expect(deps.installs).toBe(1);
  });

  it('a failed install is a 400 with pip’s words, and leaves no volume and no container', async () => {
    const { deps, engine, admission } = sets({}, 1, 'ERROR: no such file\n');
    const slot = await admission.acquire(far());
    const failed = await deps.prepare([wheel('y-1.0-py3-none-any.whl')], slot, far(), never).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(InvalidRequestError);
    expect((failed as Error).message).toMatch(/pip could not install y-1\.0-py3-none-any\.whl \(exit 1\): ERROR: no such file/);
    expect(engine.volumes.size).toBe(0);
    expect(engine.calls.filter((c) => c === 'remove')).toHaveLength(1);
    expect(deps.size).toBe(0);
  });

  it('keeps at most RUNBOX_DEPS_CACHE_SETS sets, dropping the least recently used one not in use', async () => {
    const { deps, engine, admission } = sets({ RUNBOX_DEPS_CACHE_SETS: '2' });
    const slot = await admission.acquire(far());
    const use = async (file: string) => (await deps.prepare([wheel(file)], slot, far(), never)).release();
    await use('a-1-py3-none-any.whl');
    await use('b-1-py3-none-any.whl');
    const held = await deps.prepare([wheel('c-1-py3-none-any.whl')], slot, far(), never);
    await new Promise((r) => setImmediate(r));
    expect(deps.size).toBe(2);
    expect([...engine.volumes].some((v) => v.endsWith(DependencySets.key([wheel('a-1-py3-none-any.whl')])))).toBe(false);
    held.release();
    await deps.clear();
    expect(engine.volumes.size).toBe(0);
  });

  it('a set is named by its wheels’ content: the same file name with other bytes is another set', () => {
    const one = DependencySets.key([wheel('a-1-py3-none-any.whl')]);
    const other = DependencySets.key([{ ...wheel('a-1-py3-none-any.whl'), sha256: 'f'.repeat(64) }]);
    expect(one).not.toBe(other);
    expect(DependencySets.key([wheel('a'), wheel('b')])).toBe(DependencySets.key([wheel('b'), wheel('a')]));
  });

  it('a run waiting on another run’s install that gave up installs the set itself', async () => {
    const { deps, engine, admission } = sets({}, 0, '', 200);
    const [slotA, slotB] = [await admission.acquire(far()), await admission.acquire(far())];
    const leaving = new AbortController();
    const first = deps.prepare([wheel('z-1-py3-none-any.whl')], slotA, far(), leaving.signal);
    await new Promise((r) => setTimeout(r, 20));
    const second = deps.prepare([wheel('z-1-py3-none-any.whl')], slotB, far(), never);
    await new Promise((r) => setTimeout(r, 50));
    leaving.abort();
    await expect(first).rejects.toThrow(/cancelled|went away/);
    const got = await second;
    expect(got.installMs).toBeGreaterThan(0);
    expect(deps.installs).toBe(1);
    // The abandoned attempt's volume went with it; only the good one is left.
    expect([...engine.volumes]).toEqual([got.volume]);
  });
});
