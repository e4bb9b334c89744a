/**
 * The instance lease: at most one live server per RUNBOX_INSTANCE_ID on an engine. A server's reaper removes
 * every container of its instance that it has no run for, so a second live server with the same id would
 * remove the first one's sandboxes in the middle of their runs.
 *
 * The lease is a container named after the instance: names are unique on an engine, so creating it is
 * atomic. Its only process reads a stdin that the holding server keeps open through an attach. When that
 * server goes, however it goes (kill -9 included), the engine closes the stdin, the process ends, and the
 * engine removes the container (AutoRemove), so a successor with the same id can take the name.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { DockerClient } from '../docker/client';
import { leaseContainerSpec } from './container-spec';

/** Marks a lease container (never a run's: the reaper and the run-label listings do not see it). */
export const LABEL_LEASE = 'runbox.instance-lease';
/** How long a starting server waits for a predecessor's lease to go (its engine connection just closed). */
export const LEASE_TAKEOVER_MS = 10_000;
const LEASE_POLL_MS = 200;

/** Another live server holds this instance id on the engine. */
export class InstanceInUseError extends Error {}

export function leaseContainerName(instanceId: string): string {
  return `runbox-instance-${instanceId}`;
}

export class InstanceLease {
  private stream: Duplex | undefined;
  private containerId: string | undefined;
  private releasing = false;

  constructor(
    private readonly docker: DockerClient,
    private readonly config: Pick<Config, 'image' | 'runtime' | 'instanceId'>,
    private readonly log: Logger,
  ) {}

  /** Whether this server holds the lease now (its attach to the lease container is open). */
  get held(): boolean {
    return this.stream !== undefined;
  }

  /**
   * Takes the lease, waiting up to `takeoverMs` for a predecessor's to go. Throws InstanceInUseError when a
   * live server holds it; engine failures (EngineUnavailableError, a missing image) pass through.
   */
  async acquire(takeoverMs = LEASE_TAKEOVER_MS): Promise<void> {
    if (this.held) return;
    const name = leaseContainerName(this.config.instanceId);
    const giveUpAt = Date.now() + takeoverMs;
    for (;;) {
      if (await this.tryTake(name)) return;
      const holder = await this.docker.inspect(name);
      if (holder.status === 'gone') continue;
      if (Date.now() >= giveUpAt) {
        throw new InstanceInUseError(
          `RUNBOX_INSTANCE_ID ${JSON.stringify(this.config.instanceId)} is held by another live runbox server on this Docker engine ` +
            `(its lease container ${name} has run since ${holder.startedAt}). Its reaper would remove this server's sandboxes, ` +
            'and this one its: give each server its own RUNBOX_INSTANCE_ID, or stop the other one.',
        );
      }
      // Created but never started (its server died in between), or ended and not yet removed: nobody holds it.
      if (holder.status === 'created' || holder.status === 'exited' || holder.status === 'dead') await this.docker.remove(name);
      else await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    }
  }

  /** Gives the lease up (the server is stopping, its containers gone): the lease container is removed. */
  async release(): Promise<void> {
    this.releasing = true;
    const id = this.containerId;
    this.stream?.destroy();
    this.stream = undefined;
    this.containerId = undefined;
    if (id !== undefined) await this.docker.remove(id).catch((err: Error) => this.log.warn({ err }, 'could not remove the instance lease'));
  }

  /** Creates, attaches and starts the lease container; false when the name is taken. */
  private async tryTake(name: string): Promise<boolean> {
    const id = await this.docker.createNamed(
      name,
      leaseContainerSpec({
        image: this.config.image,
        runtime: this.config.runtime,
        labels: { [LABEL_LEASE]: this.config.instanceId },
      }),
    );
    if (id === undefined) return false;
    let stream: Duplex | undefined;
    try {
      stream = await this.docker.attach(id);
      stream.on('error', () => undefined);
      stream.resume();
      await this.docker.start(id);
    } catch (err) {
      stream?.destroy();
      await this.docker.remove(id).catch(() => undefined);
      throw err;
    }
    this.releasing = false;
    this.stream = stream;
    this.containerId = id;
    stream.once('close', () => {
      if (this.stream !== stream || this.releasing) return;
      this.stream = undefined;
      this.containerId = undefined;
      this.log.error(
        { instanceId: this.config.instanceId },
        'lost the instance lease (the engine closed its connection): until it is taken again, this server reaps only containers past their deadline',
      );
    });
    return true;
  }
}
