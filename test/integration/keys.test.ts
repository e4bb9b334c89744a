/** Keys end to end: the `runbox keys` command, server processes, and a store shared through PostgreSQL. */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIRST_KEY_NOTICE, KEYS_NOW_REQUIRED } from '../../src/keys/api-keys';
import { SQLITE_FILE } from '../../src/store/sqlite';
import { testDataDir } from '../support/config';
import { startPostgres } from '../support/postgres';
import { getRecord, postRun } from '../support/http';
import { testInstanceId } from '../support/instance';
import { spawnServer } from '../support/server-process';
import { eventually } from '../support/wait';

const CLI = join(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);

/** `runbox ...` with the given settings (and folder); its stdout, stderr and exit code. */
async function cli(args: string[], env: Record<string, string>, cwd?: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** `runbox keys ...` with the given store settings. */
const keys = (args: string[], env: Record<string, string>, cwd?: string) => cli(['keys', ...args], env, cwd);

const toolsList = (url: string, key?: string) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(key ? { 'x-api-key': key } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  }).then((res) => res.status);

describe('starting with stored keys', () => {
  it('a public address with no key anywhere: exits 2 before listening', async () => {
    const failed = await spawnServer({ HOST: '0.0.0.0', RUNBOX_POOL_SIZE: '0' }).catch((err: Error) => err);
    expect((failed as Error).message).toMatch(/server exited \(2\)/);
    expect((failed as Error).message).toMatch(/HOST=0\.0\.0\.0 is not loopback: set RUNBOX_API_KEY, or add a key with `runbox keys add`/);
  });

  it('a public address with a stored key: starts, and takes that key only', async () => {
    const dataDir = testDataDir();
    const added = await keys(['add', '--name', 'ci', '--env', 'test'], { RUNBOX_DATA_DIR: dataDir });
    expect(added.code).toBe(0);
    const key = added.stdout.trim();
    const server = await spawnServer({ HOST: '0.0.0.0', RUNBOX_POOL_SIZE: '0', RUNBOX_DATA_DIR: dataDir });
    try {
      const url = server.url.replace('0.0.0.0', '127.0.0.1');
      expect(await toolsList(url)).toBe(401);
      expect(await toolsList(url, key)).toBe(200);
      const listed = await keys(['list'], { RUNBOX_DATA_DIR: dataDir });
      expect(listed.stdout).toMatch(/key_[0-9a-f]{12}\s+ci\s+test\s+rbx_test_\w{4}…\s+\S+Z\s+\S+Z\s+-\s+active/);
      expect(listed.stdout).not.toContain(key);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('a corrupt SQLite file: exits 2 naming it, and leaves it alone', async () => {
    const dataDir = testDataDir();
    writeFileSync(join(dataDir, SQLITE_FILE), 'not a database at all, not even close'.repeat(50));
    const failed = await spawnServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_DATA_DIR: dataDir }).catch((err: Error) => err);
    expect((failed as Error).message).toMatch(/server exited \(2\)/);
    expect((failed as Error).message).toMatch(/cannot open the SQLite store .*runbox\.db: file is not a database/);
  });

  it('an unreachable PostgreSQL: exits 2 naming RUNBOX_DATABASE_URL without its password', async () => {
    const failed = await spawnServer({
      RUNBOX_POOL_SIZE: '0',
      RUNBOX_DATABASE_URL: 'postgresql://runbox:hunter2@localhost/runbox?host=/nonexistent-socket-dir',
    }).catch((err: Error) => err);
    expect((failed as Error).message).toMatch(/server exited \(2\)/);
    expect((failed as Error).message).toMatch(/RUNBOX_DATABASE_URL postgresql:\/\/runbox:\*\*\*@localhost/);
    expect((failed as Error).message).not.toContain('hunter2');
  });
});

describe('keys without traps', () => {
  it('finds the store by one rule wherever it runs, says which it opened, and makes none by accident', async () => {
    const home = testDataDir();
    const elsewhere = testDataDir();
    const store = join(home, '.local/share/runbox', SQLITE_FILE);
    const env = { HOME: home };

    // From any folder: no store yet, so an error naming where it looked, and no empty store made there or here.
    const listed = await keys(['list'], env, elsewhere);
    expect(listed.code).toBe(66);
    expect(listed.stderr).toContain(`no key store at SQLite at ${store} (this user's default; RUNBOX_DATA_DIR overrides it)`);
    expect(existsSync(store)).toBe(false);
    expect(readdirSync(elsewhere)).toEqual([]);

    // The server, run by the same user with no RUNBOX_DATA_DIR, makes and names the same one.
    const server = await spawnServer({ ...env, RUNBOX_DATA_DIR: '', RUNBOX_POOL_SIZE: '0' });
    try {
      expect(server.log()).toContain(`"store":"SQLite at ${store} (this user's default; RUNBOX_DATA_DIR overrides it)"`);
      expect(await toolsList(server.url)).toBe(200);
      const empty = await keys(['list'], env, elsewhere);
      expect(empty.code).toBe(0);
      expect(empty.stderr).toContain(`key store: SQLite at ${store}`);

      // The first key locks the keyless server: the CLI says so as it adds it, and the server says why it refuses.
      const added = await keys(['add', '--name', 'first'], env, elsewhere);
      expect(added.code).toBe(0);
      expect(added.stderr).toContain(FIRST_KEY_NOTICE);
      const key = added.stdout.trim();
      const refused = await fetch(`${server.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(KEYS_NOW_REQUIRED);
      // The operator reads it too, once however many are refused.
      await fetch(`${server.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      // Each request's own log line follows anything it logged: once both are in, so is any second warning.
      const refusals = () => server.log().match(/"status":401,.*"msg":"request"/g)?.length ?? 0;
      expect(await eventually(() => refusals() >= 2)).toBe(true);
      expect(server.log().split(KEYS_NOW_REQUIRED).length - 1).toBe(1);

      // The CLI says what to set, in its own terms, with or without a key that does not work.
      writeFileSync(join(elsewhere, 'hello.py'), 'print("hello")\n');
      const noKey = await cli(['run', 'hello.py', '--url', server.url], env, elsewhere);
      expect(noKey.code).toBe(77);
      expect(noKey.stderr).toMatch(/^runbox: the server needs an API key: set RUNBOX_API_KEY or pass --api-key \(the server said: /);
      const wrongKey = await cli(
        ['run', 'hello.py', '--url', server.url],
        { ...env, RUNBOX_API_KEY: 'rbx_test_' + 'x'.repeat(32) },
        elsewhere,
      );
      expect(wrongKey.code).toBe(77);
      expect(wrongKey.stderr).toMatch(/^runbox: the server refused the API key given \(RUNBOX_API_KEY or --api-key\)/);
      expect(await toolsList(server.url, key)).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('stops on a store left in ./data by the earlier default, rather than start afresh beside it', async () => {
    const home = testDataDir();
    const checkout = testDataDir();
    const earlier = join(checkout, 'data');
    expect((await keys(['add', '--name', 'old'], { RUNBOX_DATA_DIR: earlier })).code).toBe(0);
    const listed = await keys(['list'], { HOME: home }, checkout);
    expect(listed.code).toBe(66);
    expect(listed.stderr).toContain(`to keep using it, set RUNBOX_DATA_DIR=${earlier}`);
    // keys add and the server refuse it too, rather than start afresh beside it (keyless, where it had keys).
    expect((await keys(['add', '--name', 'new'], { HOME: home }, checkout)).code).toBe(66);
    const server = await spawnServer({ HOME: home, RUNBOX_DATA_DIR: '', RUNBOX_POOL_SIZE: '0' }, { cwd: checkout }).catch(
      (err: Error) => err,
    );
    expect((server as Error).message).toMatch(/server exited \(2\)/);
    expect((server as Error).message).toContain(`to keep using it, set RUNBOX_DATA_DIR=${earlier}`);
    expect(existsSync(join(home, '.local/share/runbox'))).toBe(false);
    const kept = await keys(['list'], { HOME: home, RUNBOX_DATA_DIR: earlier }, checkout);
    expect(kept.stdout).toMatch(/\bold\b/);
  });
});

describe('two replicas sharing PostgreSQL', () => {
  it('take a key added on either, and refuse it on both from the next request after it is revoked', async () => {
    const pg = startPostgres();
    const env = { RUNBOX_DATABASE_URL: pg.url };
    const replicas = await Promise.all(
      ['a', 'b'].map((name) => spawnServer({ ...env, RUNBOX_POOL_SIZE: '0', RUNBOX_INSTANCE_ID: testInstanceId(`replica-${name}`) })),
    );
    try {
      const added = await keys(['add', '--name', 'shared', '--max-timeout-ms', '5000'], env);
      const key = added.stdout.trim();
      for (const replica of replicas) expect(await toolsList(replica.url, key)).toBe(200);
      const id = /key_[0-9a-f]{12}/.exec((await keys(['list'], env)).stdout)![0];
      expect((await keys(['revoke', id], env)).code).toBe(0);
      for (const replica of replicas) expect(await toolsList(replica.url, key)).toBe(401);
    } finally {
      for (const replica of replicas) replica.child.kill('SIGTERM');
      await Promise.all(replicas.map((replica) => replica.exited));
      pg.stop();
    }
  });

  it("hold a key's rate, concurrency and daily runs across both", async () => {
    const pg = startPostgres();
    const env = { RUNBOX_DATABASE_URL: pg.url };
    const replicas = await Promise.all(
      ['a', 'b'].map((name) => spawnServer({ ...env, RUNBOX_POOL_SIZE: '0', RUNBOX_INSTANCE_ID: testInstanceId(`replica-${name}`) })),
    );
    try {
      // One token per 100 s: what one replica takes, the other cannot have, however long the requests take.
      const added = await keys(['add', '--name', 'limited', '--rate', '0.01', '--concurrency', '1', '--daily-runs', '3'], env);
      expect(added.code).toBe(0);
      const key = added.stdout.trim();
      const id = /key_[0-9a-f]{12}/.exec((await keys(['list'], env)).stdout)![0];
      const [a, b] = replicas.map((replica) => replica.url);
      const get = (url: string) => fetch(`${url}/v1/runs/run_none`, { headers: { 'x-api-key': key } }).then((res) => res.status);
      // A run waits for the key's one share within the queue's bound (30 s): room for a loaded machine.
      const run = (url: string, code: string) =>
        postRun(url, { code, timeout_ms: 60_000 }, { headers: { 'content-type': 'application/json', 'x-api-key': key } });

      // One bucket between them, not one each.
      expect([await get(a), await get(b)]).toEqual([404, 429]);
      // The rate lifted (from the next request on, on both), for what follows.
      expect((await keys(['set', id, '--rate', 'none'], env)).code).toBe(0);

      // One run at a time between them: the second starts when the first has ended.
      const slow = 'import time; time.sleep(1.5)';
      const both = await Promise.all([run(a, slow), run(b, slow)]);
      expect(both.map((r) => r.status)).toEqual([200, 200]);
      const records = [(await getRecord(a, both[0].body.id, key)).body, (await getRecord(b, both[1].body.id, key)).body];
      const [first, second] = records.sort((x, y) => Date.parse(x.started_at) - Date.parse(y.started_at));
      expect(Date.parse(second.started_at)).toBeGreaterThanOrEqual(Date.parse(first.ended_at));

      // Three runs a day between them: two are spent, one is left, on either.
      expect((await run(b, 'print(3)')).status).toBe(200);
      const refused = await run(a, 'print(4)');
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('quota_exceeded');
      const listed = await keys(['list'], env);
      expect(listed.stdout).toMatch(/limited .* concurrency=1 daily=3 +active/);
    } finally {
      for (const replica of replicas) replica.child.kill('SIGTERM');
      await Promise.all(replicas.map((replica) => replica.exited));
      pg.stop();
    }
  });
});
