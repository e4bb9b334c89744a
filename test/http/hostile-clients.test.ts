/**
 * The HTTP server against hostile clients, over real sockets on loopback (the engine is a fake: nothing here
 * gets as far as a run). Each test is bounded in requests and time.
 */
import { gzipSync } from 'node:zlib';
import { fakeDocker } from '../support/fake-docker';
import { startServer } from '../support/engine';
import { postHead, RawClient } from '../support/raw-http';

type Server = Awaited<ReturnType<typeof startServer>>;

const KEY = 'k'.repeat(32);
const MiB = 1024 * 1024;
const servers: Server[] = [];

async function serve(env: Record<string, string> = {}, docker = fakeDocker()) {
  const server = await startServer({ RUNBOX_API_KEY: KEY, RUNBOX_POOL_SIZE: '0', ...env }, docker);
  servers.push(server);
  const port = Number(new URL(server.url).port);
  return { server, port, docker };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** `[[[[…]]]]` of the given total size: what made JSON parsing cost seconds on the event loop. */
const nested = (bytes: number) => Buffer.concat([Buffer.alloc(bytes / 2, '['), Buffer.alloc(bytes / 2, ']')]);

/** Sends `body` in chunks, honouring backpressure, until done or the connection is gone; returns bytes sent. */
async function upload(client: RawClient, body: Buffer, chunk = 64 * 1024): Promise<number> {
  let sent = 0;
  while (sent < body.length && !client.isClosed) {
    if (!(await client.write(body.subarray(sent, sent + chunk)))) break;
    sent += Math.min(chunk, body.length - sent);
  }
  return sent;
}

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref()),
  ]);

describe('hostile bodies', () => {
  it('a gzip body is refused with 415 before it is inflated, and the connection is closed', async () => {
    const { port, docker } = await serve();
    const body = gzipSync(nested(20 * MiB));
    expect(body.length).toBeLessThan(100 * 1024);
    const client = await RawClient.connect(port);
    await client.write(postHead({ authorization: `Bearer ${KEY}`, 'content-encoding': 'gzip', 'content-length': body.length }));
    await upload(client, body);
    const response = await client.response;
    expect(response.status).toBe(415);
    expect(JSON.parse(response.body).error.message).toMatch(/Content-Encoding gzip is not accepted/);
    expect(response.headers.connection).toBe('close');
    await within(client.closed, 5000, 'connection closed');
    expect(docker.calls).not.toContain('create');
  });

  it('20 MB of nesting is refused as it arrives, and the event loop stays free meanwhile', async () => {
    const { server, port } = await serve({ RUNBOX_MAX_BODY_BYTES: String(20 * MiB) });
    const health: number[] = [];
    let probing = true;
    const prober = (async () => {
      for (let i = 0; probing && i < 400; i++) {
        health.push((await fetch(`${server.url}/health`)).status);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const body = nested(20 * MiB);
    const cpuBefore = process.cpuUsage();
    const attacks = Array.from({ length: 4 }, async () => {
      const client = await RawClient.connect(port);
      await client.write(postHead({ authorization: `Bearer ${KEY}`, 'content-length': body.length }));
      const sent = upload(client, body);
      const response = await client.response;
      await client.closed;
      return { response, sent: await sent };
    });
    const results = await within(Promise.all(attacks), 30_000, 'hostile uploads answered');
    const cpu = process.cpuUsage(cpuBefore);
    probing = false;
    await prober;
    for (const { response, sent } of results) {
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body).error.message).toBe('the body nests JSON deeper than 16 levels');
      // Answered and cut off long before the 20 MB were through.
      expect(sent).toBeLessThan(body.length);
    }
    expect(new Set(health)).toEqual(new Set([200]));
    // Not a performance figure: on the previous main each such body held the event loop for 4-9 s of CPU in one
    // piece. The CPU this process (server and clients) spent on all four together bounds any one hold of the
    // event loop; unlike a wall-clock delay, a loaded machine does not make it longer.
    expect((cpu.user + cpu.system) / 1e6).toBeLessThan(1);
  });

  it('a body with more values than any valid request can hold is refused with 413', async () => {
    const { server } = await serve();
    const res = await fetch(`${server.url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ args: Array(100_000).fill(0) }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/more than \d+ JSON values/);
  });

  it('bodies in flight share one budget: past it 503 busy, and a stalled body is cut off and its share freed', async () => {
    const { server, port } = await serve({
      RUNBOX_MAX_BODY_BYTES: String(MiB),
      RUNBOX_MAX_BODIES_BYTES: String(2 * MiB),
      RUNBOX_HEADERS_TIMEOUT_MS: '500',
      RUNBOX_REQUEST_TIMEOUT_MS: '1500',
    });
    const stalled = await Promise.all(
      [0, 1].map(async () => {
        const client = await RawClient.connect(port);
        await client.write(postHead({ authorization: `Bearer ${KEY}`, 'content-length': MiB }));
        await client.write(Buffer.alloc(MiB / 2, ' '));
        return client;
      }),
    );
    const refused = await RawClient.connect(port);
    await refused.write(postHead({ authorization: `Bearer ${KEY}`, 'content-length': MiB }));
    const answer = await within(refused.response, 5000, 'busy answer');
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body).error).toMatchObject({ code: 'busy', message: expect.stringMatching(/RUNBOX_MAX_BODIES_BYTES/) });
    expect(answer.headers['retry-after']).toBe('1');
    // The stalled uploads are cut at the request timeout, which gives their share back.
    for (const client of stalled) await within(client.closed, 5000, 'stalled upload cut off');
    const res = await fetch(`${server.url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'x'.repeat(MiB / 2), timeout_ms: 'soon' }),
    });
    expect(res.status).toBe(400);
  });
});

