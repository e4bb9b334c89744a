/**
 * GET /openapi.json: the API as an OpenAPI 3.1 document, built from the very schemas the server validates
 * requests with and the live configuration (limits, whether a key is needed), so it cannot drift from
 * what the server does. /docs renders it.
 */
import { createHash } from 'node:crypto';
import { PHASE_MEANINGS, PHASES } from '../sandbox/phases';
import { isLoopback, type Config } from '../config';
import { metricsGuard, metricsGuardText } from '../metrics/access';
import { runRecordSchema } from './run-record';
import { ERROR_CODES, type ErrorCode } from '../errors';
import { runRequestSchema } from './run-request';
import { errorResponseSchema, runResponseSchema } from './run-response';
import { RUN_PYTHON, toolFormats, type ToolDefinition } from './run-python-tool';

const CHART_PROGRAM = [
  'import pandas as pd',
  'import matplotlib.pyplot as plt',
  'df = pd.DataFrame({"x": range(10), "y": [v * v for v in range(10)]})',
  'df.plot(x="x", y="y")',
  'plt.savefig("output/chart.png")',
  'print(df["y"].sum())',
].join('\n');

/** A 1×1 PNG stands in for the chart, to keep the document small. */
const EXAMPLE_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const RUN_EXAMPLE = {
  id: '3f1c8d52-0b7e-4f55-9d55-2a0f1f6f9d0e',
  status: 'ok',
  exit_code: 0,
  stdout: '285\n',
  stdout_encoding: 'utf8',
  stderr: '',
  stderr_encoding: 'utf8',
  stdout_truncated: false,
  stderr_truncated: false,
  timed_out: false,
  oom_killed: false,
  message: null,
  duration_ms: 612,
  queued_ms: 0,
  artifacts: [
    {
      path: 'chart.png',
      size: EXAMPLE_PNG.length,
      mime_type: 'image/png',
      sha256: createHash('sha256').update(EXAMPLE_PNG).digest('hex'),
      encoding: 'base64',
      content: EXAMPLE_PNG.toString('base64'),
    },
  ],
  artifacts_truncated: false,
  usage: { cpu_ms: 540, max_rss_kb: 98304 },
  dependencies: [],
  install_ms: 0,
};

const STREAM_EXAMPLE = [
  `event: start\ndata: {"id":"${RUN_EXAMPLE.id}","queued_ms":0}`,
  'event: stdout\ndata: {"encoding":"utf8","content":"285\\n"}',
  `event: artifact\ndata: {"path":"chart.png","size":${EXAMPLE_PNG.length},"mime_type":"image/png","sha256":"${RUN_EXAMPLE.artifacts[0].sha256}"}`,
  `event: result\ndata: ${JSON.stringify(RUN_EXAMPLE)}`,
  '',
].join('\n\n');

const RECORD_EXAMPLE = {
  id: RUN_EXAMPLE.id,
  request_id: '6f1c1f0e-8f5e-4a51-9a86-2f6f0c3f5b1d',
  received_at: '2026-11-22T09:00:00.000Z',
  started_at: '2026-11-22T09:00:00.012Z',
  ended_at: '2026-11-22T09:00:00.455Z',
  status: 'ok',
  exit_code: 0,
  duration_ms: 431,
  queued_ms: 12,
  usage: { cpu_ms: 380, max_rss_kb: 61234 },
  bytes_in: 180,
  bytes_out: 14021,
  code_sha256: createHash('sha256').update(CHART_PROGRAM).digest('hex'),
  artifacts: RUN_EXAMPLE.artifacts.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
  image_id: 'sha256:67a914dcb34e0fac',
};

/** One example per code, so every error shape a client must handle is shown with its status. */
function errorResponses(codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, group]) => [
      String(status),
      {
        description: group.map((code) => `\`${code}\`: ${ERROR_CODES[code].meaning}`).join('\n\n'),
        ...(status === 503 || status === 401 || status === 429
          ? {
              headers:
                status === 503 ? retryAfterHeader : status === 429 ? { ...retryAfterHeader, ...rateLimitHeaders } : wwwAuthenticateHeader,
            }
          : {}),
        content: {
          'application/json': {
            schema: { $ref: '#/components/schemas/Error' },
            examples: Object.fromEntries(group.map((code) => [code, { value: { error: { code, message: ERROR_CODES[code].meaning } } }])),
          },
        },
      },
    ]),
  );
}

