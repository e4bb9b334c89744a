import { containerSpec, installCommand, leaseContainerSpec, tmpfsMb } from '../../src/sandbox/container-spec';
import { REMOVED_SYSCALLS } from '../../src/sandbox/seccomp';
import engineDefault from '../../src/sandbox/seccomp/docker-default.json';

const settings = {
  image: 'runbox-python:abc',
  runtime: 'runc',
  uid: 10003,
  memoryMb: 512,
  preload: [] as string[],
  cpus: 1.5,
  pidsLimit: 128,
  workspaceMb: 64,
  tmpMb: 64,
  labels: { 'runbox.run-id': 'r1' },
};

describe('containerSpec', () => {
  const spec = containerSpec(settings);
  const host = spec.HostConfig!;

  it('gives the container no network at all', () => {
    expect(host.NetworkMode).toBe('none');
    expect(spec.NetworkDisabled).toBe(true);
  });

  it('makes the root filesystem read-only with size-bounded, nosuid, noexec tmpfs scratch space', () => {
    expect(host.ReadonlyRootfs).toBe(true);
    expect(Object.keys(host.Tmpfs!).sort()).toEqual(['/dev/shm', '/tmp', '/workspace']);
    for (const options of Object.values(host.Tmpfs!)) {
      expect(options).toMatch(/size=(64|16)m/);
      expect(options).toMatch(/nosuid/);
      expect(options).toMatch(/nodev/);
      expect(options).toMatch(/noexec/);
      expect(options).toMatch(/nr_inodes=\d+/);
    }
  });

  it('bounds memory with no swap, processes and CPU', () => {
    expect(host.Memory).toBe(512 * 1024 * 1024);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.PidsLimit).toBe(128);
    expect(host.NanoCpus).toBe(1.5e9);
    expect(host.Ulimits!.map((u) => u.Name)).toEqual(['nofile', 'core']);
  });

  it("under runsc, bounds the run's tasks by RLIMIT_NPROC too: the pids limit counts gVisor's host threads, not them", () => {
    const gvisor = containerSpec({ ...settings, runtime: 'runsc' }).HostConfig!;
    // The host's limit bounds gVisor's own threads (several per process), with room for them.
    expect(gvisor.PidsLimit).toBe(4 * 128 + 128);
    expect(gvisor.Ulimits).toContainEqual({ Name: 'nproc', Soft: 128, Hard: 128 });
  });

  it('drops every capability, forbids privilege gain and runs as the non-root sandbox user', () => {
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toEqual([]);
    expect(host.SecurityOpt![0]).toBe('no-new-privileges');
    expect(host.Privileged).toBe(false);
    expect(spec.User).toBe('10003:10001');
  });

  it("owns the scratch spaces by the run's own uid", () => {
    for (const options of Object.values(host.Tmpfs!)) expect(options).toMatch(/uid=10003,gid=10001,mode=0700/);
  });

  it("applies the engine's default seccomp profile without io_uring, and nothing else changed", () => {
    const option = host.SecurityOpt!.find((o: string) => o.startsWith('seccomp='))!;
    const applied = JSON.parse(option.slice('seccomp='.length)) as typeof engineDefault;
    const names = (p: typeof engineDefault) => p.syscalls.flatMap((rule) => rule.names);
    expect(names(engineDefault)).toEqual(expect.arrayContaining(REMOVED_SYSCALLS));
    expect(names(applied)).not.toEqual(expect.arrayContaining([expect.stringMatching(/^io_uring/)]));
    expect(names(applied)).toEqual(names(engineDefault).filter((n) => !n.startsWith('io_uring')));
    expect({ ...applied, syscalls: applied.syscalls.map(({ names: _n, ...rule }) => rule) }).toEqual({
      ...engineDefault,
      syscalls: engineDefault.syscalls.map(({ names: _n, ...rule }) => rule),
    });
  });

  it('under runsc, lets clone3 reach gVisor (its filter would answer EPERM, not ENOSYS, and no thread could start); nothing else changes', () => {
    const profileOf = (runtime: string) => {
      const option = containerSpec({ ...settings, runtime }).HostConfig!.SecurityOpt!.find((o: string) => o.startsWith('seccomp='))!;
      return JSON.parse(option.slice('seccomp='.length)) as typeof engineDefault;
    };
    const runc = profileOf('runc');
    const runsc = profileOf('runsc');
    expect(runc.syscalls.find((rule) => rule.names.includes('clone3') && rule.action !== 'SCMP_ACT_ALLOW')).toMatchObject({
      action: 'SCMP_ACT_ERRNO',
      errnoRet: 38,
    });
    const changed = runsc.syscalls.filter((rule, i) => JSON.stringify(rule) !== JSON.stringify(runc.syscalls[i]));
    expect(changed).toEqual([expect.objectContaining({ names: ['clone3'], action: 'SCMP_ACT_ALLOW' })]);
    expect(changed[0]).not.toHaveProperty('errnoRet');
    expect({ ...runsc, syscalls: [] }).toEqual({ ...runc, syscalls: [] });
  });

  it('runs an init, keeps no logs, mounts nothing from the host and passes no environment', () => {
    expect(host.Init).toBe(true);
    expect(host.LogConfig).toEqual({ Type: 'none', Config: {} });
    expect(host.Binds).toEqual([]);
    expect(host.Mounts).toEqual([]);
    expect(host.Devices).toEqual([]);
    expect(spec.Env).toEqual([]);
  });

  it("passes the preload modules as the launcher's one argument, and nothing on the plain path", () => {
    expect(spec.Cmd).toEqual([]);
    expect(containerSpec({ ...settings, preload: ['numpy', 'matplotlib.pyplot'] }).Cmd).toEqual(['--preload=numpy,matplotlib.pyplot']);
    // Under gVisor the program's output goes through the launcher's relay.
    expect(containerSpec({ ...settings, runtime: 'runsc' }).Cmd).toEqual(['--relay-output']);
    expect(containerSpec({ ...settings, runtime: 'runsc', preload: ['numpy'] }).Cmd).toEqual(['--preload=numpy', '--relay-output']);
  });

  it('uses the configured image, runtime and labels and a fixed launcher command', () => {
    expect(spec.Image).toBe('runbox-python:abc');
    expect(host.Runtime).toBe('runc');
    expect(spec.Labels).toEqual({ 'runbox.run-id': 'r1' });
    expect(spec.Entrypoint).toEqual(['python3', '-I', '-S', '/opt/runbox/launcher.py']);
  });

  it('keeps each tmpfs at most a quarter of memory so filling it is ENOSPC, not OOM', () => {
    expect(tmpfsMb(64, 128)).toBe(32);
    expect(tmpfsMb(64, 512)).toBe(64);
    const small = containerSpec({ ...settings, memoryMb: 64 });
    expect(small.HostConfig!.Tmpfs!['/tmp']).toMatch(/size=16m/);
    const tiny = containerSpec({ ...settings, memoryMb: 40 });
    expect(tiny.HostConfig!.Tmpfs!['/dev/shm']).toMatch(/size=10m/);
    expect(tiny.HostConfig!.IpcMode).toBe('none');
    expect(tiny.HostConfig!.ShmSize).toBeUndefined();
  });

  it('mounts the dependency set volume read-only into a run, with no environment for it', () => {
    const run = containerSpec({ ...settings, depsVolume: 'runbox-deps-x-1' });
    expect(run.HostConfig!.Mounts).toEqual([{ Type: 'volume', Source: 'runbox-deps-x-1', Target: '/opt/deps', ReadOnly: true }]);
    expect(run.Env).toEqual([]);
    expect(run.Entrypoint).toEqual(spec.Entrypoint);
  });

  it('an install: install.py as the installer, the set volume writable, the wheelhouse read-only, no launcher arguments', () => {
    const install = { wheelhouse: '/srv/wheels', wheels: ['a-1-py3-none-any.whl'], folder: 'f1', remove: ['old1', 'old2'] };
    const installer = containerSpec({ ...settings, uid: 10000, preload: ['numpy'], depsVolume: 'runbox-deps-x-1', install });
    expect(installer.Entrypoint).toEqual(installCommand(install));
    expect(installCommand(install)).toEqual([
      ...['python3', '-I', '/opt/runbox/install.py', 'f1'],
      ...['--remove', 'old1', '--remove', 'old2', '--', 'a-1-py3-none-any.whl'],
    ]);
    expect(installer.Cmd).toEqual([]);
    expect(installer.User).toBe('10000:10000');
    expect(installer.HostConfig!.Tmpfs!['/tmp']).toMatch(/uid=10000,gid=10000,/);
    expect(installer.HostConfig!.Mounts).toEqual([
      { Type: 'volume', Source: 'runbox-deps-x-1', Target: '/opt/deps', ReadOnly: false },
      { Type: 'bind', Source: '/srv/wheels', Target: '/wheelhouse', ReadOnly: true },
    ]);
    // The same confinement as a run.
    expect(installer.HostConfig!.NetworkMode).toBe('none');
    expect(installer.HostConfig!.CapDrop).toEqual(['ALL']);
    expect(installer.HostConfig!.ReadonlyRootfs).toBe(true);
  });
});

