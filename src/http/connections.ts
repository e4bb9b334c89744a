/**
 * The HTTP server's connection discipline: how long a client may take to send a request or sit idle, and
 * how many connections may be open in total and per client address. A connection over a cap is closed at
 * once, before any of its bytes are parsed.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import type { HttpLimits } from '../config';

/** How often Node checks connections against the header and request timeouts (its default is 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** `handler` is Koa's callback, which settles its own errors; its promise is not ours to await. */
export function createHttpServer(
  limits: HttpLimits,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
  log: Logger,
): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      // Bounds receiving the request only; a run's own time is bounded by its timeout_ms.
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    (req, res) => void handler(req, res),
  );
  // Past the total, Node itself drops new connections.
  server.maxConnections = limits.maxConnections;

  const perClient = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const open = (perClient.get(address) ?? 0) + 1;
    if (open > limits.maxConnectionsPerClient) {
      log.debug({ address, limit: limits.maxConnectionsPerClient }, 'connection refused: too many from this address');
      socket.destroy();
      return;
    }
    perClient.set(address, open);
    socket.once('close', () => {
      const left = (perClient.get(address) ?? 1) - 1;
      if (left > 0) perClient.set(address, left);
      else perClient.delete(address);
    });
  });
  return server;
}
