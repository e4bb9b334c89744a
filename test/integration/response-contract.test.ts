/**
 * The published response schema against what the server really returns, in both directions: every answer
 * matches it (postRun checks each one, in every suite), and every field it describes is seen in a real answer.
 */
import Ajv from 'ajv';
import { errorResponseSchema, runResponseSchema } from '../../src/api/run-response';
import { startServer } from '../support/engine';
import { postRun, type Json } from '../support/http';

type Schema = { type?: unknown; properties?: Record<string, Schema>; items?: Schema };

/** Every field path a schema describes, e.g. `artifacts[].sha256`. */
function schemaPaths(schema: Schema, prefix = ''): string[] {
  if (schema.items) return schemaPaths(schema.items, `${prefix}[]`);
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]) => [
    `${prefix}${prefix ? '.' : ''}${name}`,
    ...schemaPaths(child, `${prefix}${prefix ? '.' : ''}${name}`),
  ]);
}

/** Every field path present in a value. */
function valuePaths(value: Json, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => valuePaths(item, `${prefix}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([name, child]) => [
    `${prefix}${prefix ? '.' : ''}${name}`,
    ...valuePaths(child, `${prefix}${prefix ? '.' : ''}${name}`),
  ]);
}

describe('the response schema and real responses', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0' });
  });
  afterAll(() => server.close());

  it('every field the schema describes appears in real answers, and no other', async () => {
    const programs = [
      'import sys; print("out"); print("err", file=sys.stderr); open("output/a.txt", "w").write("text")',
      'import sys; sys.stdout.buffer.write(bytes(range(32)) * 4); open("output/b.bin", "wb").write(bytes(range(256))); sys.exit(2)',
      'import time; time.sleep(30)',
    ];
    const seen = new Set<string>();
    for (const [i, code] of programs.entries()) {
      // One of them names a dependency (the image's own), so the dependencies' fields show too.
      const { status, body } = await postRun(server.url, { code, timeout_ms: 2000, ...(i === 0 ? { dependencies: ['numpy'] } : {}) });
      expect(status).toBe(200); // postRun has checked it against the schema
      // The run the service stopped says which limit it was; one that ended by itself has no message.
      expect(body.message).toBe(i === 2 ? 'time limit of 2 s exceeded' : null);
      for (const path of valuePaths(body)) seen.add(path);
    }
    expect([...seen].sort()).toEqual(schemaPaths(runResponseSchema as Schema).sort());
  });

  it('errors have the published error shape', async () => {
    const matchesError = new Ajv({ strict: false }).compile(errorResponseSchema);
    const refusals = [{ code: 1 }, { code: 'x'.repeat(300_000) }, { code: 'print(1)', timeout_ms: 0 }];
    for (const body of refusals) {
      const { status, body: answer } = await postRun(server.url, body);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(matchesError(answer)).toBe(true);
    }
  });
});
