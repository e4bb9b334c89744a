/**
 * The sandbox container's create options, built from server configuration only: no request field
 * reaches this function except the run's memory size and labels, both validated and bounded upstream.
 */
import type { ContainerCreateOptions } from '../docker/client';
import { MiB } from '../config';
import { INSTALLER_COMMAND, LAUNCHER_COMMAND, SANDBOX_UID, WORKSPACE_PATH } from './protocol';
import { seccompProfile } from './seccomp';

const SHM_MB = 16;
const NOFILE = 1024;
const TMPFS_INODES = 8192;

export interface SandboxSettings {
  image: string;
  runtime: string;
  /** The run's own uid (one per run slot), in SANDBOX_UID's group; for an install, INSTALLER_UID (its own group). */
  uid: number;
  memoryMb: number;
  /** Modules the launcher has imported while it waits for the job (empty: the plain path). */
  preload: readonly string[];
  cpus: number;
  pidsLimit: number;
  workspaceMb: number;
  tmpMb: number;
  labels: Record<string, string>;
  /** The dependency set volume: mounted read-only at DEPS_PATH; a job names its own set's folder in it. */
  depsVolume?: string;
  /**
   * Instead of the launcher: install.py installs these wheels (file names from the wheelhouse index) into
   * `folder` of `depsVolume`, mounted writable, from the wheelhouse folder mounted read-only, after deleting
   * the `remove` folders. pip gets no index and no network.
   */
  install?: { wheelhouse: string; wheels: readonly string[]; folder: string; remove: readonly string[] };
}

/** Where the dependency set volume is mounted (the image has this folder: the installer's, mode 0711). */
export const DEPS_PATH = '/opt/deps';
const WHEELHOUSE_PATH = '/wheelhouse';

/**
 * install.py's command line: the set's folder, the folders to delete, then explicit wheel files only, so pip
 * resolves nothing and reads no name as an option (each is a path under /wheelhouse).
 */
export function installCommand(install: NonNullable<SandboxSettings['install']>): string[] {
  return [...INSTALLER_COMMAND, install.folder, ...install.remove.flatMap((name) => ['--remove', name]), '--', ...install.wheels];
}

/** Scratch space lives in memory, so each tmpfs gets at most a quarter of it: a full disk is ENOSPC, not OOM. */
export function tmpfsMb(requestedMb: number, memoryMb: number): number {
  return Math.max(1, Math.min(requestedMb, Math.floor(memoryMb / 4)));
}

function tmpfs(sizeMb: number, uid: number, gid: number): string {
  return `rw,nosuid,nodev,noexec,size=${sizeMb}m,nr_inodes=${TMPFS_INODES},uid=${uid},gid=${gid},mode=0700`;
}

/**
 * Whether the launcher relays the program's output through pipes of its own: under gVisor, whose stdout cuts
 * writes over 64 KiB short (images/python/launcher.py, OutputRelay). Such a launcher takes SIGTERM at the
 * deadline to stop the program and copy out what the pipes still hold (the runner's kill sequence).
 */
export function relaysOutput(runtime: string): boolean {
  return runtime === 'runsc';
}

/** The launcher's arguments: the modules to preload (names only, validated in config.ts), and the output relay. */
function launcherArgs(s: SandboxSettings): string[] {
  return [...(s.preload.length > 0 ? [`--preload=${s.preload.join(',')}`] : []), ...(relaysOutput(s.runtime) ? ['--relay-output'] : [])];
}

/**
 * What every container runbox makes shares, whatever runs in it: no network, a read-only root, no
 * capabilities or privileges, the seccomp profile, a private IPC namespace, no logs, devices, binds or ports,
 * never restarted.
 */
function isolation(runtime: string) {
  return {
    NetworkMode: 'none',
    ReadonlyRootfs: true,
    CapDrop: ['ALL'],
    CapAdd: [],
    SecurityOpt: ['no-new-privileges', `seccomp=${seccompProfile(runtime)}`],
    Privileged: false,
    IpcMode: 'none',
    LogConfig: { Type: 'none' as const, Config: {} },
    Binds: [],
    Devices: [],
    PublishAllPorts: false,
    RestartPolicy: { Name: 'no' as const },
    Runtime: runtime,
  };
}

