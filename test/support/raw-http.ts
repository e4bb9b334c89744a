import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A client on a bare socket, for what fetch hides: sending a body slowly or partly, never reading, and
 * seeing when the server answers and when it closes the connection.
 */
export class RawClient {
  readonly socket: net.Socket;
  /** The first response, once its headers and Content-Length body have arrived. */
  readonly response: Promise<RawResponse>;
  /** Settles when the connection is closed, by either side. */
  readonly closed: Promise<void>;
  private received = Buffer.alloc(0);

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.response = new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        this.received = Buffer.concat([this.received, chunk]);
        const parsed = parse(this.received);
        if (parsed) {
          socket.off('data', onData);
          resolve(parsed);
        }
      };
      socket.on('data', onData);
      socket.once('close', () =>
        reject(new Error(`connection closed before a full response: ${JSON.stringify(this.received.toString().slice(0, 200))}`)),
      );
    });
    this.response.catch(() => undefined);
  }

  static connect(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes and waits until the socket took the bytes (false if it was closed meanwhile). */
  write(data: string | Buffer): Promise<boolean> {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve(false);
    return new Promise((resolve) => this.socket.write(data, (err) => resolve(!err)));
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }
}

function parse(data: Buffer): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => {
      const at = line.indexOf(':');
      return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
    }),
  );
  const length = Number(headers['content-length'] ?? 0);
  if (data.length < end + 4 + length) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString('utf8') };
}

/** The head of a POST /v1/runs request. */
export function postHead(headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: '127.0.0.1', 'content-type': 'application/json', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `POST /v1/runs HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}
