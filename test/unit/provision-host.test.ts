/** Host changes: announced before they happen, or, with RUNBOX_PROVISION=0, refused with the commands to run. */
import type { DockerClient } from '../../src/docker/client';
import { ConfigError, hostChangesAllowed } from '../../src/config';
import { ensureEngine } from '../../src/provision/engine';
import { changeHost, ensureHostPackage, isDebianRoot } from '../../src/provision/host';
import { ensureRuntime } from '../../src/provision/runtime';

const noEngine = {
  ping: () => Promise.reject(new Error('connect ENOENT /var/run/docker.sock')),
  runtimes: () => Promise.resolve({ runc: { path: 'runc', runtimeArgs: [] } }),
} as unknown as DockerClient;

describe('changing the host', () => {
  const saved = process.env.RUNBOX_PROVISION;
  afterEach(() => {
    if (saved === undefined) delete process.env.RUNBOX_PROVISION;
    else process.env.RUNBOX_PROVISION = saved;
  });

  it('RUNBOX_PROVISION: 1 or unset allows, 0 forbids, anything else is refused by name', () => {
    expect(hostChangesAllowed({})).toBe(true);
    expect(hostChangesAllowed({ RUNBOX_PROVISION: '1' })).toBe(true);
    expect(hostChangesAllowed({ RUNBOX_PROVISION: '0' })).toBe(false);
    expect(() => hostChangesAllowed({ RUNBOX_PROVISION: 'no' })).toThrow(ConfigError);
    expect(() => hostChangesAllowed({ RUNBOX_PROVISION: 'no' })).toThrow(/RUNBOX_PROVISION="no": 1 .* or 0/);
  });

  it('announces a change before making it', async () => {
    const said: string[] = [];
    const order: string[] = [];
    const made = await changeHost(
      { what: 'a thing', commands: ['make thing'] },
      async () => {
        order.push(`made after ${said.length} line(s)`);
        return 42;
      },
      (line) => said.push(line),
    );
    expect(made).toBe(42);
    expect(said).toEqual(['changing this host: a thing (set RUNBOX_PROVISION=0 to be given the commands instead)']);
    expect(order).toEqual(['made after 1 line(s)']);
  });

  it('with RUNBOX_PROVISION=0, makes nothing and gives the commands', async () => {
    process.env.RUNBOX_PROVISION = '0';
    const act = jest.fn();
    await expect(changeHost({ what: 'a thing', commands: ['make thing', 'start thing'] }, act, () => undefined)).rejects.toThrow(
      'this host needs a thing, and RUNBOX_PROVISION=0 forbids changing it. Run, as root:\n  make thing\n  start thing\nthen retry.',
    );
    expect(act).not.toHaveBeenCalled();
  });

  // Where provisioning may change the host at all (root on Debian): each change it would make is refused whole.
  (isDebianRoot() ? describe : describe.skip)('each host change provisioning makes, refused', () => {
    beforeEach(() => (process.env.RUNBOX_PROVISION = '0'));

    it('a Debian package', async () => {
      await expect(ensureHostPackage('runbox-no-such-command', 'runbox-no-such-package', () => undefined)).rejects.toThrow(
        /apt-get install -y --no-install-recommends runbox-no-such-package\nthen retry/,
      );
    });

    it('starting a Docker engine, with the exact dockerd command', async () => {
      await expect(ensureEngine(noEngine, undefined, () => undefined)).rejects.toThrow(
        /needs a Docker engine: .*\n( {2}apt-get install .* docker\.io\n)? {2}dockerd --bridge=none --iptables=false --ip6tables=false >>\/var\/log\/runbox-dockerd\.log 2>&1 &\nthen retry/,
      );
    });

    it('registering gVisor, with what to write in daemon.json', async () => {
      await expect(ensureRuntime(noEngine, 'runsc', undefined, () => undefined)).rejects.toThrow(
        /needs gVisor: .*\n( {2}apt-get install .* runsc\n)? {2}add "runtimes": \{"runsc":\{"path":"\/usr\/bin\/runsc","runtimeArgs":\["--network=none","--oci-seccomp"\]\}\} to \/etc\/docker\/daemon\.json \(keeping what is there\)\n {2}kill -HUP \$\(pidof dockerd\)\nthen retry/,
      );
    });
  });
});
