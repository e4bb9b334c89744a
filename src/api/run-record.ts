/** GET /v1/runs/{id}: a run's audit record, as its key sees it (snake_case, times as ISO 8601). */
import type { RunRecord } from '../store/store';

const time = { type: ['string', 'null'], format: 'date-time' } as const;
const count = { type: ['integer', 'null'], minimum: 0 } as const;

export const runRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'request_id',
    'received_at',
    'started_at',
    'ended_at',
    'status',
    'exit_code',
    'duration_ms',
    'queued_ms',
    'usage',
    'bytes_in',
    'bytes_out',
    'code_sha256',
    'artifacts',
    'image_id',
  ],
  properties: {
    id: { type: 'string' },
    request_id: { type: 'string', description: 'The X-Request-Id of the request that made the run.' },
    received_at: time,
    started_at: time,
    ended_at: { ...time, description: 'null while the run is going (or if its end could not be recorded).' },
    status: { type: 'string', description: "The run's status, or `running`." },
    exit_code: { type: ['integer', 'null'] },
    duration_ms: count,
    queued_ms: { type: 'integer', minimum: 0 },
    usage: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['cpu_ms', 'max_rss_kb'],
      properties: { cpu_ms: { type: 'integer', minimum: 0 }, max_rss_kb: { type: 'integer', minimum: 0 } },
    },
    bytes_in: { type: 'integer', minimum: 0, description: 'Decoded bytes of code, files and stdin.' },
    bytes_out: { ...count, description: 'Bytes of stdout, stderr and artifacts returned.' },
    code_sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: "SHA-256 of the entrypoint's source." },
    artifacts: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'size', 'sha256'],
        properties: { path: { type: 'string' }, size: { type: 'integer', minimum: 0 }, sha256: { type: 'string' } },
      },
    },
    image_id: { type: ['string', 'null'], description: 'The sandbox image the run used.' },
    content: {
      type: 'object',
      description: 'Code, stdin and outputs: present only when the server keeps them (RUNBOX_AUDIT_STORE_CONTENT=1).',
    },
  },
} as const;

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function runRecordResponse(record: RunRecord & { content: unknown }) {
  return {
    id: record.id,
    request_id: record.requestId,
    received_at: iso(record.receivedAt),
    started_at: iso(record.startedAt),
    ended_at: iso(record.endedAt),
    status: record.status,
    exit_code: record.exitCode ?? null,
    duration_ms: record.durationMs ?? null,
    queued_ms: record.queuedMs,
    usage: record.cpuMs != null && record.maxRssKb != null ? { cpu_ms: record.cpuMs, max_rss_kb: record.maxRssKb } : null,
    bytes_in: record.bytesIn,
    bytes_out: record.bytesOut ?? null,
    code_sha256: record.codeSha256,
    artifacts: record.artifacts ?? null,
    image_id: record.imageId,
    ...(record.content !== null && record.content !== undefined ? { content: record.content } : {}),
  };
}
