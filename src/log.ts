/** Structured JSON logs (pino): one line per event, cheap on the request path. */
import pino, { type Logger } from 'pino';

/**
 * Errors go under `err` (pino's serializer: type, message, stack). Nothing logs request headers; should
 * anything ever log one, its credentials are censored all the same.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'runbox' },
    redact: {
      paths: ['*.authorization', '*["x-api-key"]', '*.headers.authorization', '*.headers["x-api-key"]', 'apiKey', '*.apiKey'],
      censor: '[redacted]',
    },
  });
}
