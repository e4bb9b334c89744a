/** Structured JSON logs (pino): one line per event, cheap on the request path. */
import pino, { type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'runbox' } });
}
