import type { DockerClient } from '../../src/docker/client';
import { EngineUnavailableError } from '../../src/errors';

/** A DockerClient that records calls and creates nothing: for HTTP tests that must not reach an engine. */
export function fakeDocker(options: { up?: boolean; image?: boolean } = {}): DockerClient & { calls: string[] } {
  const calls: string[] = [];
  const down = () => new EngineUnavailableError('Docker engine call failed (fake): connect ENOENT');
  const record = async (name: string) => {
    calls.push(name);
    if (options.up === false) throw down();
  };
  return {
    calls,
    ping: () => record('ping'),
    runtimes: async () => (await record('runtimes'), { runc: { path: 'runc', runtimeArgs: [] } }),
    imageExists: async () => (await record('imageExists'), options.image ?? true),
    imageId: async () => (await record('imageId'), options.image === false ? undefined : 'sha256:fake'),
    create: async () => (await record('create'), 'fake-id'),
    createNamed: async () => (await record('createNamed'), 'fake-named-id'),
    attach: async () => {
      await record('attach');
      throw new Error('fake engine cannot attach');
    },
    start: () => record('start'),
    wait: async () => (await record('wait'), 0),
    inspect: async () => (await record('inspect'), { status: 'exited', exitCode: 0, oomKilled: false, labels: {}, startedAt: '' }),
    kill: () => record('kill'),
    remove: () => record('remove'),
    listByLabel: async () => (await record('listByLabel'), []),
    imageLabels: async () => (await record('imageLabels'), options.image === false ? undefined : {}),
    createVolume: () => record('createVolume'),
    removeVolume: () => record('removeVolume'),
    listVolumes: async () => (await record('listVolumes'), []),
  };
}
