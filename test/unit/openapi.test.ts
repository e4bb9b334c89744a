import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv from 'ajv';
import { openApiDocument } from '../../src/api/openapi';
import { runRequestSchema } from '../../src/api/run-request';
import { errorResponseSchema, runResponseSchema } from '../../src/api/run-response';
import { runPythonTool } from '../../src/api/run-python-tool';
import { compatContracts } from '../../src/compat/contracts';
import { API_ROUTES } from '../../src/http/api-routes';
import { ERROR_CODES } from '../../src/errors';
import { testConfig } from '../support/config';
import type { Json } from '../support/http';

/** The document as a client reads it: plain JSON. */
const documentFor = (env: Record<string, string> = {}): Json => {
  const config = testConfig(env);
  return JSON.parse(JSON.stringify(openApiDocument(config, '1.2.3', runPythonTool(config), API_ROUTES, compatContracts(config.limits))));
};

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    // The validator dereferences in place; give it a copy.
    const api: Json = await SwaggerParser.validate(documentFor({ RUNBOX_API_KEY: 'k'.repeat(32) }));
    expect(api.openapi).toBe('3.1.0');
    // The validator does refuse a broken document.
    const broken = documentFor();
    broken.paths['/v1/runs'].post.responses['200'].content = 'a string';
    await expect(SwaggerParser.validate(broken)).rejects.toThrow();
  });

  it('publishes the schemas the server validates with, at the live limits', () => {
    const doc = documentFor({ RUNBOX_MAX_TIMEOUT_MS: '45000', RUNBOX_MAX_MEMORY_MB: '1024' });
    const request = doc.components.schemas.RunRequest;
    expect(request.properties).toEqual(
      runRequestSchema(testConfig({ RUNBOX_MAX_TIMEOUT_MS: '45000', RUNBOX_MAX_MEMORY_MB: '1024' }).limits).properties,
    );
    expect(request.properties.timeout_ms.maximum).toBe(45000);
    expect(request.properties.memory_mb.maximum).toBe(1024);
    expect(doc.components.schemas.RunResponse).toEqual(JSON.parse(JSON.stringify(runResponseSchema)));
    expect(doc.info.version).toBe('1.2.3');
  });

  it('has examples that satisfy their own schemas', () => {
    const doc = documentFor();
    const ajv = new Ajv({ strict: false });
    const run = doc.paths['/v1/runs'].post;
    for (const example of Object.values<Json>(run.requestBody.content['application/json'].examples)) {
      expect(ajv.validate(doc.components.schemas.RunRequest, example.value)).toBe(true);
    }
    const ok = run.responses['200'].content['application/json'].example;
    expect(ajv.validate(runResponseSchema, ok)).toBe(true);
    for (const [status, response] of Object.entries<Json>(run.responses)) {
      if (status === '200') continue;
      for (const [code, example] of Object.entries<Json>(response.content['application/json'].examples)) {
        expect(ajv.validate(errorResponseSchema, example.value)).toBe(true);
        expect(String(ERROR_CODES[code as keyof typeof ERROR_CODES].status)).toBe(status);
      }
    }
  });

  it('lists every error a run request can get, under its status', () => {
    const codes = (doc: Json) =>
      Object.values<Json>(doc.paths['/v1/runs'].post.responses).flatMap((r) => Object.keys(r.content['application/json'].examples ?? {}));
    const keyed = codes(documentFor({ RUNBOX_API_KEY: 'k'.repeat(32) }));
    const keyless = codes(documentFor());
    expect(keyed).toContain('unauthorized');
    expect(keyless).toContain('forbidden');
    const documented = [...new Set([...keyed, ...keyless])];
    const routing = ['not_found', 'method_not_allowed'];
    expect(documented.sort()).toEqual(
      Object.keys(ERROR_CODES)
        .filter((code) => !routing.includes(code))
        .sort(),
    );
  });

  it('states the security schemes, required unless the server may run keyless on loopback', () => {
    const keyed = documentFor({ RUNBOX_API_KEY: 'k'.repeat(32) });
    expect(keyed.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }),
    });
    expect(keyed.paths['/v1/runs'].post.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    expect(keyed.paths['/mcp'].post.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    // On loopback without a bootstrap key, keys are optional until one is stored; elsewhere they are required.
    expect(documentFor().paths['/v1/runs'].post.security).toEqual([{ bearer: [] }, { apiKey: [] }, {}]);
    expect(documentFor({ HOST: '0.0.0.0' }).paths['/v1/runs'].post.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
  });

  it('has an example for every operation', () => {
    const doc = documentFor();
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        const media: Json[] = [
          ...Object.values(op.requestBody?.content ?? {}),
          ...Object.values<Json>(op.responses).flatMap((r) => Object.values(r.content ?? {})),
        ];
        const hasExample = media.some((m) => m.example !== undefined || m.examples !== undefined);
        expect({ path, method, hasExample }).toEqual({ path, method, hasExample: true });
      }
    }
  });

  it('has every compat route, tagged by the runner it replaces, with the run routes’ security, and examples that fit', () => {
    const doc = documentFor();
    const ajv = new Ajv({ strict: false });
    for (const [path, tag] of [
      ['/run', /seeds 000, 003/],
      ['/api/v1/execute', /seed 002/],
      ['/execute', /seed 004/],
    ] as const) {
      const op = doc.paths[path].post;
      expect(op.tags).toEqual([expect.stringMatching(tag)]);
      expect(doc.tags.map((t: Json) => t.name)).toContain(op.tags[0]);
      expect(op.security).toEqual(doc.paths['/v1/runs'].post.security);
      for (const media of [op.requestBody.content['application/json'], op.responses['200'].content['application/json']]) {
        expect({ path, valid: ajv.validate(media.schema, media.example), errors: ajv.errors }).toEqual({ path, valid: true, errors: null });
      }
      expect(op.responses['422'].content['application/json'].schema.$ref).toBe('#/components/schemas/FastApiValidationError');
    }
  });
});
