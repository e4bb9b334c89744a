/**
 * The sandbox container's create options, built from server configuration only: no request field
 * reaches this function except the run's memory size and labels, both validated and bounded upstream.
 */
import type { ContainerCreateOptions } from '../docker/client';
import { MiB } from '../config';
import { LAUNCHER_COMMAND, SANDBOX_UID, WORKSPACE_PATH } from './protocol';
import { SECCOMP_PROFILE } from './seccomp';

const SHM_MB = 16;
const NOFILE = 1024;
const TMPFS_INODES = 8192;

export interface SandboxSettings {
  image: string;
  runtime: string;
  /** The run's own uid (one per run slot); its group is always SANDBOX_UID's. */
  uid: number;
  memoryMb: number;
  /** Modules the launcher has imported while it waits for the job (empty: the plain path). */
  preload: readonly string[];
  cpus: number;
  pidsLimit: number;
  workspaceMb: number;
  tmpMb: number;
  labels: Record<string, string>;
}

/** Scratch space lives in memory, so each tmpfs gets at most a quarter of it: a full disk is ENOSPC, not OOM. */
export function tmpfsMb(requestedMb: number, memoryMb: number): number {
  return Math.max(1, Math.min(requestedMb, Math.floor(memoryMb / 4)));
}

function tmpfs(sizeMb: number, uid: number): string {
  return `rw,nosuid,nodev,noexec,size=${sizeMb}m,nr_inodes=${TMPFS_INODES},uid=${uid},gid=${SANDBOX_UID},mode=0700`;
}

export function containerSpec(s: SandboxSettings): ContainerCreateOptions {
  const memory = s.memoryMb * MiB;
  return {
    Image: s.image,
    Entrypoint: LAUNCHER_COMMAND,
    // Module names only, validated in config.ts; the launcher's one argument.
    Cmd: s.preload.length > 0 ? [`--preload=${s.preload.join(',')}`] : [],
    User: `${s.uid}:${SANDBOX_UID}`,
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
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: {
        [WORKSPACE_PATH]: tmpfs(tmpfsMb(s.workspaceMb, s.memoryMb), s.uid),
        '/tmp': tmpfs(tmpfsMb(s.tmpMb, s.memoryMb), s.uid),
        // Under the same rule as the other scratch spaces (IpcMode none mounts no /dev/shm of its own).
        '/dev/shm': tmpfs(tmpfsMb(SHM_MB, s.memoryMb), s.uid),
      },
      Memory: memory,
      MemorySwap: memory,
      MemorySwappiness: 0,
      NanoCpus: Math.round(s.cpus * 1e9),
      PidsLimit: s.pidsLimit,
      Ulimits: [
        { Name: 'nofile', Soft: NOFILE, Hard: NOFILE },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges', `seccomp=${SECCOMP_PROFILE}`],
      Privileged: false,
      Init: true,
      // A private IPC namespace without the engine's fixed-size /dev/shm; ours is in Tmpfs above.
      IpcMode: 'none',
      LogConfig: { Type: 'none', Config: {} },
      Binds: [],
      Mounts: [],
      Devices: [],
      PublishAllPorts: false,
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
      Runtime: s.runtime,
    },
  };
}
