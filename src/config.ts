/** Configuration: read from the environment in this one place, validated at startup, frozen. */
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { homedir, hostname } from 'node:os';

/** The per-run limits, one per row of SETTINGS. */
export type Limits = { readonly [K in keyof typeof SETTINGS]: number };

/** How the HTTP server treats its clients: what one client can hold, and for how long (rows of HTTP_SETTINGS). */
export type HttpLimits = { readonly [K in keyof typeof HTTP_SETTINGS]: number };

/** Where the store is: SQLite in dataDir, or PostgreSQL at databaseUrl when set (src/store/open.ts). */
export interface StoreConfig {
  /** Absolute. */
  dataDir: string;
  databaseUrl: string | undefined;
  /** What chose dataDir: RUNBOX_DATA_DIR, or the per-user default (so messages can say which). */
  dataDirFrom: 'RUNBOX_DATA_DIR' | 'default';
}

/** What the audit trail keeps, and for how long (src/audit/audit-trail.ts). */
export interface AuditOptions {
  storeContent: boolean;
  retentionDays: number;
}

export interface Config {
  host: string;
  port: number;
  apiKey: string | undefined;
  image: string;
  runtime: string;
  dockerCallTimeoutMs: number;
  /** How long after the deadline a killed run may take to be reported. */
  killGraceMs: number;
  logLevel: string;
  /** Names this server's containers; stable across restarts so a successor reaps what a crash left. */
  instanceId: string;
  /** Where keys, limits and the audit trail live: SQLite in dataDir, or PostgreSQL at databaseUrl when set. */
  store: StoreConfig;
  audit: AuditOptions;
  /** Required as a bearer token by GET /metrics when set. */
  metricsKey: string | undefined;
  /** The operator's folder of wheels runs may install from (absolute), or undefined: no installs. */
  wheelhouse: string | undefined;
  /** Installed dependency sets kept for reuse: at most this many, and this many bytes of their wheels. */
  depsCache: { maxSets: number; maxBytes: number };
  reapIntervalMs: number;
  shutdownGraceMs: number;
  /** Containers kept started ahead of demand (0: every run creates its own on the request path). */
  poolSize: number;
  poolMaxAgeMs: number;
  /** Modules warm pool members import before their job arrives (empty: none). */
  preload: readonly string[];
  /** auto: preloaded members for requests that import a preload module, sized by demand; always: every member. */
  preloadPolicy: PreloadPolicy;
  limits: Limits;
  http: HttpLimits;
}

/** What the sandbox layer reads of the configuration (src/sandbox/): each of its components takes its part. */
export type SandboxConfig = Pick<
  Config,
  | 'image'
  | 'runtime'
  | 'instanceId'
  | 'dockerCallTimeoutMs'
  | 'killGraceMs'
  | 'preload'
  | 'preloadPolicy'
  | 'poolSize'
  | 'poolMaxAgeMs'
  | 'wheelhouse'
  | 'depsCache'
  | 'limits'
>;

/** What making, driving and removing containers needs (src/sandbox/sandboxes.ts). */
export type ContainerConfig = Pick<
  SandboxConfig,
  'image' | 'runtime' | 'instanceId' | 'dockerCallTimeoutMs' | 'killGraceMs' | 'preload'
> & {
  limits: Pick<Limits, 'cpus' | 'pidsLimit' | 'workspaceMb' | 'tmpMb' | 'defaultMemoryMb'>;
};

/** What keeping dependency sets needs (src/sandbox/dependency-sets.ts). */
export type DependencySetsConfig = Pick<SandboxConfig, 'instanceId' | 'wheelhouse' | 'depsCache'> & {
  limits: Pick<Limits, 'defaultMemoryMb'>;
};

type Env = Record<string, string | undefined>;

export type PreloadPolicy = 'auto' | 'always';
export const DEFAULT_PRELOAD = 'numpy,pandas,matplotlib.pyplot';
/** A dotted Python module name; nothing else may reach the launcher's --preload argument. */
const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const MAX_PRELOAD_MODULES = 32;

interface Setting {
  env: string;
  default: number;
  min: number;
  doc: string;
}

export const MiB = 1024 * 1024;

