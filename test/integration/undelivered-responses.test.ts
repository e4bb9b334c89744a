/**
 * Clients that never read their responses, against the real engine: what the server holds for them is
 * bounded by its run slots, each response is bounded after escaping, and a response that cannot be
 * delivered in time is dropped with its connection.
 */
import { rssOf } from '../../bench/stats';
import { makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS, type KeyLimits } from '../../src/store/store';
import { eventually, instanceContainers, runContainers, startServer } from '../support/engine';
import { postHead, RawClient } from '../support/raw-http';
import { testInstanceId } from '../support/instance';
import { spawnServer } from '../support/server-process';

const MiB = 1024 * 1024;
/** 1 MiB of \x01 on stdout and on stderr, two 5 MiB files of it: 12 MiB that JSON escaping would make 72. */
const CONTROL_FLOOD = [
  'import os',
  'os.write(1, b"\\x01" * (1 << 20))',
  'os.write(2, b"\\x01" * (1 << 20))',
  'for name in ("a.bin", "b.bin"):',
  '    open("output/" + name, "wb").write(b"\\x01" * (5 << 20))',
].join('\n');
const body = JSON.stringify({ code: CONTROL_FLOOD, timeout_ms: 30_000 });

/** Sends the flood request (as `key`, if given) and never reads a byte of the answer. */
async function nonReader(port: number, key?: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  client.socket.pause();
  await client.write(postHead({ 'content-length': Buffer.byteLength(body), ...(key ? { 'x-api-key': key } : {}) }) + body);
  return client;
}

afterAll(async () => {
  expect(await eventually(async () => (await runContainers()).length === 0)).toBe(true);
});

it("holds a run's slot until its response is delivered, and drops an undelivered one at RUNBOX_RESPONSE_TIMEOUT_MS", async () => {
  // The response's time starts when the run ends; its container is removed meanwhile. 6 s leaves that removal
  // (a fraction of a second, more on a loaded engine) far inside the window the first check looks through.
  const server = await startServer({ RUNBOX_MAX_CONCURRENT: '1', RUNBOX_POOL_SIZE: '0', RUNBOX_RESPONSE_TIMEOUT_MS: '6000' });
  try {
    const port = Number(new URL(server.url).port);
    const client = await nonReader(port);
    // The run is over and its container gone, but the response is stuck: the slot is still taken.
    expect(await eventually(async () => server.runner.liveCount === 0 && server.admission.inUse === 1, 30_000, 20)).toBe(true);
    // This server's own: other servers on the engine (a suite run beside this one) may have theirs.
    expect(await instanceContainers(server.config.instanceId)).toEqual([]);
    // At the deadline the connection is destroyed, which frees the slot.
    expect(await eventually(async () => server.admission.inUse === 0, 15_000)).toBe(true);
    expect(await new Promise<number>((resolve) => server.server.getConnections((_, n) => resolve(n)))).toBe(0);
    client.socket.destroy();
    const res = await fetch(`${server.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"code":"print(2)"}',
    });
    expect(((await res.json()) as { stdout: string }).stdout).toBe('2\n');
  } finally {
    await server.close(30_000);
  }
});

it("holds a key's undelivered responses against its own concurrency share, not the server's slots", async () => {
  const server = await startServer({ RUNBOX_MAX_CONCURRENT: '4', RUNBOX_POOL_SIZE: '0', RUNBOX_RESPONSE_TIMEOUT_MS: '60000' });
  const addKey = async (name: string, limits: Partial<KeyLimits>) => {
    const made = makeKey({ name, env: 'test', limits: { ...NO_LIMITS, ...limits } });
    await server.store.addKey(made.record);
    return made.key;
  };
  const gauge = async (name: string) =>
    Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
  const clients: RawClient[] = [];
  try {
    const attacker = await addKey('withholds reads', { maxConcurrent: 1 });
    const victim = await addKey('reads', {});
    const port = Number(new URL(server.url).port);
    for (let i = 0; i < 4; i++) clients.push(await nonReader(port, attacker));
    // The first run is over and its response stuck; the other three wait for the key's one share.
    expect(await eventually(async () => server.runner.liveCount === 0 && (await gauge('runbox_key_share_waiting')) === 3, 30_000, 50)).toBe(
      true,
    );
    // On the previous main the stuck response kept its slot, and each of the four took one in turn.
    expect(await gauge('runbox_slots_in_use')).toBe(0);
    const res = await fetch(`${server.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': victim },
      body: '{"code":"print(2)"}',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { stdout: string }).stdout).toBe('2\n');
    // The attacker still waits on itself: its other runs have not started.
    expect(await gauge('runbox_key_share_waiting')).toBe(3);
  } finally {
    for (const client of clients) client.socket.destroy();
    await server.close(30_000);
  }
}, 120_000);

it('keeps its memory bounded while clients pile up responses they never read; a reader gets a bounded response', async () => {
  const server = await spawnServer({
    RUNBOX_INSTANCE_ID: testInstanceId('undelivered'),
    RUNBOX_MAX_CONCURRENT: '2',
    RUNBOX_POOL_SIZE: '0',
    RUNBOX_RESPONSE_TIMEOUT_MS: '3000',
  });
  const clients: RawClient[] = [];
  try {
    const port = Number(new URL(server.url).port);
    for (let i = 0; i < 8; i++) clients.push(await nonReader(port));
    const res = await fetch(`${server.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.text();
    const result = JSON.parse(text) as {
      status: string;
      stdout_encoding: string;
      stderr_encoding: string;
      artifacts: { encoding: string }[];
    };
    expect(result).toMatchObject({ status: 'ok', stdout_encoding: 'base64', stderr_encoding: 'base64' });
    expect(result.artifacts.map((a) => a.encoding)).toEqual(['base64', 'base64']);
    // 12 MiB produced: base64 and the JSON around it, not the 72 MiB of \u0001 escapes.
    expect(Buffer.byteLength(text)).toBeLessThan(1.4 * 12 * MiB);
    // On the previous main each undelivered response cost ~220 MB of heap until the process died.
    expect(rssOf(server.pid, 'VmHWM') / 1024).toBeLessThan(500);
  } finally {
    for (const client of clients) client.socket.destroy();
    server.child.kill('SIGTERM');
    await server.exited;
  }
}, 120_000);
