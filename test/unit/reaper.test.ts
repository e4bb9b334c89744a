import type { ContainerSummary } from '../../src/docker/client';
import { LABEL_DEADLINE, LABEL_INSTANCE, LABEL_RUN_ID } from '../../src/sandbox/labels';
import { InstanceInUseError } from '../../src/sandbox/instance-lease';
import { Reaper } from '../../src/sandbox/reaper';
import { silentLog } from '../support/app';
import { fakeDocker } from '../support/fake-docker';

const container = (id: string, instance: string, deadline: number): ContainerSummary => ({
  id,
  state: 'running',
  labels: { [LABEL_RUN_ID]: `run-${id}`, [LABEL_INSTANCE]: instance, [LABEL_DEADLINE]: String(deadline) },
});

/** An instance lease held from the start. */
const holding = { held: true, acquire: async () => undefined };

function engineWith(containers: ContainerSummary[]) {
  const docker = fakeDocker();
  const removed: string[] = [];
  docker.listByLabel = async () => containers;
  docker.remove = async (id) => void removed.push(id);
  return { docker, removed };
}

describe('Reaper', () => {
  const now = 1_000_000;

  it("removes this instance's containers that no run owns, and anyone's past their deadline", async () => {
    const { docker, removed } = engineWith([
      container('mine-live', 'me', now + 1000),
      container('mine-orphan', 'me', now + 1000),
      container('other-live', 'other', now + 1000),
      container('other-expired', 'other', now - 1),
      container('other-unlabelled-deadline', 'other', NaN),
    ]);
    const reaper = new Reaper(docker, 'me', (runId) => runId === 'run-mine-live', silentLog, holding);
    expect(await reaper.sweep(now)).toBe(3);
    expect(removed.sort()).toEqual(['mine-orphan', 'other-expired', 'other-unlabelled-deadline']);
  });

  it("judges this instance's containers only by their deadline while another live server holds the instance's lease", async () => {
    const { docker, removed } = engineWith([container('mine-live-elsewhere', 'me', now + 1000), container('mine-expired', 'me', now - 1)]);
    let tries = 0;
    const heldElsewhere = {
      held: false,
      acquire: async () => {
        tries++;
        throw new InstanceInUseError('held by another live server');
      },
    };
    const reaper = new Reaper(docker, 'me', () => false, silentLog, heldElsewhere);
    expect(await reaper.sweep(now)).toBe(1);
    expect(removed).toEqual(['mine-expired']);
    // Each pass tries to take the lease again: once its holder is gone, this server judges its own again.
    await reaper.sweep(now);
    expect(tries).toBe(2);
  });

  it('counts only removals that succeeded, and shares a pass between concurrent callers', async () => {
    const { docker } = engineWith([container('a', 'me', now), container('b', 'me', now)]);
    let passes = 0;
    const list = docker.listByLabel;
    docker.listByLabel = async (label) => (passes++, list(label));
    docker.remove = async (id) => {
      if (id === 'b') throw new Error('engine gone');
    };
    const reaper = new Reaper(docker, 'me', () => false, silentLog, holding);
    expect(await Promise.all([reaper.sweep(now), reaper.sweep(now)])).toEqual([1, 1]);
    expect(passes).toBe(1);
  });

  it('sweeps periodically once started, and not after it is stopped', async () => {
    jest.useFakeTimers();
    try {
      const { docker } = engineWith([]);
      let passes = 0;
      docker.listByLabel = async () => (passes++, []);
      const reaper = new Reaper(docker, 'me', () => false, silentLog, holding);
      reaper.start(100);
      await jest.advanceTimersByTimeAsync(350);
      expect(passes).toBe(3);
      reaper.stop();
      await jest.advanceTimersByTimeAsync(1000);
      expect(passes).toBe(3);
    } finally {
      jest.useRealTimers();
    }
  });
});