/** One row per setting: the README's configuration table is written from these. */
export const SETTINGS = {
  maxBodyBytes: { env: 'RUNBOX_MAX_BODY_BYTES', default: 20 * MiB, min: 1024, doc: 'largest request body accepted' },
  maxCodeBytes: { env: 'RUNBOX_MAX_CODE_BYTES', default: 256 * 1024, min: 1, doc: 'largest `code` (UTF-8 bytes)' },
  maxFileBytes: { env: 'RUNBOX_MAX_FILE_BYTES', default: 5 * MiB, min: 1, doc: 'largest single input file (decoded)' },
  maxFilesBytes: { env: 'RUNBOX_MAX_FILES_BYTES', default: 10 * MiB, min: 1, doc: 'all input files together (decoded)' },
  maxFiles: { env: 'RUNBOX_MAX_FILES', default: 100, min: 1, doc: 'number of input files' },
  maxStdinBytes: { env: 'RUNBOX_MAX_STDIN_BYTES', default: 1 * MiB, min: 0, doc: 'largest `stdin`' },
  maxArgs: { env: 'RUNBOX_MAX_ARGS', default: 64, min: 0, doc: 'number of `args`' },
  maxArtifacts: { env: 'RUNBOX_MAX_ARTIFACTS', default: 50, min: 0, doc: 'artifacts returned per run' },
  maxArtifactBytes: { env: 'RUNBOX_MAX_ARTIFACT_BYTES', default: 5 * MiB, min: 0, doc: 'largest single artifact' },
  maxArtifactsBytes: { env: 'RUNBOX_MAX_ARTIFACTS_BYTES', default: 10 * MiB, min: 0, doc: 'all artifacts together' },
  maxOutputBytes: { env: 'RUNBOX_MAX_OUTPUT_BYTES', default: 1 * MiB, min: 1, doc: 'stdout kept, and stderr kept (each)' },
  outputKillBytes: {
    env: 'RUNBOX_OUTPUT_KILL_BYTES',
    default: 16 * MiB,
    min: 1,
    doc: 'output (stdout + stderr) after which a flooding run is killed (`output_limit`)',
  },
  defaultTimeoutMs: { env: 'RUNBOX_DEFAULT_TIMEOUT_MS', default: 10_000, min: 100, doc: '`timeout_ms` when none is given' },
  maxTimeoutMs: { env: 'RUNBOX_MAX_TIMEOUT_MS', default: 300_000, min: 100, doc: 'largest `timeout_ms` accepted' },
  defaultMemoryMb: { env: 'RUNBOX_DEFAULT_MEMORY_MB', default: 512, min: 32, doc: '`memory_mb` when none is given' },
  maxMemoryMb: { env: 'RUNBOX_MAX_MEMORY_MB', default: 2048, min: 32, doc: 'largest `memory_mb` accepted' },
  pidsLimit: { env: 'RUNBOX_PIDS_LIMIT', default: 128, min: 8, doc: 'processes and threads per run' },
  cpus: { env: 'RUNBOX_CPUS', default: 1, min: 0.01, doc: 'CPU quota per run (cores, fractional allowed)' },
  workspaceMb: {
    env: 'RUNBOX_WORKSPACE_MB',
    default: 64,
    min: 1,
    doc: "tmpfs size of the working directory (at most a quarter of the run's memory)",
  },
  tmpMb: { env: 'RUNBOX_TMP_MB', default: 64, min: 1, doc: "tmpfs size of /tmp (at most a quarter of the run's memory)" },
  maxConcurrent: {
    env: 'RUNBOX_MAX_CONCURRENT',
    default: 4,
    min: 1,
    doc: 'live run containers at most (running, starting or being removed)',
  },
  maxQueue: { env: 'RUNBOX_MAX_QUEUE', default: 32, min: 0, doc: 'requests waiting for a slot; beyond it, 503 `busy` with Retry-After' },
  queueTimeoutMs: {
    env: 'RUNBOX_QUEUE_TIMEOUT_MS',
    default: 30_000,
    min: 0,
    doc: "longest a run waits for a slot or its key's share, then 503 `queue_timeout`; `timeout_ms` starts only once the program has its job",
  },
} as const satisfies Record<string, Setting>;

