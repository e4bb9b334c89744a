import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = '/usr/lib/postgresql/15/bin';
/** PostgreSQL refuses to run as root; the server runs as this unprivileged user. */
const USER = 'nobody';
const UID = 65534;

const asUser = (command: string, args: string[]) =>
  execFileSync('runuser', ['-u', USER, '--', `${BIN}/${command}`, ...args], { stdio: 'pipe' });

/**
 * A throwaway PostgreSQL 15 server of the test's own: a fresh cluster in a temp dir, listening only on a unix
 * socket there (no TCP port), stopped and deleted by stop(). Its URL carries a password, which trust
 * authentication ignores, so tests can check that it is never shown.
 */
export function startPostgres(): { url: string; stop(): void; halt(): void; resume(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'runbox-pg-'));
  chownSync(dir, UID, UID);
  const data = join(dir, 'data');
  asUser('initdb', ['-D', data, '-U', 'runbox', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const start = () =>
    asUser('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', `-k ${dir} -c listen_addresses='' -c fsync=off`, 'start']);
  start();
  return {
    url: `postgresql://runbox:not-a-secret@localhost/postgres?host=${encodeURIComponent(dir)}`,
    /** Stops the server abruptly (an outage), keeping its data for resume(). */
    halt: () => asUser('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    resume: () => start(),
    stop() {
      try {
        asUser('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
