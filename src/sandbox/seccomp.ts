/**
 * The sandbox's seccomp profile: the Docker engine's own default (seccomp/docker-default.json, moby v20.10.24
 * verbatim), minus the io_uring calls. Engines before Docker 25 allow io_uring, a large kernel attack surface
 * that Python programs do not need; everything else the default blocks stays blocked.
 */
import engineDefault from './seccomp/docker-default.json';

export const REMOVED_SYSCALLS = ['io_uring_setup', 'io_uring_enter', 'io_uring_register'];

type Profile = typeof engineDefault;

export function withoutSyscalls(profile: Profile, removed: string[]): Profile {
  return {
    ...profile,
    syscalls: profile.syscalls.map((rule) => ({ ...rule, names: rule.names.filter((name) => !removed.includes(name)) })),
  };
}

/** The profile as the Engine API takes it: `seccomp=<JSON text>` in HostConfig.SecurityOpt. */
export const SECCOMP_PROFILE = JSON.stringify(withoutSyscalls(engineDefault, REMOVED_SYSCALLS));