/** The HTTP server's own defences; also in the README's configuration table. */
export const HTTP_SETTINGS = {
  headersTimeoutMs: { env: 'RUNBOX_HEADERS_TIMEOUT_MS', default: 10_000, min: 100, doc: "time a client has to send a request's headers" },
  requestTimeoutMs: {
    env: 'RUNBOX_REQUEST_TIMEOUT_MS',
    default: 30_000,
    min: 100,
    doc: 'time a client has to send a whole request, body included (the run itself is bounded by `timeout_ms`)',
  },
  keepAliveTimeoutMs: {
    env: 'RUNBOX_KEEP_ALIVE_TIMEOUT_MS',
    default: 5_000,
    min: 100,
    doc: 'an idle keep-alive connection is closed after this',
  },
  responseTimeoutMs: {
    env: 'RUNBOX_RESPONSE_TIMEOUT_MS',
    default: 30_000,
    min: 100,
    doc: 'time a client has to take delivery of a response; then its connection is destroyed',
  },
  streamKeepAliveMs: {
    env: 'RUNBOX_STREAM_KEEP_ALIVE_MS',
    default: 15_000,
    min: 100,
    doc: 'how often a streamed run (`Accept: text/event-stream`) sends a keep-alive comment, so idle proxies do not cut a long silent run',
  },
  maxConnections: { env: 'RUNBOX_MAX_CONNECTIONS', default: 256, min: 1, doc: 'open connections at most; more are closed at once' },
  maxConnectionsPerClient: {
    env: 'RUNBOX_MAX_CONNECTIONS_PER_CLIENT',
    default: 32,
    min: 1,
    doc: 'open connections per client address; behind a proxy, raise it to `RUNBOX_MAX_CONNECTIONS`',
  },
  maxBodiesBytes: {
    env: 'RUNBOX_MAX_BODIES_BYTES',
    default: 128 * MiB,
    min: 1024,
    doc: 'request bodies held at once, from their first byte to their response; beyond it, 503 `busy`',
  },
} as const satisfies Record<string, Setting>;

/** Distinct sandbox uids (one per run slot) the image has passwd entries for (images/python/rootfs.sh). */
export const MAX_RUN_SLOTS = 1000;

export class ConfigError extends Error {}

function readNumber(env: Env, name: string, fallback: number, min: number, integer = true): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return value;
}

/**
 * The per-user default data folder: $XDG_DATA_HOME/runbox, else ~/.local/share/runbox. Per user, not the current
 * folder, so that `runbox keys` run from anywhere opens the store a server run by the same user opens. A relative
 * XDG_DATA_HOME is ignored, as the XDG spec says.
 */
export function defaultDataDir(env: Env): string {
  if (env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME)) return join(env.XDG_DATA_HOME, 'runbox');
  let home = env.HOME;
  if (!home) {
    try {
      home = homedir();
    } catch {
      // A uid with no passwd entry and no HOME: nowhere to default to.
    }
  }
  if (!home || !isAbsolute(home)) throw new ConfigError('no home folder to keep the store in (HOME): set RUNBOX_DATA_DIR');
  return join(home, '.local', 'share', 'runbox');
}

/** Where the store is, for the server and the `runbox keys` command alike: one rule, so both find the same one. */
export function storeConfig(env: NodeJS.ProcessEnv): StoreConfig {
  const databaseUrl = env.RUNBOX_DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('RUNBOX_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  if (env.RUNBOX_DATA_DIR) return { dataDir: resolvePath(env.RUNBOX_DATA_DIR), databaseUrl, dataDirFrom: 'RUNBOX_DATA_DIR' };
  // PostgreSQL needs no folder: its deployments need not have a home either.
  return { dataDir: databaseUrl === undefined ? defaultDataDir(env) : '', databaseUrl, dataDirFrom: 'default' };
}

/** The sandboxes' OCI runtime, for the server and provisioning alike: runc, or runsc (gVisor). */
export function runtimeConfig(env: NodeJS.ProcessEnv): string {
  const runtime = env.RUNBOX_RUNTIME || 'runc';
  if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(runtime)) {
    throw new ConfigError('RUNBOX_RUNTIME: the name of a runtime the engine has registered (runc, runsc)');
  }
  return runtime;
}

/** RUNBOX_WHEELHOUSE as given, for `runbox packages` (which may create the folder); undefined when unset or empty. */
export function wheelhouseSetting(env: Env): string | undefined {
  return env.RUNBOX_WHEELHOUSE || undefined;
}

/** The server the `runbox` client commands talk to when no flag says: RUNBOX_URL, and its key RUNBOX_API_KEY. */
export function clientConfig(env: Env): { url: string | undefined; apiKey: string | undefined } {
  return { url: env.RUNBOX_URL, apiKey: env.RUNBOX_API_KEY || undefined };
}

/**
 * DOCKER_HOST, for provisioning: when set, the engine is elsewhere, so none is installed or started here. (The
 * engine client, dockerode, reads it itself.)
 */
