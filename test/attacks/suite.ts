/**
 * The attack suite: hostile programs (./programs) sent through the HTTP API to the real engine, each with
 * the safe outcome it must produce. SECURITY.md maps every attack here to the control that stops it.
 * attacks.test.ts runs it on the default pool, attacks-preloaded.test.ts on preloaded pool members.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rssOf } from '../../bench/stats';
import { LABEL_INSTANCE, LABEL_RUN_ID } from '../../src/sandbox/labels';
import { SANDBOX_UID } from '../../src/sandbox/protocol';
import { UNDER_GVISOR } from '../support/config';
import {
  containerProcesses,
  docker,
  eventually,
  gvisorProcesses,
  hostCpuWhile,
  hostProcessesWith,
  labelledProcessesWith,
  runContainers,
  startServer,
  type CpuSpan,
} from '../support/engine';
import { postRun, type Json } from '../support/http';
import { postStream } from '../support/sse';
import { spawnServer } from '../support/server-process';

type Server = Awaited<ReturnType<typeof startServer>>;

const OUTPUT_CAP = 65536;
/** Output after which a flooding run is killed: what each flood pushes through the server. */
const FLOOD_BYTES = 8 * 1024 * 1024;
let server: Server;
/** Settings of the path under attack, given to every server the suite starts. */
let pathEnv: Record<string, string> = {};

const program = (name: string) => readFileSync(join(__dirname, 'programs', `${name}.py`), 'utf8');

const post = (body: object) => postRun(server.url, body);

async function attack(name: string, extra: object = {}): Promise<Json> {
  const { status, body } = await post({ code: program(name), ...extra });
  expect(status).toBe(200);
  return body;
}

const lines = (body: Json): string[] => body.stdout.trim().split('\n');

/** What test/attacks/programs/cpu-burn.py reports: seconds of wall and CPU time, and the epoch it ran between. */
interface BurnReport {
  processes: number;
  wall: number;
  cpu: number;
  source: string;
  throttled: number | null;
  started_at: number;
  ended_at: number;
}

const burn = (url: string, processes: number, seconds: number) =>
  postRun(url, { code: program('cpu-burn'), args: [String(processes), String(seconds)], timeout_ms: 60_000 });

function burnReport(body: Json): BurnReport {
  expect(body).toMatchObject({ status: 'ok', exit_code: 0 });
  return JSON.parse(body.stdout) as BurnReport;
}

/**
 * The most CPU time a run under a quota of `cpus` cores can get in `wall` seconds: the quota, plus 5% and a
 * quarter of a second for the CFS period (100 ms) a burst may straddle and the processes' start and exit.
 */
const quotaBound = (cpus: number, wall: number) => cpus * wall * 1.05 + 0.25;

/**
 * CPU time against wall time for each burner, busiest first. Under runc, the program's own report (its
 * cgroup, read inside). Under gVisor that reading is gVisor's kernel's, which counts time its tasks were
 * scheduled without seeing the host's throttling, so the host's count of the sandbox's cgroup is used,
 * sampled while the burners run.
 */
async function burnSpans(instanceId: string, burners: Promise<{ body: Json }[]>): Promise<CpuSpan[]> {
  const host = UNDER_GVISOR ? hostCpuWhile(instanceId, burners) : undefined;
  const reports = (await burners).map((r) => burnReport(r.body));
  if (host) return (await host).slice(0, reports.length);
  return reports.map((r) => ({ container: '', wall: r.wall, cpu: r.cpu, throttled: r.throttled ?? 0 }));
}

/**
 * A burner streamed over SSE (four processes, for at most 60 s) that prints its cgroup's count every half
 * second: `spinningFor(s)` settles once it has spun for `s` seconds, `ended` turns true when its run ends on
 * its own, `done` settles when its stream closes (ended, or cancelled through `signal`) with its last count.
 */
