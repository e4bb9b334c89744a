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

/** What the engine says of a container now; `status` is `gone` when there is no such container (any more). */
export interface ContainerState {
  /** created, running, paused, restarting, removing, exited, dead, or gone. */
  status: string;
  exitCode: number;
  oomKilled: boolean;
  labels: Record<string, string>;
  /** When it last started (ISO 8601), as the engine reports it. */
  startedAt: string;
}

/** A runtime the engine knows (docker info's Runtimes). */
export interface EngineRuntime {
  path: string;
  runtimeArgs: string[];
}

export interface DockerClient {
  ping(): Promise<void>;
  /** The OCI runtimes the engine has registered, by name. */
  runtimes(): Promise<Record<string, EngineRuntime>>;
  imageExists(ref: string): Promise<boolean>;
  /** The engine's id for an image reference, or undefined when there is no such image. */
  imageId(ref: string): Promise<string | undefined>;
  /** Creates a container and returns its id. */
  create(options: ContainerCreateOptions): Promise<string>;
  /** Creates a container under a name (unique on the engine) and returns its id; undefined when the name is taken. */
  createNamed(name: string, options: ContainerCreateOptions): Promise<string | undefined>;
  /** Attaches stdin/stdout/stderr (multiplexed) before start, so no output is lost. */
  attach(id: string): Promise<Duplex>;
  start(id: string): Promise<void>;
  /** Resolves with the exit code once the container stops. */
  wait(id: string, signal?: AbortSignal): Promise<number>;
  /** A container's state, by id or name. */
  inspect(idOrName: string): Promise<ContainerState>;
  /** SIGKILL unless told otherwise (the signal goes to the container's init, which passes it on). */
  kill(id: string, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Force-removes; a container that is already gone counts as removed. */
  remove(id: string): Promise<void>;
  listByLabel(label: string): Promise<ContainerSummary[]>;
  /** An image's labels, or undefined when there is no such image. */
  imageLabels(ref: string): Promise<Record<string, string> | undefined>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** A volume that is gone counts as removed; one still in use by a container fails (409). */
  removeVolume(name: string): Promise<void>;
  listVolumes(label: string): Promise<string[]>;
}

export interface DockerClientOptions {
  /** Upper bound for every call that should answer promptly (all but attach/wait). */
  callTimeoutMs: number;
  /** The engine's unix socket; by default DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
  /** Told of every call: its operation (a fixed name), how long it took, whether it failed. */
  observe?: (operation: string, seconds: number, failed: boolean) => void;
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : undefined;
}

/** Turns connection failures and timeouts into EngineUnavailableError; engine-side answers pass through. */
function translate(err: unknown, what: string): Error {
  if (err instanceof EngineUnavailableError) return err;
  if (statusOf(err) !== undefined && statusOf(err)! < 500) return err as Error;
  const detail = err instanceof Error ? err.message : String(err);
  return new EngineUnavailableError(`Docker engine call failed (${what}): ${detail}`);
}

export function createDockerClient(options: DockerClientOptions): DockerClient {
  // dockerode/docker-modem honour DOCKER_HOST (unix:// or tcp://) and DOCKER_CERT_PATH themselves.
  const docker = options.socketPath ? new Docker({ socketPath: options.socketPath }) : new Docker();

  /**
   * Runs one engine call under `signal` (by default the call timeout). dockerode aborts the HTTP request on
   * the signal, but once response headers have arrived an abort no longer settles its promise (a `wait`
   * whose connection died would hang forever), so the call is also raced against the signal here.
   */
  function call<T>(
    what: string,
    fn: (opts: (extra?: object) => object) => Promise<T>,
    signal: AbortSignal = AbortSignal.timeout(options.callTimeoutMs),
  ): Promise<T> {
    // @types/dockerode does not declare `abortSignal`, which dockerode forwards to the request.
    const opts = (extra: object = {}): object => ({ ...extra, abortSignal: signal });
    const began = performance.now();
    const observed = new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new EngineUnavailableError(`Docker engine call did not answer in time (${what})`));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      fn(opts)
        .then(resolve, (err: unknown) =>
          reject(signal.aborted ? new EngineUnavailableError(`Docker engine call did not answer in time (${what})`) : translate(err, what)),
        )
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
    const observe = options.observe;
    if (observe) {
      const done = (failed: boolean) => observe(what, (performance.now() - began) / 1000, failed);
      observed.then(
        () => done(false),
        (err: unknown) => {
          // A 404 (no such container) is an answer, and a wait the caller gave up on is its choice: neither is
          // the engine failing. A call that timed out is.
          const abandoned = signal.aborted && (signal.reason as Error | undefined)?.name !== 'TimeoutError';
          done(!abandoned && (err instanceof EngineUnavailableError || (statusOf(err) ?? 500) >= 500));
        },
      );
    }
    return observed;
  }