export function dockerHostSetting(env: Env): string | undefined {
  return env.DOCKER_HOST || undefined;
}

/**
 * RUNBOX_PROVISION: whether `npm start`, `npm run provision` and `npm test` may change this host (install Debian
 * packages, start dockerd, register runsc). 0 makes them stop before any change with the commands to run instead.
 */
export function hostChangesAllowed(env: Env): boolean {
  const value = (env.RUNBOX_PROVISION ?? '').trim();
  if (value === '' || value === '1') return true;
  if (value === '0') return false;
  throw new ConfigError(
    `RUNBOX_PROVISION=${JSON.stringify(value)}: 1 (the default: change the host where needed, saying so first) or 0 (never)`,
  );
}

/** The message for a server that would listen beyond loopback with nobody's key required. */
export const EXPOSED_WITHOUT_KEYS = (host: string) =>
  `HOST=${host} is not loopback: set RUNBOX_API_KEY, or add a key with \`runbox keys add\`, before exposing runbox beyond this machine`;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function readTable<K extends string>(env: Env, table: Record<K, Setting>, fractional: NoInfer<K>[] = []): Record<K, number> {
  const values = {} as Record<K, number>;
  for (const key of Object.keys(table) as K[]) {
    const s = table[key];
    values[key] = readNumber(env, s.env, s.default, s.min, !fractional.includes(key));
  }
  return values;
}

/**
 * `defaultImage`: the sandbox image to run when RUNBOX_IMAGE is not set, asked only then. The entry points
 * pass src/provision/image.ts's sandboxImageTag, which hashes images/python/: loading reads no image files.
 */