function progressOfBurn(url: string, signal: AbortSignal) {
  let text = '';
  let last: { wall: number; cpu: number | null; throttled: number | null } | undefined;
  const waiting: { seconds: number; resolve: () => void }[] = [];
  const burner = {
    ended: false,
    spinningFor: (seconds: number) => new Promise<void>((resolve) => waiting.push({ seconds, resolve })),
    done: undefined as unknown as Promise<{ body: Json }>,
  };
  burner.done = postStream(
    url,
    { code: program('cpu-burn'), args: ['4', '60', 'progress'], timeout_ms: 90_000 },
    {
      signal,
      onEvent: (event) => {
        if (event.event === 'result' || event.event === 'error') burner.ended = true;
        if (event.event !== 'stdout') return;
        text += event.data.content;
        const lines = text.split('\n');
        text = lines.pop() ?? '';
        for (const line of lines) {
          last = JSON.parse(line);
          for (const w of waiting.filter((w) => last!.wall >= w.seconds)) w.resolve();
        }
      },
    },
  ).then(() => {
    if (!last) throw new Error('the burner printed no progress');
    // In the shape burnSpans reads: a finished burn's report, as far as it got.
    const report = { processes: 4, ...last, source: 'progress', started_at: 0, ended_at: 0 };
    return { body: { status: 'ok', exit_code: 0, stdout: JSON.stringify(report) } as Json };
  });
  return burner;
}

/** A run that ends its sandbox abnormally leaves the runner whole: the next run is served as usual. */
async function nextRunServed(): Promise<void> {
  expect((await post({ code: 'print("served")' })).body).toMatchObject({ status: 'ok', stdout: 'served\n' });
}