const retryAfterHeader = {
  'Retry-After': { description: 'Seconds to wait before retrying (busy, shutting_down).', schema: { type: 'integer' } },
};
/** On every response to a key with a rate or daily limit (draft-ietf-httpapi-ratelimit-headers). */
const rateLimitHeaders = {
  'RateLimit-Policy': {
    description: 'The key\'s policies: `"rate";q=<requests>;w=<seconds>` and `"daily";q=<runs>;w=86400`.',
    schema: { type: 'string' },
    example: '"rate";q=5;w=1, "daily";q=1000;w=86400',
  },
  RateLimit: {
    description: 'What is left of each (`r`) and the seconds until it is whole again (`t`).',
    schema: { type: 'string' },
    example: '"rate";r=4;t=1, "daily";r=998;t=43200',
  },
};
const wwwAuthenticateHeader = { 'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer' } } };

const JSON_RPC_ERROR = {
  type: 'object',
  required: ['jsonrpc', 'id', 'error'],
  properties: {
    jsonrpc: { const: '2.0' },
    id: { type: ['string', 'integer', 'null'] },
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'integer' }, message: { type: 'string' } } },
  },
};

const MCP_RESULT_EXAMPLE = {
  jsonrpc: '2.0',
  id: 1,
  result: {
    content: [
      {
        type: 'text',
        text: 'The program finished successfully (exit code 0) in 612 ms.\nFiles saved in output/: chart.png (image/png, 70 bytes).',
      },
      { type: 'text', text: 'stdout:\n285\n' },
      { type: 'text', text: 'stderr: (empty)' },
      { type: 'image', mimeType: 'image/png', data: EXAMPLE_PNG.toString('base64') },
    ],
    isError: false,
  },
};

/** What GET / links to. */
export const ABOUT_LINKS = {
  runs: '/v1/runs',
  openapi: '/openapi.json',
  docs: '/docs',
  mcp: '/mcp',
  tools: '/v1/tools',
  packages: '/v1/packages',
  playground: '/playground',
};

const json = (schema: object, example?: unknown) => ({
  'application/json': { schema, ...(example !== undefined ? { example } : {}) },
});

/** What the document needs of another runner's contract (src/compat/contract.ts's CompatContract extends it). */
export interface DocumentedContract {
  path: string;
  /** The OpenAPI tag: the runner this route replaces. */
  tag: { name: string; description: string };
  /** The OpenAPI path item (its operations carry the tag), and the component schemas it refers to. */
  openapi: Record<string, unknown>;
  schemas: Record<string, object>;
}

/** The operations of the native API, each documented here and served by the route that names it. */
export type OperationId = 'createRun' | 'getRun' | 'listPackages' | 'listTools' | 'mcp' | 'metrics' | 'health' | 'ready' | 'about';

/**
 * Who may call a route: `key`, a caller with an API key (or anyone, in keyless loopback mode); `open`,
 * anyone (probes, discovery); `metrics`, whoever RUNBOX_METRICS_KEY (or loopback) admits.
 */
export type Access = 'key' | 'open' | 'metrics';

/** What the document needs of a served route (src/http/routes.ts declares each once, with its handler). */
export interface DocumentedRoute {
  method: 'get' | 'post';
  /** In OpenAPI's form: /v1/runs/{id}. */
  path: string;
  operationId: OperationId;
  access: Access;
}

/**
 * The document's paths, from the routes the router serves: each native route with its operation and the
 * security its access implies, and each compat contract's path, tagged by the runner it replaces.
 */
