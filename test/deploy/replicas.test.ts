/**
 * Replicas behind a load balancer, on loopback: three server processes, each with its own instance id, sharing
 * one PostgreSQL, behind nginx running deploy/nginx/nginx.conf. Mixed traffic goes through nginx while one
 * replica is killed with -9 and started again. The same topology as several hosts, each with its own engine.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { eventually, instanceContainers } from '../support/engine';
import { startPostgres } from '../support/postgres';
import { testInstanceId } from '../support/instance';
import { spawnServer } from '../support/server-process';

const CLI = join(__dirname, '../../dist/cli/main.js');
const NGINX_CONF = join(__dirname, '../../deploy/nginx/nginx.conf');
const run = promisify(execFile);

type Replica = Awaited<ReturnType<typeof spawnServer>>;

/** Ports nobody listens on now (the replicas must come back on theirs after a restart). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const server = createServer();
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Each request's line in nginx's access log (deploy/nginx/nginx.conf's `runbox` format), by its request id. */
function accessLog(prefix: string): Map<string, { status: number; upstreams: string[] }> {
  const lines = readFileSync(join(prefix, 'logs/access.log'), 'utf8').trim().split('\n');
  return new Map(
    lines.map((line) => {
      // $time_iso8601 $http_x_request_id $status $upstream_addr $upstream_status $request_time, where the two
      // upstream fields list every replica tried ("a:1, b:2"): the addresses are the fields with a colon.
      const fields = line.split(' ');
      const upstreams = fields
        .slice(3, -1)
        .filter((f) => f.includes(':'))
        .map((f) => f.replace(/,$/, ''));
      return [fields[1], { status: Number(fields[2]), upstreams }] as const;
    }),
  );
}

interface Sent {
  requestId: string;
  key: 'quota' | 'plain';
  status: number;
  runId?: string;
  error?: string;
}