/**
 * The container's pids limit: the run's under runc. Under gVisor it counts gVisor's kernel's host threads
 * instead (the run's tasks are bounded by RLIMIT_NPROC, at the same number): about 65 for an idle preloaded
 * sandbox and about 6 per process on the ptrace platform, so it gets room for that, bounded all the same.
 */
export function hostPidsLimit(s: Pick<SandboxSettings, 'runtime' | 'pidsLimit'>): number {
  return s.runtime === 'runsc' ? 4 * s.pidsLimit + 128 : s.pidsLimit;
}

export function containerSpec(s: SandboxSettings): ContainerCreateOptions {
  const memory = s.memoryMb * MiB;
  const gid = s.install ? s.uid : SANDBOX_UID;
  return {
    Image: s.image,
    Entrypoint: s.install ? installCommand(s.install) : LAUNCHER_COMMAND,
    Cmd: s.install ? [] : launcherArgs(s),
    User: `${s.uid}:${gid}`,
    WorkingDir: WORKSPACE_PATH,
    // The image supplies PATH, HOME, LANG and library settings; nothing of the server's environment.
    Env: [],
    Labels: s.labels,
    Tty: false,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: true,
    HostConfig: {
      ...isolation(s.runtime),
      Tmpfs: {
        [WORKSPACE_PATH]: tmpfs(tmpfsMb(s.workspaceMb, s.memoryMb), s.uid, gid),
        '/tmp': tmpfs(tmpfsMb(s.tmpMb, s.memoryMb), s.uid, gid),
        // Under the same rule as the other scratch spaces (IpcMode none mounts no /dev/shm of its own).
        '/dev/shm': tmpfs(tmpfsMb(SHM_MB, s.memoryMb), s.uid, gid),
      },
      Memory: memory,
      MemorySwap: memory,
      MemorySwappiness: 0,
      NanoCpus: Math.round(s.cpus * 1e9),
      PidsLimit: hostPidsLimit(s),
      Ulimits: [
        { Name: 'nofile', Soft: NOFILE, Hard: NOFILE },
        { Name: 'core', Soft: 0, Hard: 0 },
        // Under gVisor the pids limit counts the host threads of gVisor's kernel, not the run's processes and
        // threads (its tasks), and does not bound those: a thread that sleeps costs it no host thread. gVisor's
        // kernel enforces RLIMIT_NPROC on its tasks (per uid; every process in the sandbox is the run's), so
        // the same number bounds them there: fork and thread creation fail with EAGAIN, as at runc's pids limit.
        ...(s.runtime === 'runsc' ? [{ Name: 'nproc', Soft: s.pidsLimit, Hard: s.pidsLimit }] : []),
      ],
      Init: true,
      // IpcMode none (isolation) mounts no /dev/shm of the engine's fixed size; ours is in Tmpfs above.
      Mounts: [
        ...(s.depsVolume ? [{ Type: 'volume' as const, Source: s.depsVolume, Target: DEPS_PATH, ReadOnly: !s.install }] : []),
        ...(s.install ? [{ Type: 'bind' as const, Source: s.install.wheelhouse, Target: WHEELHOUSE_PATH, ReadOnly: true }] : []),
      ],
      AutoRemove: false,
    },
  };
}

/** Nobody: the lease holder runs no code of anyone's, and shares no uid with a sandbox or the server. */
const LEASE_UID = 65534;

/**
 * The instance lease's container (src/sandbox/instance-lease.ts): `cat` blocking on a stdin that only the
 * server holding the lease has open. It gets the sandboxes' hardening and the least of every limit; the
 * engine removes it once it exits (AutoRemove), which it does when that server's connection closes.
 */
export function leaseContainerSpec(s: { image: string; runtime: string; labels: Record<string, string> }): ContainerCreateOptions {
  const memory = 32 * MiB;
  return {
    Image: s.image,
    Entrypoint: ['cat'],
    Cmd: [],
    User: `${LEASE_UID}:${LEASE_UID}`,
    Env: [],
    Labels: s.labels,
    Tty: false,
    OpenStdin: true,
    // The engine closes its stdin when the attached server disconnects, however it went (kill -9 included).
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: false,
    AttachStderr: false,
    NetworkDisabled: true,
    HostConfig: {
      ...isolation(s.runtime),
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: Math.round(0.05 * 1e9),
      PidsLimit: 8,
      Mounts: [],
      AutoRemove: true,
    },
  };
}
