/**
 * Why the server could not take its address, as one line naming the setting to change: these are the
 * operator's to fix, and a stack trace of Node's listen() says nothing they can act on.
 */

/** `host:port` as a client would write it (`[::1]:8080` for IPv6). */
export const addressOf = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** The line for a failed listen, or undefined when `err` is not one (it is then logged as any other failure to start). */
export function listenFailure(err: unknown, host: string, port: number): string | undefined {
  const address = addressOf(host, port);
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return `${address} is in use by another process; set PORT to another port (or stop that process)`;
    case 'EADDRNOTAVAIL':
      return `${address}: ${host} is not an address of this machine; set HOST to one of its addresses (e.g. 127.0.0.1)`;
    case 'EACCES':
      return port < 1024
        ? `${address}: a port below 1024 needs privileges this process does not have; set PORT to 1024 or above`
        : `${address}: not allowed to listen there; set PORT (or HOST) to another`;
    default:
      return undefined;
  }
}