describe('replicas behind nginx', () => {
  let pg: ReturnType<typeof startPostgres>;
  let nginx: ChildProcess;
  let prefix: string;
  let ports: { lb: number; replicas: number[] };
  const replicas = new Map<string, Replica>();
  const instances: Record<string, string> = {
    a: testInstanceId('replica-a'),
    b: testInstanceId('replica-b'),
    c: testInstanceId('replica-c'),
  };
  const instance = (name: string) => instances[name];
  const keys: Record<'quota' | 'plain', string> = { quota: '', plain: '' };
  const DAILY = 10;

  const startReplica = async (name: string, port: number) => {
    const replica = await spawnServer({
      PORT: String(port),
      RUNBOX_INSTANCE_ID: instance(name),
      RUNBOX_DATABASE_URL: pg.url,
      RUNBOX_POOL_SIZE: '1',
      RUNBOX_MAX_CONCURRENT: '3',
      RUNBOX_SHUTDOWN_GRACE_MS: '0',
    });
    replicas.set(name, replica);
    return replica;
  };

  beforeAll(async () => {
    pg = startPostgres();
    const [lb, ...replicaPorts] = await freePorts(4);
    ports = { lb, replicas: replicaPorts };
    for (const [name, flags] of [
      ['quota', ['--daily-runs', String(DAILY)]],
      ['plain', []],
    ] as const) {
      const added = await run(process.execPath, [CLI, 'keys', 'add', '--name', name, '--env', 'test', ...flags], {
        env: { PATH: process.env.PATH, RUNBOX_DATABASE_URL: pg.url },
      });
      keys[name] = added.stdout.trim();
    }
    await Promise.all(['a', 'b', 'c'].map((name, i) => startReplica(name, replicaPorts[i])));
    // The shipped configuration, pointed at this test's ports.
    prefix = mkdtempSync(join(tmpdir(), 'runbox-nginx-'));
    mkdirSync(join(prefix, 'logs'));
    const conf = readFileSync(NGINX_CONF, 'utf8')
      .replace('127.0.0.1:8080', `127.0.0.1:${lb}`)
      .replace('127.0.0.1:8001', `127.0.0.1:${replicaPorts[0]}`)
      .replace('127.0.0.1:8002', `127.0.0.1:${replicaPorts[1]}`)
      .replace('127.0.0.1:8003', `127.0.0.1:${replicaPorts[2]}`);
    writeFileSync(join(prefix, 'nginx.conf'), conf);
    nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
    expect(await eventually(async () => (await fetch(`http://127.0.0.1:${lb}/health`).catch(() => undefined))?.ok === true)).toBe(true);
  }, 120_000);

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await Promise.all(
      [...replicas.values()].map(async (r) => {
        r.child.kill('SIGTERM');
        await r.exited;
      }),
    );
    pg?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  const post = async (url: string, key: string, body: object, requestId: string) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-request-id': requestId },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, runId: res.headers.get('x-runbox-run-id') ?? undefined };
  };

  it('keeps serving while a replica is killed -9 and restarted: quotas hold, the audit trail has each run once, the successor reaps', async () => {
    const b = replicas.get('b')!;
    const bAddress = `127.0.0.1:${ports.replicas[1]}`;
    // A long run straight to replica b: in flight when b dies, so its container outlives b.
    const long = post(`${b.url}/v1/runs`, keys.plain, { code: 'import time\ntime.sleep(60)', timeout_ms: 90_000 }, 'long-on-b').catch(
      (err: Error) => ({ status: 0, text: err.message, runId: undefined }),
    );
    expect(await eventually(async () => (await instanceContainers(instance('b'))).length >= 2)).toBe(true);

    const lb = `http://127.0.0.1:${ports.lb}`;
    const programs = [
      { path: '/v1/runs', body: { code: 'print(sum(range(10)))' } },
      { path: '/v1/runs', body: { code: 'import sys\nprint("x", file=sys.stderr)\nsys.exit(3)' } },
      { path: '/v1/runs', body: { code: 'import time\ntime.sleep(1.5)\nopen("output/a.txt", "w").write("a")' } },
      { path: '/run', body: { code: 'print(6 * 7)' } },
    ];
    const sent: Sent[] = [];
    const TOTAL = 40;
    let next = 0;
    let left: string[] = [];
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        if (i === 10) {
          // Kill b mid-traffic; whatever it was running dies with it.
          left = await instanceContainers(instance('b'));
          b.child.kill('SIGKILL');
          await b.exited;
        }
        if (i === 26) await startReplica('b', ports.replicas[1]);
        const key = i % 2 === 0 ? 'quota' : 'plain';
        const { path, body } = programs[i % programs.length];
        const requestId = `req-${i}`;
        try {
          const res = await post(`${lb}${path}`, keys[key], body, requestId);
          const runId = res.runId ?? (res.status === 200 ? (JSON.parse(res.text) as { id?: string }).id : undefined);
          sent.push({ requestId, key, status: res.status, runId, ...(res.status >= 500 ? { error: res.text.slice(0, 200) } : {}) });
        } catch (err) {
          sent.push({ requestId, key, status: 0, error: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    expect(sent).toHaveLength(TOTAL);
    expect((await long).status).toBe(0);

    // Every request that failed was on b when it died (nginx's log says which replica answered each, once it has).
    expect(await eventually(() => sent.every((s) => accessLog(prefix).has(s.requestId)))).toBe(true);
    const log = accessLog(prefix);
    const failed = sent.filter((s) => s.status !== 200 && !(s.status === 429 && s.key === 'quota'));
    for (const f of failed) expect({ ...f, upstreams: log.get(f.requestId)?.upstreams }).toEqual({ ...f, upstreams: [bAddress] });
    expect(failed.length).toBeLessThanOrEqual(4);

    // The daily quota held across replicas: never more than it allows, and only what b's death took is lost.
    const quota = sent.filter((s) => s.key === 'quota');
    const quotaOk = quota.filter((s) => s.status === 200).length;
    expect(quotaOk).toBeLessThanOrEqual(DAILY);
    expect(quotaOk + quota.filter((s) => s.status !== 200 && s.status !== 429).length).toBeGreaterThanOrEqual(DAILY);
    // The plain key's runs all completed, wherever they went (but for those on b when it died).
    expect(sent.filter((s) => s.key === 'plain' && s.status === 200).length).toBeGreaterThanOrEqual(TOTAL / 2 - failed.length);

    // The audit trail has every completed run exactly once, ended.
    const db = new Client({ connectionString: pg.url });
    await db.connect();
    try {
      const completed = sent.filter((s) => s.status === 200).map((s) => s.runId!);
      expect(completed.every((id) => typeof id === 'string')).toBe(true);
      const rows = (
        await db.query<{ id: string; status: string; request_id: string }>('SELECT id, status, request_id FROM runs WHERE id = ANY($1)', [
          completed,
        ])
      ).rows;
      expect(rows.map((r) => r.id).sort()).toEqual([...completed].sort());
      expect(rows.filter((r) => r.status === 'running')).toEqual([]);
      // One record per request id too: nothing ran twice.
      const all = (
        await db.query<{ request_id: string; n: string }>(
          'SELECT request_id, count(*) AS n FROM runs GROUP BY request_id HAVING count(*) > 1',
        )
      ).rows;
      expect(all).toEqual([]);
    } finally {
      await db.end();
    }

    // nginx passes b over for its fail_timeout (5 s) after the refused connects, then b takes runs again.
    let after = 0;
    const servedByB = async () => {
      const requestId = `after-${after++}`;
      await post(`${lb}/v1/runs`, keys.plain, { code: 'print(1)' }, requestId);
      expect(await eventually(() => accessLog(prefix).has(requestId))).toBe(true);
      const line = accessLog(prefix).get(requestId)!;
      return line.status === 200 && line.upstreams.at(-1) === bAddress;
    };
    expect(await eventually(servedByB, 60_000, 250)).toBe(true);

    // The restarted b reaped what its predecessor left: the long run's container and its warm member.
    expect(left.length).toBeGreaterThanOrEqual(2);
    expect(await eventually(async () => (await instanceContainers(instance('b'))).every((id) => !left.includes(id)))).toBe(true);

    // The figures, for the record (no assertion rests on them).
    const byStatus = new Map<number, number>();
    for (const s of sent) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
    const byUpstream = new Map<string, number>();
    for (const s of sent) {
      const upstream = log.get(s.requestId)?.upstreams.at(-1) ?? 'none';
      byUpstream.set(upstream, (byUpstream.get(upstream) ?? 0) + 1);
    }
    process.stderr.write(
      `[replicas] ${TOTAL} requests through nginx, replica b killed -9 at the 10th and restarted at the 26th: ` +
        `statuses ${JSON.stringify(Object.fromEntries(byStatus))}, upstreams ${JSON.stringify(Object.fromEntries(byUpstream))}, ` +
        `failed ${failed.length} (all on b), quota key ${quotaOk}/${DAILY} ok, audit records ${sent.filter((s) => s.status === 200).length} (each once), ` +
        `b's predecessor left ${left.length} containers, reaped\n`,
    );
  }, 240_000);
});
