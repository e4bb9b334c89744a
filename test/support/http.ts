import Ajv from 'ajv';
import { runRecordSchema } from '../../src/api/run-record';
import { runResponseSchema } from '../../src/api/run-response';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

const ajv = new Ajv({ strict: false, allErrors: true });
// Records' times are ISO 8601 instants, checked as such (ajv-formats is only a transitive dependency here).
ajv.addFormat('date-time', (text: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(text) && !Number.isNaN(Date.parse(text)));
/** The 200 body as the OpenAPI document publishes it (additionalProperties: false all the way down). */
export const matchesRunSchema = ajv.compile(runResponseSchema);

/**
 * POST /v1/runs on a running server over real HTTP. Every 200 answer is checked against the published
 * response schema, so no test anywhere can see a field the document does not describe, or miss one it requires.
 */
export async function postRun(
  url: string,
  body: object,
  init: RequestInit = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${url}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
  const json: Json = await res.json();
  if (res.status === 200 && !matchesRunSchema(json)) {
    throw new Error(`the response breaks the published schema: ${ajv.errorsText(matchesRunSchema.errors)}`);
  }
  return { status: res.status, body: json, headers: res.headers };
}

const matchesRecordSchema = ajv.compile(runRecordSchema);

/** GET /v1/runs/{id}: every 200 is checked against the published record schema. */
export async function getRecord(url: string, id: string, key?: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${url}/v1/runs/${encodeURIComponent(id)}`, { headers: key ? { 'x-api-key': key } : {} });
  const json: Json = await res.json();
  if (res.status === 200 && !matchesRecordSchema(json)) {
    throw new Error(`the record breaks the published schema: ${ajv.errorsText(matchesRecordSchema.errors)}`);
  }
  return { status: res.status, body: json };
}