function pathsOf(
  routes: readonly DocumentedRoute[],
  operations: Record<OperationId, object>,
  keySecurity: object[],
  metricsNeedKey: boolean,
  contracts: readonly DocumentedContract[],
): Record<string, Record<string, object>> {
  const paths: Record<string, Record<string, object>> = {};
  for (const { method, path, operationId, access } of routes) {
    const security = access === 'key' ? keySecurity : access === 'metrics' && metricsNeedKey ? [{ bearer: [] }, { apiKey: [] }] : undefined;
    (paths[path] ??= {})[method] = { operationId, ...operations[operationId], ...(security ? { security } : {}) };
  }
  for (const c of contracts) {
    paths[c.path] = Object.fromEntries(
      Object.entries(c.openapi).map(([method, operation]) => [
        method,
        { tags: [c.tag.name], security: keySecurity, ...(operation as object) },
      ]),
    );
  }
  return paths;
}

export function openApiDocument(
  config: Config,
  version: string,
  tool: ToolDefinition,
  routes: readonly DocumentedRoute[],
  compat: readonly DocumentedContract[] = [],
) {
  const { limits } = config;
  // A key is always accepted; it is optional only where the server may run in keyless (loopback) mode,
  // which stored keys, added at any time, end.
  const keylessPossible = config.apiKey === undefined && isLoopback(config.host);
  const security = keylessPossible ? [{ bearer: [] }, { apiKey: [] }, {}] : [{ bearer: [] }, { apiKey: [] }];
  const metricsAccess = metricsGuard(config);
  const refused: ErrorCode[] = [
    'invalid_request',
    'payload_too_large',
    'unsupported_media_type',
    'rate_limited',
    'quota_exceeded',
    'internal',
    'busy',
    'queue_timeout',
    'store_unavailable',
  ];
  const auth: ErrorCode[] = keylessPossible ? ['unauthorized', 'forbidden'] : ['unauthorized'];
  const request = {
    ...runRequestSchema(limits),
    description:
      'Give `code`, or `files` with an `entrypoint`, or both (`code` becomes main.py). Byte limits beyond the schema: ' +
      `code ${limits.maxCodeBytes}, one file ${limits.maxFileBytes}, all files ${limits.maxFilesBytes} (decoded), ` +
      `${limits.maxFiles} files, stdin ${limits.maxStdinBytes}, ${limits.maxArgs} args, body ${limits.maxBodyBytes}.`,
  };
  const operations: Record<OperationId, object> = {
    createRun: {
      tags: ['runs'],
      summary: 'Run a Python program',
      description:
        `Runs the program in a new sandbox and answers when it has ended: the default time limit is ${limits.defaultTimeoutMs} ms ` +
        `(up to ${limits.maxTimeoutMs}), memory ${limits.defaultMemoryMb} MB (up to ${limits.maxMemoryMb}). At most ` +
        `${limits.maxConcurrent} runs go at once and ${limits.maxQueue} wait; beyond that the answer is 503 busy, and one that waits longer than ${limits.queueTimeoutMs} ms gets 503 queue_timeout. \`timeout_ms\` is the program's own running time: it starts once the program has its job.`,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { $ref: '#/components/schemas/RunRequest' },
            examples: {
              chart: { summary: 'A chart and a printed value', value: { code: CHART_PROGRAM } },
              files: {
                summary: 'Input files, stdin and arguments',
                value: {
                  files: [
                    {
                      path: 'main.py',
                      content: 'import sys\nprint(open("data.csv").read().count("\\n"), sys.argv[1:], sys.stdin.read())',
                    },
                    { path: 'data.csv', content: 'a,b\n1,2\n' },
                  ],
                  entrypoint: 'main.py',
                  stdin: 'hello',
                  args: ['--fast'],
                  timeout_ms: 5000,
                },
              },
            },
          },
        },
      },
      responses: {
        '200': {
          description:
            'The run was carried out; `status` says how the program ended. With `Accept: text/event-stream` the answer ' +
            'is a stream of Server-Sent Events, opened when the run starts: `start` {id, queued_ms}; `stdout` and ' +
            '`stderr` {content, encoding}, chunks as written (within 100 ms, whole UTF-8 characters, within the output ' +
            'caps; `truncated: true` marks where a stream was cut); `artifact` {path, size, mime_type, sha256} per file; ' +
            'then `result`, exactly the JSON body, or `error` {code, message} if the service failed after the start. ' +
            'Comments keep idle proxies from cutting a silent run. Refusals before the start are the JSON errors below.',
          headers: {
            ...rateLimitHeaders,
            'Server-Timing': {
              description:
                `Where the run's time went, in milliseconds, phase by phase: ${PHASES.map((p) => `\`${p}\` (${PHASE_MEANINGS[p]})`).join(', ')}; ` +
                "then `total`, the time since the request arrived. `acquire`'s `desc` says where the sandbox came from. A stream " +
                'sends the phases before its start here, and all of them in a `Server-Timing` trailer.',
              schema: { type: 'string' },
              example:
                'queue;dur=1.2, acquire;dur=0.5;desc="warm pool", upload;dur=0.6, program;dur=24.1, collect;dur=0.2, record;dur=3.1, total;dur=30.4',
            },
          },
          content: {
            ...json({ $ref: '#/components/schemas/RunResponse' }, RUN_EXAMPLE),
            'text/event-stream': { schema: { type: 'string' }, example: STREAM_EXAMPLE },
          },
        },
        ...errorResponses([...refused, ...auth, 'engine_unavailable', 'shutting_down']),
      },
    },
    getRun: {
      tags: ['runs'],
      summary: "A run's audit record",
      description:
        'The record of a run made with the same key: times, status, usage, sizes and hashes (and code, stdin and outputs ' +
        "if the server keeps them). Another key's run is 404, as if it did not exist. Records are kept for " +
        `${config.audit.retentionDays} days.`,
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'The `id` of a run response.' }],
      responses: {
        '200': {
          description: 'The record.',
          headers: rateLimitHeaders,
          content: json({ $ref: '#/components/schemas/RunRecord' }, RECORD_EXAMPLE),
        },
        ...errorResponses(['not_found', 'rate_limited', 'store_unavailable', ...auth]),
      },
    },
    listPackages: {
      tags: ['runs'],
      summary: "What a run can import: the image's Python packages, and the wheelhouse",
      description:
        'Packages in the image need no install. Wheelhouse packages are installed for a run that lists them in ' +
        '`dependencies` (from this folder only: the sandbox has no network). `install` is false when the server has no wheelhouse.',
      responses: {
        '200': {
          description: 'The packages.',
          content: json(
            { type: 'object' },
            {
              install: true,
              image: [{ name: 'numpy', version: '1.24.2' }],
              wheelhouse: [
                { name: 'tabulate', version: '0.9.0', file: 'tabulate-0.9.0-py3-none-any.whl', sha256: '0'.repeat(64), requires: [] },
              ],
              unusable: 0,
            },
          ),
        },
        ...errorResponses(['rate_limited', 'store_unavailable', ...auth]),
      },
    },
    listTools: {
      tags: ['agents'],
      summary: `The ${RUN_PYTHON} tool, in each model API's function-calling shape`,
      responses: { '200': { description: 'Tool definitions.', content: json({ type: 'object' }, toolFormats(tool)) } },
    },
    mcp: {
      tags: ['agents'],
      summary: 'MCP over Streamable HTTP (stateless, JSON responses)',
      description:
        `A Model Context Protocol endpoint with one tool, ${RUN_PYTHON}. Send JSON-RPC messages with ` +
        '`Accept: application/json, text/event-stream`. Runs go through the same limits and admission as POST /v1/runs.',
      requestBody: {
        required: true,
        content: json(
          { type: 'object', required: ['jsonrpc'], properties: { jsonrpc: { const: '2.0' } } },
          { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: RUN_PYTHON, arguments: { code: 'print(2 + 2)' } } },
        ),
      },
      responses: {
        '200': {
          description:
            'A JSON-RPC response. A program that fails is a normal tool result; the service failing to run it (busy, engine ' +
            'unavailable, shutting down) is a tool result with `isError: true` and advice; bad arguments are a JSON-RPC ' +
            'error -32602 with the message POST /v1/runs would give.',
          content: json({ type: 'object' }, MCP_RESULT_EXAMPLE),
        },
        '202': { description: 'A notification was accepted.' },
        '400': {
          description: 'Not JSON (-32700), not a JSON-RPC message or a batch (-32600), or an unsupported protocol version.',
          content: json(JSON_RPC_ERROR, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'the body is not valid JSON' } }),
        },
        '406': {
          description: 'The Accept header must list both application/json and text/event-stream.',
          content: json(JSON_RPC_ERROR),
        },
        '413': { description: 'Over RUNBOX_MAX_BODY_BYTES (-32600).', content: json(JSON_RPC_ERROR) },
        '415': { description: 'The body must be application/json without Content-Encoding (-32600).', content: json(JSON_RPC_ERROR) },
        '503': {
          description: 'Too many request bodies held at once (-32000); has Retry-After.',
          headers: retryAfterHeader,
          content: json(JSON_RPC_ERROR),
        },
        ...errorResponses([...auth]),
      },
    },
    metrics: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description:
        'Runs by status, run duration and queue wait, rejections by reason, live containers, pool and queue, engine ' +
        'calls, process metrics. ' +
        metricsGuardText(metricsAccess),
      responses: {
        '200': {
          description: 'The Prometheus text format.',
          content: {
            'text/plain': {
              schema: { type: 'string' },
              example:
                '# HELP runbox_runs_total Runs that ended, by status\n# TYPE runbox_runs_total counter\nrunbox_runs_total{status="ok"} 42\n',
            },
          },
        },
        ...(metricsAccess !== undefined ? errorResponses(['unauthorized']) : {}),
      },
    },
    health: {
      tags: ['operations'],
      summary: 'Liveness: the process answers',
      responses: {
        '200': { description: 'Alive.', content: json({ type: 'object' }, { status: 'healthy', service: 'runbox', version }) },
      },
    },
    ready: {
      tags: ['operations'],
      summary: 'Readiness: accepting runs, the engine answers, the sandbox image is present',
      responses: {
        '200': {
          description: 'Ready.',
          content: json(
            { type: 'object' },
            {
              status: 'ready',
              ready: true,
              checks: { accepting: true, engine: true, image: true },
              image: config.image,
            },
          ),
        },
        '503': {
          description: 'Not ready; `checks` says why.',
          content: json(
            { type: 'object' },
            {
              status: 'not_ready',
              ready: false,
              checks: { accepting: true, engine: false, image: false },
              image: config.image,
            },
          ),
        },
      },
    },
    about: {
      tags: ['operations'],
      summary: 'Version, limits and links',
      responses: {
        '200': {
          description: 'About this server: version, auth, limits, the preloaded runtime, and links to everything here.',
          content: json({ type: 'object' }, { name: 'runbox', version, links: ABOUT_LINKS }),
        },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'runbox',
      version,
      summary: 'Run untrusted Python in a throwaway, hardened Docker container per request.',
      description:
        'Each run gets a fresh container with no network, a read-only root filesystem, memory, process, CPU and time ' +
        'limits, no capabilities and a non-root user. Files the program saves under ./output/ come back as artifacts. ' +
        'A program that fails is a 200 with its status; 4xx and 5xx are the service refusing or failing.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'runs', description: 'Running programs.' },
      { name: 'agents', description: 'For agent platforms: tool definitions and MCP.' },
      { name: 'operations', description: 'Probes and discovery.' },
      // Other runners' contracts, each answered from the same run path (README: "Replacing an existing runner").
      ...compat.map((c) => c.tag),
    ],
    paths: pathsOf(routes, operations, security, metricsAccess !== undefined, compat),
    components: {
      schemas: {
        RunRequest: request,
        RunResponse: runResponseSchema,
        RunRecord: runRecordSchema,
        Error: errorResponseSchema,
        ...(Object.assign({}, ...compat.map((c) => c.schemas)) as Record<string, object>),
      },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The API key in a header.' },
      },
    },
  };
}