/** Registers the whole suite against servers with `env` on top of their test settings. */
export function attackSuite(env: Record<string, string>): void {
  pathEnv = env;
  beforeAll(async () => {
    process.env.RUNBOX_ATTACK_SECRET = 'server-side-secret-value';
    server = await startServer({ ...pathEnv, RUNBOX_MAX_OUTPUT_BYTES: String(OUTPUT_CAP), RUNBOX_OUTPUT_KILL_BYTES: String(FLOOD_BYTES) });
  });

  afterAll(async () => {
    await server.close(60_000);
    delete process.env.RUNBOX_ATTACK_SECRET;
  });

  describe('resource exhaustion', () => {
    /**
     * Under gVisor the program's processes and threads are tasks of gVisor's kernel, which refuses one past
     * RLIMIT_NPROC (the pids limit, container-spec.ts) with EAGAIN, as runc's pids limit does. The pids limit
     * itself counts that kernel's host threads: a sleeping thread holds none, a process holds several (the
     * ptrace platform's stubs). When they run out first, that kernel cannot go on and the sandbox ends
     * (`error`, or `oom` if memory ran out first): contained, and the next run is served. So a fork bomb ends
     * the sandbox there, long before it has forked to the limit, and a thread bomb is refused at the limit.
     * Either way it is over long before its timeout: the tasks are bounded.
     */
    const sandboxEnded = async (body: Json) => {
      expect(body).toMatchObject({ status: expect.stringMatching(/^(error|oom)$/), timed_out: false });
      await nextRunServed();
    };

    it('fork bomb: fork fails with EAGAIN at the pids limit', async () => {
      const body = await attack('fork-bomb', { timeout_ms: 20_000 });
      if (UNDER_GVISOR && body.status !== 'ok') return sandboxEnded(body);
      const [children, errno] = body.stdout.trim().split(' ').map(Number);
      expect(errno).toBe(11);
      expect(children).toBeLessThan(server.config.limits.pidsLimit);
    });

    it('thread bomb: thread creation is refused at the pids limit', async () => {
      const body = await attack('thread-bomb', { timeout_ms: 20_000 });
      if (UNDER_GVISOR && body.status !== 'ok') return sandboxEnded(body);
      const [threads, word] = body.stdout.trim().split(' ');
      expect(word).toBe('refused');
      expect(Number(threads)).toBeLessThan(server.config.limits.pidsLimit);
    });

    it('memory bomb: killed and reported as oom, no swap to hide in', async () => {
      const body = await attack('memory-bomb', { memory_mb: 64 });
      expect(body).toMatchObject({ status: 'oom', oom_killed: true, exit_code: 137 });
    });

    it('scratch space fill: ENOSPC at the tmpfs size, before the OOM killer', async () => {
      const body = await attack('scratch-fill', { memory_mb: 256 });
      expect(body.status).toBe('ok');
      const [megabytes, code] = body.stdout.trim().split(' ');
      expect(code).toBe('ENOSPC');
      expect(Number(megabytes)).toBeLessThanOrEqual(64);
    });

    it("/dev/shm fill: ENOSPC at a quarter of the run's memory, like the other scratch spaces", async () => {
      // Under gVisor its own kernel is charged to the run's memory too: at 32 MB an 8 MB fill meets the OOM killer.
      const memoryMb = UNDER_GVISOR ? 64 : 32;
      const body = await attack('shm-fill', { memory_mb: memoryMb });
      expect(body).toMatchObject({ status: 'ok', oom_killed: false });
      const [megabytes, code] = body.stdout.trim().split(' ');
      expect(code).toBe('ENOSPC');
      expect(Number(megabytes)).toBeLessThanOrEqual(memoryMb / 4);
    });

    it('inode exhaustion: ENOSPC once the tmpfs inodes are used up', async () => {
      if (UNDER_GVISOR) {
        // gVisor's tmpfs has no inode limit (nr_inodes is ignored): files are made until the run's time or
        // memory ends it. Contained all the same, and no other run's inodes are touched (they are per sandbox).
        const body = await attack('inode-exhaustion', { timeout_ms: 8000 });
        expect(body.status).toMatch(/^(timeout|oom)$/);
        return nextRunServed();
      }
      const body = await attack('inode-exhaustion', { timeout_ms: 30_000 });
      expect(body).toMatchObject({ status: 'ok', stdout: 'True ENOSPC\n' });
    });

    it('CPU burn: a concurrent run still completes while two burners hold their cores', async () => {
      // Two burners of four spinning processes each want all of a 2-core machine and more. They spin until
      // the trivial run has been answered and are then cancelled, so "while" holds however slow the machine
      // is: a burner could only end first by spinning into its 60 s, which this test would report.
      const leave = new AbortController();
      const burners = [0, 1].map(() => progressOfBurn(server.url, leave.signal));
      const spans = burnSpans(server.config.instanceId, Promise.all(burners.map((b) => b.done)));
      await Promise.all(burners.map((b) => b.spinningFor(1)));
      const { body } = await post({ code: 'print("served")' });
      expect(body).toMatchObject({ status: 'ok', stdout: 'served\n' });
      expect(burners.map((b) => b.ended)).toEqual([false, false]);
      leave.abort();
      const measured = await spans;
      expect(measured).toHaveLength(2);
      for (const r of measured) {
        expect(r.wall).toBeGreaterThanOrEqual(1);
        expect(r.cpu).toBeLessThanOrEqual(quotaBound(server.config.limits.cpus, r.wall));
      }
    });

    // More spinning processes than the quota (processes, not threads: the GIL would hold threads to one core).
    // Without the quota, four of them on a 2-core machine get about twice the bound, and are never throttled.
    it.each([
      ['the default', {}],
      ['0.5', { RUNBOX_CPUS: '0.5' }],
    ])('CPU quota (%s): four spinning processes get no more CPU time than RUNBOX_CPUS cores allow', async (_name, env) => {
      const own = Object.keys(env).length ? await startServer({ ...pathEnv, ...env, RUNBOX_POOL_SIZE: '0' }) : server;
      try {
        const cpus = own.config.limits.cpus;
        const burner = burn(own.url, 4, 4);
        const [r] = await burnSpans(own.config.instanceId, Promise.all([burner]));
        const report = burnReport((await burner).body);
        expect(report.processes).toBe(4);
        expect(report.wall).toBeGreaterThanOrEqual(4);
        // The host's samples span most of the burn (they start once the container shows as running).
        if (UNDER_GVISOR) expect(r.wall).toBeGreaterThanOrEqual(3);
        expect(r.cpu).toBeLessThanOrEqual(quotaBound(cpus, r.wall));
        // It did burn: CPU time close to the quota, not an idle program under a trivially met bound...
        expect(r.cpu).toBeGreaterThan(cpus * r.wall * 0.5);
        // ...and the kernel held it back at the quota (the cgroup's count of throttled periods).
        if (UNDER_GVISOR || report.throttled !== null) expect(r.throttled).toBeGreaterThan(0);
      } finally {
        if (own !== server) await own.close(30_000);
      }
    });
  });

  describe('filesystem', () => {
    it('writes to /, /usr, /etc, /var/tmp and $HOME fail with EROFS', async () => {
      const body = await attack('write-system-paths');
      // gVisor checks permissions before the read-only mount, so folders the run's uid cannot write give
      // EACCES there; /var/tmp (world-writable) still gives EROFS, which shows the root itself is read-only.
      const denied = UNDER_GVISOR ? 'EACCES' : 'EROFS';
      expect(lines(body)).toEqual([
        `/evil ${denied}`,
        `/usr/evil ${denied}`,
        `/etc/evil ${denied}`,
        '/var/tmp/evil EROFS',
        `/home/runbox/evil ${denied}`,
      ]);
    });

    it('persistence: nothing one run writes is there for the next', async () => {
      expect((await attack('persist-write')).stdout).toBe('written\n');
      expect((await attack('persist-check')).stdout).toBe('[]\n');
    });
  });

  describe('output floods', () => {
    it.each([
      ['endless stdout', 'flood-stdout', 'stdout'],
      ['one huge line without a newline', 'flood-one-line', 'stdout'],
      ['invalid UTF-8', 'flood-invalid-utf8', 'stdout'],
      ['heavy stderr', 'flood-stderr', 'stderr'],
    ])('%s: kept to the cap, flagged, the run ended as output_limit', async (_name, file, stream) => {
      const body = await attack(file, { timeout_ms: 60_000 });
      expect(body).toMatchObject({ status: 'output_limit', exit_code: null, [`${stream}_truncated`]: true });
      const kept = Buffer.from(body[stream], body[`${stream}_encoding`]);
      expect(kept.length).toBeLessThanOrEqual(OUTPUT_CAP * 3); // U+FFFD is 3 bytes per invalid byte
      // In JSON it costs at most twice what was kept: beyond that, the bytes travel as base64.
      expect(Buffer.byteLength(JSON.stringify(body[stream]))).toBeLessThanOrEqual(2 * OUTPUT_CAP + 2);
    });

    it('control bytes: a flood of \\x01 comes back as exact base64, not escaped sixfold', async () => {
      const code = 'import os\nos.write(1, b"\\x01" * 60000)\nos.write(2, b"warn\\n")';
      const body = (await post({ code })).body;
      expect(body).toMatchObject({ status: 'ok', stdout_encoding: 'base64', stderr_encoding: 'utf8', stderr: 'warn\n' });
      expect(Buffer.from(body.stdout, 'base64')).toEqual(Buffer.alloc(60000, 1));
    });

    it("floods leave the server's memory flat", async () => {
      // A server process of its own, so that its peak RSS (VmHWM) counts what the server holds, and nothing else.
      const own = await spawnServer({
        ...pathEnv,
        RUNBOX_INSTANCE_ID: `floods-${randomBytes(4).toString('hex')}`,
        RUNBOX_MAX_OUTPUT_BYTES: String(OUTPUT_CAP),
        RUNBOX_OUTPUT_KILL_BYTES: String(FLOOD_BYTES),
        RUNBOX_MAX_CONCURRENT: '4',
      });
      try {
        const floods = ['flood-stdout', 'flood-one-line', 'flood-invalid-utf8', 'flood-stderr'];
        const round = async () => {
          // The four at once (RUNBOX_MAX_CONCURRENT is 4): 32 MiB streaming through the server together.
          const results = await Promise.all(floods.map((file) => postRun(own.url, { code: program(file), timeout_ms: 60_000 })));
          for (const { body } of results) expect(body).toMatchObject({ status: 'output_limit' });
        };
        // A first round brings the heap to its working size; what a flood costs while it streams is in it.
        await round();
        const peak = rssOf(own.pid, 'VmHWM');
        for (let i = 0; i < 3; i++) await round();
        // 12 floods of 8 MiB each went through: a server that kept them would have grown by ~100 MB or more
        // (~130 MB with a preload keeping every socket chunk); one that did not grows by a few MB of heap.
        expect((rssOf(own.pid, 'VmHWM') - peak) / 1024).toBeLessThan(32);
      } finally {
        own.child.kill('SIGTERM');
        await own.exited;
      }
    });
  });

  describe('processes', () => {
    it('SIGTERM ignored: the program and its children, all ignoring TERM, INT and HUP, are gone once the run ends at its deadline', async () => {
      const token = `ignores-signals-${randomBytes(6).toString('hex')}`;
      const pending = attack('ignore-sigterm', { timeout_ms: 4000, args: [token] });
      if (UNDER_GVISOR) return gvisorSandboxEnds(pending);
      // While the run lasts, the engine sees the program and its three children (every process carries the token).
      let seen: { container: string; cmd: string }[] = [];
      expect(await eventually(async () => (seen = await labelledProcessesWith(token)).length === 4, 4000, 50)).toBe(true);
      const onHost = hostProcessesWith(token).length;
      const body = await pending;
      expect(body).toMatchObject({ status: 'timeout', timed_out: true, exit_code: null, stdout: '4 processes ignore TERM INT HUP\n' });
      // By the time the answer comes, none of them runs: not in its container, not in any other, not on the host.
      expect(await containerProcesses(seen[0].container)).toEqual([]);
      expect(await labelledProcessesWith(token)).toEqual([]);
      if (onHost > 0) expect(hostProcessesWith(token)).toEqual([]); // a local engine's processes are ours to see
      expect((await docker.listByLabel(`${LABEL_RUN_ID}=${body.id}`)).filter((c) => c.state === 'running')).toEqual([]);
      // And the container that held them is removed.
      expect(await eventually(async () => (await docker.listByLabel(`${LABEL_RUN_ID}=${body.id}`)).length === 0)).toBe(true);
    });

    /**
     * Under gVisor the processes live inside gVisor's kernel, not the host's: gVisor lists them (names only,
     * so they are counted: init, the launcher, the program and its three children), and once the run has
     * ended no process of the sandbox (its kernel, gofer or shim) is left on the host.
     */
    async function gvisorSandboxEnds(pending: Promise<Json>): Promise<void> {
      let container = '';
      const pythons = async () => {
        for (const c of await docker.listByLabel(`${LABEL_INSTANCE}=${server.config.instanceId}`)) {
          if (c.state !== 'running') continue;
          if (gvisorProcesses(c.id).filter((name) => name === 'python3').length >= 5) container = c.id;
        }
        return container !== '';
      };
      expect(await eventually(pythons, 4000, 50)).toBe(true);
      expect(hostProcessesWith(container).length).toBeGreaterThan(0);
      const body = await pending;
      expect(body).toMatchObject({ status: 'timeout', timed_out: true, exit_code: null, stdout: '4 processes ignore TERM INT HUP\n' });
      expect(gvisorProcesses(container)).toEqual([]);
      expect(await eventually(async () => hostProcessesWith(container).length === 0, 5000)).toBe(true);
      expect(await eventually(async () => (await docker.listByLabel(`${LABEL_RUN_ID}=${body.id}`)).length === 0)).toBe(true);
    }

    it('detached children and zombies: nothing outlives the program, nothing writes after it', async () => {
      // The program has 23 processes. Under gVisor each costs gVisor's kernel several host threads of the pids
      // limit (see the bombs), so many that 20 zombies can end the sandbox there: this test of leftovers gets
      // room for them, on a server of its own (the limit has its own tests above).
      const own = UNDER_GVISOR ? await startServer({ ...pathEnv, RUNBOX_PIDS_LIMIT: '1024' }) : server;
      try {
        const { status, body } = await postRun(own.url, { code: program('detached-children'), timeout_ms: 30_000 });
        expect(status).toBe(200);
        // The daemon writes only from a second after the program ended: by then the launcher has killed it.
        expect(body).toMatchObject({ status: 'ok', stdout: 'parent done\n' });
      } finally {
        if (own !== server) await own.close(30_000);
      }
    });
  });

  describe('network and host', () => {
    it('network: only lo, no routes, DNS fails, loopback refuses', async () => {
      const body = await attack('network');
      expect(lines(body)).toEqual(["['lo'] 0", 'dns failed', 'loopback 111']);
    });

    it('host information: kcore, keys and firmware hidden; no server environment', async () => {
      const body = await attack('host-info');
      const out = lines(body);
      expect(out[0]).toMatch(/^kcore (denied \d+|read 0)$/);
      expect(out[1]).toMatch(/^keys (denied \d+|read 0)$/);
      expect(out[2]).toMatch(/^firmware (\[\]|absent)$/);
      expect(out[3]).not.toMatch(/RUNBOX|SECRET|API_KEY/);
      expect(JSON.stringify(body)).not.toContain(process.env.RUNBOX_ATTACK_SECRET);
      // Its own pid namespace: the init, the launcher, the program (no other run, no host process).
      expect(JSON.parse(out[4].replace('pids ', '')).length).toBeLessThanOrEqual(4);
    });

    it('privileges: CapEff 0, NoNewPrivs 1, Seccomp 2; setuid, mount, unshare, chroot, mknod fail', async () => {
      const body = await attack('privileges');
      const uid = Number(/^uid (\d+)/.exec(lines(body)[0])?.[1]);
      expect(uid).toBeGreaterThanOrEqual(SANDBOX_UID);
      expect(uid).toBeLessThan(SANDBOX_UID + server.config.limits.maxConcurrent);
      expect(lines(body)).toEqual([
        `uid ${uid} CapEff 0000000000000000 NoNewPrivs 1 Seccomp 2`,
        'setuid EPERM',
        'mount EPERM',
        'unshare EPERM',
        'chroot EPERM',
        'clone3 ENOSYS',
        // gVisor lets an unprivileged user make a device node, but it leads to no host device: its kernel
        // has none to give (and the scratch mounts are nodev).
        UNDER_GVISOR ? 'mknod succeeded, open ENXIO' : 'mknod EPERM',
      ]);
    });

    it('no Docker or containerd socket inside', async () => {
      expect((await attack('engine-sockets')).stdout).toBe('[]\n');
    });

    it('io_uring: setup, enter and register fail with EPERM', async () => {
      expect(lines(await attack('io-uring'))).toEqual(['io_uring_setup EPERM', 'io_uring_enter EPERM', 'io_uring_register EPERM']);
    });
  });

  describe('result integrity', () => {
    it('launcher memory: /proc/<launcher>/mem, fd and environ, and ptrace are all closed; the run is intact', async () => {
      const body = await attack('launcher-memory');
      const out = lines(body);
      expect(out[0]).toBe('parent launcher');
      // gVisor does not close /proc/<pid>/fd and environ of a non-dumpable process. Neither holds the marker:
      // the job came on stdin and was read before the program started, and the launcher's environment is
      // the image's, the same as the program's. Its memory and ptrace stay closed.
      const closed = UNDER_GVISOR
        ? /^(mem|ptrace) (EACCES|EPERM)$|^(fd|environ) (EACCES|EPERM|open)$/
        : /^(mem|fd|environ|ptrace) (EACCES|EPERM)$/;
      for (const line of out.slice(1)) expect(line).toMatch(closed);
      expect(out).toHaveLength(5);
      expect(body).toMatchObject({ status: 'ok', exit_code: 0, artifacts: [{ path: 'after.txt', content: 'intact' }] });
    });
  });

  describe('concurrent runs', () => {
    it('per-uid kernel limits: one run holding every inotify instance does not starve another', async () => {
      // The hog says on its stream when it holds every instance of its uid, and holds them until it is stopped
      // (its client leaves): the checks run in between, so they cannot miss the moment.
      const cancel = new AbortController();
      let report = '';
      let holding!: () => void;
      const full = new Promise<void>((resolve) => (holding = resolve));
      const hog = postStream(
        server.url,
        { code: program('inotify-hog'), timeout_ms: 120_000 },
        {
          signal: cancel.signal,
          onEvent: (event) => {
            if (event.event === 'stdout') report += event.data.content;
            if (report.endsWith('\n') || event.event === 'result' || event.event === 'error') holding();
          },
        },
      );
      try {
        await full;
        const [held, why, hogUid] = report.trim().split(' ');
        expect(Number(held)).toBeGreaterThan(0);
        expect(why).toBe('EMFILE');
        for (let i = 0; i < 2; i++) {
          const [result, checkUid] = (await attack('inotify-check')).stdout.trim().split(' ');
          expect(result).toBe('ok');
          expect(checkUid).not.toBe(hogUid);
        }
      } finally {
        cancel.abort();
        await hog;
      }
    });
  });

  describe('hostile input and artifacts', () => {
    it.each([
      ['../x', /'\.\.'/],
      ['/abs', /absolute/],
      ['a\u0000b', /NUL/],
      ['a\nb', /control/],
      ['-rf', /starting with -/],
      ['n'.repeat(256), /longer than 255/],
      ['.', /'\.'/],
      ['a/..', /'\.\.'/],
    ])('input name %j: 400 before any container exists', async (path, why) => {
      const before = await runContainers();
      const { status, body } = await post({ code: 'print(1)', files: [{ path, content: 'x' }] });
      expect(status).toBe(400);
      expect(body.error.message).toMatch(why);
      expect((await runContainers()).filter((id) => !before.includes(id))).toEqual([]);
    });

    it('duplicate input names: 400', async () => {
      const { status, body } = await post({
        code: 'print(1)',
        files: [
          { path: 'a', content: '1' },
          { path: 'a', content: '2' },
        ],
      });
      expect(status).toBe(400);
      expect(body.error.message).toMatch(/a is given twice/);
    });

    it('hostile artifacts: symlinks, hardlinks, FIFO, a 10 GB sparse file are left out; regular files come back', async () => {
      const body = await attack('hostile-artifacts');
      expect(body.stdout).toBe('planted\n');
      expect(body.artifacts.map((a: Json) => a.path).sort()).toEqual(['dir/ok.txt']);
      expect(body.artifacts_truncated).toBe(true);
      expect(JSON.stringify(body)).not.toMatch(/root:x:0:0/);
    });

    it('hostile artifact names: bidi overrides, separators, zero-width, BOM, invalid UTF-8 and look-alikes are left out', async () => {
      const body = await attack('hostile-names');
      expect(body.stdout).toBe('10\n');
      // Of the NFD/NFC pair only the first in the archive (sorted by name) comes back; the rest are flagged.
      expect(body.artifacts.map((a: Json) => a.path).sort()).toEqual(['cafe\u0301', 'plain.txt']);
      expect(body.artifacts_truncated).toBe(true);
    });

    it('thousands of artifacts: the count cap holds and the rest is flagged', async () => {
      const body = await attack('many-artifacts', { timeout_ms: 60_000 });
      expect(body.status).toBe('ok');
      expect(body.artifacts).toHaveLength(server.config.limits.maxArtifacts);
      expect(body.artifacts_truncated).toBe(true);
    });
  });

  afterAll(async () => {
    await server.runner.settle();
    expect(await runContainers()).toEqual([]);
  });
}