describe('refused requests', () => {
  it('401 closes the connection instead of reading an unauthenticated body byte by byte', async () => {
    const { port } = await serve();
    const client = await RawClient.connect(port);
    await client.write(postHead({ 'transfer-encoding': 'chunked' }));
    let chunks = 0;
    const trickle = (async () => {
      while (!client.isClosed && chunks < 2000) {
        if (!(await client.write('1\r\nx\r\n'))) break;
        chunks++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const response = await client.response;
    expect(response.status).toBe(401);
    expect(response.headers.connection).toBe('close');
    await within(client.closed, 5000, 'connection closed after 401');
    await trickle;
    expect(chunks).toBeLessThan(2000);
  });

  it('413 on Content-Length alone, before any of the body is read, then the connection is closed', async () => {
    const { port } = await serve({ RUNBOX_MAX_BODY_BYTES: String(MiB) });
    const client = await RawClient.connect(port);
    await client.write(postHead({ authorization: `Bearer ${KEY}`, 'content-length': 50 * MiB }));
    const response = await within(client.response, 5000, '413');
    expect(response.status).toBe(413);
    expect(response.headers.connection).toBe('close');
    await within(client.closed, 5000, 'connection closed after 413');
  });
});

describe('connections', () => {
  it('a client that never finishes its headers is answered 408 and closed at RUNBOX_HEADERS_TIMEOUT_MS', async () => {
    const { port } = await serve({ RUNBOX_HEADERS_TIMEOUT_MS: '500', RUNBOX_REQUEST_TIMEOUT_MS: '1000' });
    const idle = await RawClient.connect(port);
    const partial = await RawClient.connect(port);
    await partial.write('POST /v1/runs HTTP/1.1\r\nHost: x\r\n');
    await within(Promise.all([idle.closed, partial.closed]), 5000, 'slow-header connections closed');
  });

  it('an idle keep-alive connection is closed at RUNBOX_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const { port } = await serve({ RUNBOX_KEEP_ALIVE_TIMEOUT_MS: '300' });
    const client = await RawClient.connect(port);
    await client.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await client.response).status).toBe(200);
    await within(client.closed, 3000, 'idle keep-alive closed');
  });

  it('caps connections per client address and in total; other addresses are still served', async () => {
    const { port } = await serve({ RUNBOX_MAX_CONNECTIONS_PER_CLIENT: '3', RUNBOX_MAX_CONNECTIONS: '5' });
    const held = await Promise.all([0, 1, 2].map(() => RawClient.connect(port)));
    const over = await RawClient.connect(port);
    await within(over.closed, 3000, 'fourth connection from one address closed');
    for (const client of held) expect(client.isClosed).toBe(false);

    const other = await RawClient.connect(port, '127.0.0.2');
    await other.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await other.response).status).toBe(200);
    const fifth = await RawClient.connect(port, '127.0.0.3');
    const sixth = await RawClient.connect(port, '127.0.0.4');
    await within(sixth.closed, 3000, 'connection over the total closed');
    expect(fifth.isClosed).toBe(false);
    for (const client of [...held, other, fifth]) client.socket.destroy();
  });
});

describe('probes', () => {
  it('/ready answers 30 concurrent probes with one engine check', async () => {
    const { server, docker } = await serve();
    const answers = await Promise.all(Array.from({ length: 30 }, () => fetch(`${server.url}/ready`).then((r) => r.status)));
    expect(answers).toEqual(Array(30).fill(200));
    expect(docker.calls.filter((c) => c === 'ping')).toHaveLength(1);
  });
});