describe('leaseContainerSpec', () => {
  const spec = leaseContainerSpec({ image: 'runbox-python:abc', runtime: 'runc', labels: { 'runbox.instance-lease': 'a' } });
  const host = spec.HostConfig!;

  it('holds the lease with stdin only: it ends, and the engine removes it, when its one attached client goes', () => {
    expect(spec.Entrypoint).toEqual(['cat']);
    expect(spec).toMatchObject({ OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: false, AttachStderr: false });
    expect(host.AutoRemove).toBe(true);
    expect(host.RestartPolicy).toEqual({ Name: 'no' });
  });

  it("has the sandboxes' hardening, the least limits, and no uid a sandbox or the server has", () => {
    expect(spec.User).toBe('65534:65534');
    expect(spec.NetworkDisabled).toBe(true);
    expect(host).toMatchObject({ NetworkMode: 'none', ReadonlyRootfs: true, CapDrop: ['ALL'], CapAdd: [], Privileged: false });
    expect(host.SecurityOpt![0]).toBe('no-new-privileges');
    expect(host.SecurityOpt![1]).toMatch(/^seccomp=\{/);
    expect(host.Memory).toBe(32 * 1024 * 1024);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.PidsLimit).toBeLessThanOrEqual(8);
    expect(host.Binds).toEqual([]);
    expect(host.Mounts).toEqual([]);
    expect(spec.Env).toEqual([]);
  });
});