export function loadConfig(env: Env, defaultImage: () => string): Config {
  const limits: Limits = readTable(env, SETTINGS, ['cpus']);
  const http: HttpLimits = readTable(env, HTTP_SETTINGS);

  const check = (ok: boolean, message: string) => {
    if (!ok) throw new ConfigError(message);
  };
  check(limits.defaultTimeoutMs <= limits.maxTimeoutMs, 'RUNBOX_DEFAULT_TIMEOUT_MS must not exceed RUNBOX_MAX_TIMEOUT_MS');
  check(limits.defaultMemoryMb <= limits.maxMemoryMb, 'RUNBOX_DEFAULT_MEMORY_MB must not exceed RUNBOX_MAX_MEMORY_MB');
  check(limits.maxFileBytes <= limits.maxFilesBytes, 'RUNBOX_MAX_FILE_BYTES must not exceed RUNBOX_MAX_FILES_BYTES');
  check(limits.maxArtifactBytes <= limits.maxArtifactsBytes, 'RUNBOX_MAX_ARTIFACT_BYTES must not exceed RUNBOX_MAX_ARTIFACTS_BYTES');
  check(limits.maxOutputBytes <= limits.outputKillBytes, 'RUNBOX_MAX_OUTPUT_BYTES must not exceed RUNBOX_OUTPUT_KILL_BYTES');
  check(limits.maxConcurrent <= MAX_RUN_SLOTS, `RUNBOX_MAX_CONCURRENT must not exceed ${MAX_RUN_SLOTS} (one sandbox uid per run slot)`);
  check(http.headersTimeoutMs <= http.requestTimeoutMs, 'RUNBOX_HEADERS_TIMEOUT_MS must not exceed RUNBOX_REQUEST_TIMEOUT_MS');
  check(http.maxConnectionsPerClient <= http.maxConnections, 'RUNBOX_MAX_CONNECTIONS_PER_CLIENT must not exceed RUNBOX_MAX_CONNECTIONS');
  check(limits.maxBodyBytes <= http.maxBodiesBytes, 'RUNBOX_MAX_BODY_BYTES must not exceed RUNBOX_MAX_BODIES_BYTES');

  const apiKey = env.RUNBOX_API_KEY === '' ? undefined : env.RUNBOX_API_KEY;
  const host = env.HOST || '127.0.0.1';
  // Whether a non-loopback HOST is allowed also depends on stored keys: checked at startup (cli/serve.ts).
  check(apiKey === undefined || apiKey.length >= 16, 'RUNBOX_API_KEY must be at least 16 characters');

  const metricsKey = env.RUNBOX_METRICS_KEY || undefined;
  check(metricsKey === undefined || metricsKey.length >= 16, 'RUNBOX_METRICS_KEY must be at least 16 characters');
  const storeContent = env.RUNBOX_AUDIT_STORE_CONTENT ?? '0';
  check(storeContent === '0' || storeContent === '1', 'RUNBOX_AUDIT_STORE_CONTENT: 0 or 1');

  const wheelhouse = env.RUNBOX_WHEELHOUSE ? resolvePath(env.RUNBOX_WHEELHOUSE) : undefined;
  const wheelhouseStat = wheelhouse === undefined ? undefined : statSync(wheelhouse, { throwIfNoEntry: false });
  check(
    wheelhouse === undefined || wheelhouseStat?.isDirectory() === true,
    `RUNBOX_WHEELHOUSE=${JSON.stringify(env.RUNBOX_WHEELHOUSE)}: not a folder`,
  );
  // The install container reads it as the sandbox user.
  check(
    wheelhouseStat === undefined || (wheelhouseStat.mode & 0o005) === 0o005,
    `RUNBOX_WHEELHOUSE=${JSON.stringify(env.RUNBOX_WHEELHOUSE)}: sandboxes read it as an unprivileged user, so it must be readable and searchable by others (chmod 755)`,
  );

  const poolSize = readNumber(env, 'RUNBOX_POOL_SIZE', Math.min(2, limits.maxConcurrent), 0);
  check(poolSize <= limits.maxConcurrent, 'RUNBOX_POOL_SIZE must not exceed RUNBOX_MAX_CONCURRENT (pool members are live containers)');

  const preload = (env.RUNBOX_PRELOAD ?? DEFAULT_PRELOAD)
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const badModule = preload.find((name) => !MODULE_NAME.test(name) || name.length > 100);
  check(badModule === undefined, `RUNBOX_PRELOAD: ${JSON.stringify(badModule)} is not a Python module name`);
  check(preload.length <= MAX_PRELOAD_MODULES, `RUNBOX_PRELOAD: at most ${MAX_PRELOAD_MODULES} modules`);
  const preloadPolicy = env.RUNBOX_PRELOAD_POLICY || 'auto';
  check(preloadPolicy === 'auto' || preloadPolicy === 'always', 'RUNBOX_PRELOAD_POLICY: auto or always');

  const port = readNumber(env, 'PORT', 8080, 0);
  check(port <= 65535, `PORT=${port}: expected a TCP port`);
  // Unique by default: no two live servers on one host share a port (an ephemeral one, PORT=0, has its pid),
  // and each container has a hostname of its own. The instance lease refuses a live server's id in any case.
  const instanceId = env.RUNBOX_INSTANCE_ID || `${hostname()}-${port === 0 ? `pid${process.pid}` : port}`.slice(0, 64);
  check(/^[A-Za-z0-9_.-]{1,64}$/.test(instanceId), 'RUNBOX_INSTANCE_ID: 1-64 letters, digits, _ . -');

  return Object.freeze({
    host,
    port,
    apiKey,
    image: env.RUNBOX_IMAGE || defaultImage(),
    runtime: runtimeConfig(env),
    dockerCallTimeoutMs: readNumber(env, 'RUNBOX_DOCKER_CALL_TIMEOUT_MS', 15_000, 100),
    killGraceMs: readNumber(env, 'RUNBOX_KILL_GRACE_MS', 2_000, 0),
    logLevel: env.RUNBOX_LOG_LEVEL || 'info',
    instanceId,
    store: storeConfig(env),
    audit: Object.freeze({
      storeContent: storeContent === '1',
      retentionDays: readNumber(env, 'RUNBOX_AUDIT_RETENTION_DAYS', 30, 1),
    }),
    metricsKey,
    wheelhouse,
    depsCache: Object.freeze({
      maxSets: readNumber(env, 'RUNBOX_DEPS_CACHE_SETS', 32, 1),
      maxBytes: readNumber(env, 'RUNBOX_DEPS_CACHE_MB', 2048, 1) * MiB,
    }),
    reapIntervalMs: readNumber(env, 'RUNBOX_REAP_INTERVAL_MS', 30_000, 100),
    shutdownGraceMs: readNumber(env, 'RUNBOX_SHUTDOWN_GRACE_MS', 10_000, 0),
    poolSize,
    poolMaxAgeMs: readNumber(env, 'RUNBOX_POOL_MAX_AGE_MS', 300_000, 1000),
    preload: Object.freeze(preload),
    preloadPolicy: preloadPolicy as PreloadPolicy,
    limits: Object.freeze(limits),
    http: Object.freeze(http),
  });
}