  const ignoring =
    (...statuses: number[]) =>
    (err: unknown) => {
      if (!statuses.includes(statusOf(err) ?? -1)) throw err;
    };

  /** An image's inspect answer, or undefined when there is no such image. */
  const inspectImage = (ref: string) =>
    call('image inspect', (opts) =>
      docker
        .getImage(ref)
        .inspect(opts() as Docker.ImageInspectOptions)
        .then(
          (info) => info as { Id: string; Config?: { Labels?: Record<string, string> | null } } | undefined,
          (err: unknown) => {
            if (statusOf(err) === 404) return undefined;
            throw err;
          },
        ),
    );

  const client: DockerClient = {
    imageExists: async (ref) => (await client.imageId(ref)) !== undefined,
    ping: () => call('ping', async (opts) => void (await (docker as unknown as { ping(o: object): Promise<unknown> }).ping(opts()))),
    runtimes: () =>
      call('info', async (opts) => {
        const info = (await (docker as unknown as { info(o: object): Promise<unknown> }).info(opts())) as {
          Runtimes?: Record<string, { path?: string; runtimeArgs?: string[] | null }>;
        };
        return Object.fromEntries(
          Object.entries(info.Runtimes ?? {}).map(([name, r]) => [name, { path: r.path ?? '', runtimeArgs: r.runtimeArgs ?? [] }]),
        );
      }),

    imageId: async (ref) => (await inspectImage(ref))?.Id,

    create: (createOptions) =>
      call('create', async (opts) => {
        try {
          return (await docker.createContainer(opts(createOptions))).id;
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
          throw new EngineUnavailableError(`the sandbox image ${createOptions.Image} is not in the engine; run npm run provision`);
        }
      }),

    createNamed: (name, createOptions) =>
      call('create', (opts) =>
        docker.createContainer(opts({ ...createOptions, name })).then(
          (container) => container.id,
          (err: unknown) => {
            if (statusOf(err) === 409) return undefined;
            throw err;
          },
        ),
      ),

    attach: (id) =>
      call('attach', async (opts) => {
        const stream = await docker.getContainer(id).attach(opts({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }));
        return stream as unknown as Duplex;
      }),

    start: (id) => call('start', async (opts) => void (await docker.getContainer(id).start(opts()))),

    wait: (id, signal) =>
      call(
        'wait',
        async (opts) => ((await docker.getContainer(id).wait(opts())) as { StatusCode: number }).StatusCode,
        signal ?? new AbortController().signal,
      ),

    inspect: (id) =>
      call('inspect', async (opts) => {
        let info: Docker.ContainerInspectInfo;
        try {
          info = await docker.getContainer(id).inspect(opts() as Docker.ContainerInspectOptions);
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
          return { status: 'gone', exitCode: -1, oomKilled: false, labels: {}, startedAt: '' };
        }
        return {
          status: info.State.Status,
          exitCode: info.State.ExitCode,
          oomKilled: info.State.OOMKilled,
          labels: info.Config.Labels ?? {},
          startedAt: info.State.StartedAt,
        };
      }),

    // 404: already removed; 409: not running any more. Both mean there is nothing left to kill.
    kill: (id, signal = 'SIGKILL') =>
      call('kill', (opts) =>
        docker
          .getContainer(id)
          .kill(opts({ signal }))
          .then(() => undefined, ignoring(404, 409)),
      ),

    // 404: gone already; 409: removal already in progress.
    remove: (id) =>
      call('remove', (opts) =>
        docker
          .getContainer(id)
          .remove(opts({ force: true, v: true }))
          .then(() => undefined, ignoring(404, 409)),
      ),

    imageLabels: async (ref) => {
      const info = await inspectImage(ref);
      return info && (info.Config?.Labels ?? {});
    },

    createVolume: (name, labels) =>
      call(
        'volume create',
        async (opts) => void (await docker.createVolume(opts({ Name: name, Labels: labels }) as Docker.VolumeCreateOptions)),
      ),

    removeVolume: (name) =>
      call('volume remove', (opts) =>
        docker
          .getVolume(name)
          .remove(opts())
          .then(() => undefined, ignoring(404)),
      ),

    listVolumes: (label) =>
      call('volume list', async (opts) => {
        const listed = (await docker.listVolumes(opts({ filters: JSON.stringify({ label: [label] }) }))) as {
          Volumes?: { Name: string }[] | null;
        };
        return (listed.Volumes ?? []).map((v) => v.Name);
      }),

    listByLabel: (label) =>
      call('list', async (opts) => {
        const rows = await docker.listContainers(
          opts({ all: true, filters: JSON.stringify({ label: [label] }) }) as Docker.ContainerListOptions,
        );
        return rows.map((row) => ({ id: row.Id, labels: row.Labels ?? {}, state: row.State }));
      }),
  };
  return client;
}
