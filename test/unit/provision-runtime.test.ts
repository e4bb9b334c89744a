/** Registering gVisor with the engine: daemon.json merged, never clobbered. */
import { RUNSC, withRunsc } from '../../src/provision/runtime';

describe('registering runsc in daemon.json', () => {
  it('writes a new file with runsc, --network=none and --oci-seccomp', () => {
    expect(JSON.parse(withRunsc(undefined))).toEqual({
      runtimes: { runsc: { path: '/usr/bin/runsc', runtimeArgs: ['--network=none', '--oci-seccomp'] } },
    });
    expect(RUNSC.runtimeArgs).not.toContain('--platform=kvm');
  });

  it("keeps the operator's settings and runtimes", () => {
    const existing = JSON.stringify({
      'log-level': 'warn',
      'data-root': '/srv/docker',
      runtimes: { kata: { path: '/usr/bin/kata-runtime' } },
    });
    expect(JSON.parse(withRunsc(existing))).toEqual({
      'log-level': 'warn',
      'data-root': '/srv/docker',
      runtimes: { kata: { path: '/usr/bin/kata-runtime' }, runsc: RUNSC },
    });
  });

  it('refuses a file it cannot read, rather than replace it', () => {
    expect(() => withRunsc('{ "log-level": ')).toThrow(/daemon\.json is not valid JSON/);
    expect(() => withRunsc('[1]')).toThrow(/not a JSON object/);
  });
});
