import net from 'node:net';
import { rmSync } from 'node:fs';

/**
 * A unix-socket relay in front of the real engine. cut() drops every connection and refuses new ones, as an
 * engine that died or restarted would; restore() lets them through again. The real engine is never touched.
 */
export async function startEngineProxy(target = '/var/run/docker.sock') {
  const path = `/tmp/runbox-engine-proxy-${process.pid}-${Date.now()}.sock`;
  const sockets = new Set<net.Socket>();
  let up = true;
  // Half-open sockets: the attach stream is half-closed after the job is sent, and must keep flowing back.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (!up) return client.destroy();
    const engine = net.connect({ path: target, allowHalfOpen: true });
    for (const s of [client, engine]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(engine).pipe(client);
    client.on('close', () => engine.destroy());
    engine.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
      rmSync(path, { force: true });
    },
  };
}
