/**
 * Removes containers that no live run owns: those of this instance (same RUNBOX_INSTANCE_ID, e.g. left by a
 * predecessor killed with -9) whose run is not in progress, and anyone's that are past their deadline label.
 * It judges its instance's containers by its own runs only while this server holds the instance lease
 * (no other live server can have the same id then); otherwise, as anyone's, by their deadline.
 */
import type { Logger } from 'pino';
import type { DockerClient } from '../docker/client';
import { InstanceInUseError } from './instance-lease';
import { LABEL_DEADLINE, LABEL_INSTANCE, LABEL_RUN_ID } from './labels';

/** What the reaper needs of the instance lease: whether it is held, and a try to take it without waiting. */
export interface Ownership {
  readonly held: boolean;
  acquire(takeoverMs: number): Promise<void>;
}

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(
    private readonly docker: DockerClient,
    private readonly instanceId: string,
    private readonly isLive: (runId: string) => boolean,
    private readonly log: Logger,
    private readonly lease: Ownership,
  ) {}

  /** One pass; resolves with how many containers it removed. Concurrent calls share the pass. */
  sweep(now = Date.now()): Promise<number> {
    this.sweeping ??= this.pass(now).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.sweep().catch((err: Error) => this.log.warn({ err }, 'reaper pass failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Whether this server holds its instance's lease, taking it if it is free (it was lost, or never taken). */
  private async owner(): Promise<boolean> {
    if (this.lease.held) return true;
    try {
      await this.lease.acquire(0);
    } catch (err) {
      if (err instanceof InstanceInUseError) this.log.error({ instanceId: this.instanceId }, err.message);
      else this.log.warn({ err }, 'could not take the instance lease');
    }
    return this.lease.held;
  }

  private async pass(now: number): Promise<number> {
    const owner = await this.owner();
    const containers = await this.docker.listByLabel(LABEL_RUN_ID);
    const orphans = containers.filter((c) => {
      const deadline = Number(c.labels[LABEL_DEADLINE]);
      const ours = owner && c.labels[LABEL_INSTANCE] === this.instanceId;
      // Our own containers are judged by whether a run owns them; anyone else's only by their deadline.
      return ours ? !this.isLive(c.labels[LABEL_RUN_ID]) : !(deadline > now);
    });
    const results = await Promise.allSettled(orphans.map((c) => this.docker.remove(c.id)));
    const removed = results.filter((r) => r.status === 'fulfilled').length;
    if (orphans.length) this.log.info({ removed, found: orphans.length }, 'reaped orphaned containers');
    return removed;
  }
}
