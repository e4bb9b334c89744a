/**
 * The sandbox's seccomp profile: the Docker engine's own default (seccomp/docker-default.json, moby v20.10.24
 * verbatim), minus the io_uring calls. Engines before Docker 25 allow io_uring, a large kernel attack surface
 * that Python programs do not need; everything else the default blocks stays blocked.
 *
 * Under gVisor (runsc, registered with --oci-seccomp) the profile is loaded inside the sandbox, in front of
 * gVisor's own kernel, with one difference: gVisor's filter ignores `errnoRet`, so the default's
 * "clone3 → ENOSYS" rule answers EPERM there, glibc does not fall back to clone, and no thread can start.
 * So under runsc clone3 passes the filter; gVisor's kernel does not implement it and answers ENOSYS itself,
 * which is what the rule meant (and a gVisor that does implement it checks namespace flags against the
 * program's capabilities, of which it has none).
 */
import engineDefault from './seccomp/docker-default.json';

export const REMOVED_SYSCALLS = ['io_uring_setup', 'io_uring_enter', 'io_uring_register'];

type Profile = typeof engineDefault;
type Rule = Profile['syscalls'][number];

export function withoutSyscalls(profile: Profile, removed: string[]): Profile {
  return {
    ...profile,
    syscalls: profile.syscalls.map((rule) => ({ ...rule, names: rule.names.filter((name) => !removed.includes(name)) })),
  };
}

/** The default's rules with `errnoRet` other than EPERM turned into plain allows: gVisor would answer EPERM. */
export function forGvisor(profile: Profile): Profile {
  return {
    ...profile,
    syscalls: profile.syscalls.map((rule): Rule => {
      if (rule.action !== 'SCMP_ACT_ERRNO' || rule.errnoRet === undefined || rule.errnoRet === 1) return rule;
      const { errnoRet: _answeredEperm, ...allowed } = rule;
      return { ...allowed, action: 'SCMP_ACT_ALLOW' } as Rule;
    }),
  };
}

const PROFILE = withoutSyscalls(engineDefault, REMOVED_SYSCALLS);
const PROFILE_TEXT = JSON.stringify(PROFILE);
const GVISOR_PROFILE_TEXT = JSON.stringify(forGvisor(PROFILE));

/** The profile as the Engine API takes it (`seccomp=<JSON text>` in HostConfig.SecurityOpt), for `runtime`. */
export const seccompProfile = (runtime: string): string => (runtime === 'runsc' ? GVISOR_PROFILE_TEXT : PROFILE_TEXT);
