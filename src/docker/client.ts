/** The only module that talks to the Docker engine (through dockerode). Everything else uses this narrow interface. */
import Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { EngineUnavailableError } from '../errors';

export type ContainerCreateOptions = Docker.ContainerCreateOptions;

export interface ContainerSummary {
  id: string;
  labels: Record<string, string>;
  state: string;
}

export interface ExitState {
  exitCode: number;
  oomKilled: boolean;
}

export interface DockerClient {
  ping(): Promise<void>;
  imageExists(ref: string): Promise<boolean>;
  /** Creates a container and returns its id. */
  create(options: ContainerCreateOptions): Promise<string>;
  /** Attaches stdin/stdout/stderr (multiplexed) before start, so no output is lost. */
  attach(id: string): Promise<Duplex>;
  start(id: string): Promise<void>;
  /** Resolves with the exit code once the container stops. */
  wait(id: string, signal?: AbortSignal): Promise<number>;
  inspectExit(id: string): Promise<ExitState>;
  kill(id: string): Promise<void>;
  /** Force-removes; a container that is already gone counts as removed. */
  remove(id: string): Promise<void>;
  listByLabel(label: string): Promise<ContainerSummary[]>;
}

export interface DockerClientOptions {
  /** Upper bound for every call that should answer promptly (all but attach/wait). */
  callTimeoutMs: number;
  /** The engine's unix socket; by default DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err
    ? Number((err as { statusCode: unknown }).statusCode)
    : undefined;
}

/** Turns connection failures and timeouts into EngineUnavailableError; engine-side answers pass through. */
function translate(err: unknown, what: string): Error {
  if (statusOf(err) !== undefined && statusOf(err)! < 500) return err as Error;
  const detail = err instanceof Error ? err.message : String(err);
  return new EngineUnavailableError(`Docker engine call failed (${what}): ${detail}`);
}

export function createDockerClient(options: DockerClientOptions): DockerClient {
  // dockerode/docker-modem honour DOCKER_HOST (unix:// or tcp://) and DOCKER_CERT_PATH themselves.
  const docker = options.socketPath ? new Docker({ socketPath: options.socketPath }) : new Docker();
  // dockerode forwards `abortSignal` to the HTTP request; @types/dockerode does not declare it.
  const timed = (extra: object = {}): object => ({ ...extra, abortSignal: AbortSignal.timeout(options.callTimeoutMs) });

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(err, what);
    }
  }

  return {
    ping: () => call('ping', async () => void (await (docker as unknown as { ping(o: object): Promise<unknown> }).ping(timed()))),

    imageExists: (ref) =>
      call('image inspect', async () => {
        try {
          await docker.getImage(ref).inspect(timed() as Docker.ImageInspectOptions);
          return true;
        } catch (err) {
          if (statusOf(err) === 404) return false;
          throw err;
        }
      }),

    create: (createOptions) =>
      call('create', async () => (await docker.createContainer(timed(createOptions) as ContainerCreateOptions)).id),

    attach: (id) =>
      call('attach', async () => {
        const stream = await docker.getContainer(id).attach(
          timed({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
        );
        return stream as unknown as Duplex;
      }),

    start: (id) => call('start', async () => void (await docker.getContainer(id).start(timed()))),

    wait: (id, signal) =>
      call('wait', async () => {
        const result = (await docker.getContainer(id).wait({ abortSignal: signal } as object)) as { StatusCode: number };
        return result.StatusCode;
      }),

    inspectExit: (id) =>
      call('inspect', async () => {
        const info = await docker.getContainer(id).inspect(timed() as Docker.ContainerInspectOptions);
        return { exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
      }),

    kill: (id) =>
      call('kill', async () => {
        try {
          await docker.getContainer(id).kill(timed({ signal: 'SIGKILL' }));
        } catch (err) {
          // 404: already removed; 409: not running any more. Both mean there is nothing left to kill.
          if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
        }
      }),

    remove: (id) =>
      call('remove', async () => {
        try {
          await docker.getContainer(id).remove(timed({ force: true, v: true }));
        } catch (err) {
          // 404: gone already; 409: removal already in progress.
          if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
        }
      }),

    listByLabel: (label) =>
      call('list', async () => {
        const rows = await docker.listContainers(
          timed({ all: true, filters: JSON.stringify({ label: [label] }) }) as Docker.ContainerListOptions,
        );
        return rows.map((row) => ({ id: row.Id, labels: row.Labels ?? {}, state: row.State }));
      }),
  };
}
