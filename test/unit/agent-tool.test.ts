import Ajv from 'ajv';
import { RunRequestParser, runRequestSchema } from '../../src/api/run-request';
import type { RunResponse } from '../../src/api/run-response';
import { runPythonTool, toolFormats } from '../../src/api/run-python-tool';
import { PayloadTooLargeError } from '../../src/errors';
import { runToolResult, serviceErrorResult } from '../../src/mcp/tool-result';
import { chmodSync } from 'node:fs';
import { testConfig, testDataDir } from '../support/config';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const run = (overrides: Partial<RunResponse> = {}): RunResponse => ({
  id: 'run-1',
  status: 'ok',
  exit_code: 0,
  stdout: '4\n',
  stdout_encoding: 'utf8',
  stderr: '',
  stderr_encoding: 'utf8',
  stdout_truncated: false,
  stderr_truncated: false,
  timed_out: false,
  oom_killed: false,
  message: null,
  duration_ms: 120,
  queued_ms: 0,
  artifacts: [],
  artifacts_truncated: false,
  usage: { cpu_ms: 20, max_rss_kb: 9000 },
  dependencies: [],
  install_ms: 0,
  ...overrides,
});

describe('the run_python tool definition', () => {
  const config = testConfig({ RUNBOX_MAX_TIMEOUT_MS: '60000' });
  const tool = runPythonTool(config);

  it('takes code (required), files, stdin and timeout_ms, with the run request schema of each and the live limits', () => {
    const request = runRequestSchema(config.limits).properties;
    expect(tool.name).toBe('run_python');
    expect(tool.inputSchema.required).toEqual(['code']);
    expect(Object.keys(tool.inputSchema.properties).sort()).toEqual(['code', 'files', 'stdin', 'timeout_ms']);
    expect(tool.inputSchema.properties.files.items).toEqual(request.files.items);
    expect(tool.inputSchema.properties.timeout_ms.maximum).toBe(60000);
    expect(tool.description).toContain('output/');
    expect(tool.description).toContain('plt.show()');
    expect(new Ajv({ strict: true }).validateSchema(tool.inputSchema)).toBe(true);
  });

  it('is offered in every function-calling shape with the one schema', () => {
    const { formats } = toolFormats(tool);
    const schemas = [
      formats.mcp[0].inputSchema,
      formats.openai_chat_completions[0].function.parameters,
      formats.openai_responses[0].parameters,
      formats.anthropic[0].input_schema,
      formats.gemini[0].functionDeclarations[0].parametersJsonSchema,
    ];
    for (const schema of schemas) expect(schema).toBe(tool.inputSchema);
  });

  it('validates calls like POST /v1/runs does: same limits, same messages', () => {
    const small = testConfig({ RUNBOX_MAX_CODE_BYTES: '10' });
    const toolParser = new RunRequestParser(small.limits, runPythonTool(small).inputSchema);
    const runParser = new RunRequestParser(small.limits);
    const messageOf = (parse: () => unknown) => {
      try {
        parse();
      } catch (err) {
        return err;
      }
    };
    const big = { code: 'print("far too long")' };
    expect(messageOf(() => toolParser.parse(big))).toEqual(messageOf(() => runParser.parse(big)));
    expect(messageOf(() => toolParser.parse(big))).toBeInstanceOf(PayloadTooLargeError);
    expect(messageOf(() => toolParser.parse({ code: 'x', memory_mb: 64 }))).toMatchObject({ message: 'memory_mb is not a known field' });
    expect(messageOf(() => toolParser.parse({ stdin: 'x' }))).toMatchObject({ message: "body must have required property 'code'" });
  });
});

describe('a run as a tool result', () => {
  it('states the status and exit code plainly, then stdout and stderr', () => {
    const result = runToolResult(run({ status: 'error', exit_code: 1, stderr: 'Traceback...\nZeroDivisionError\n' }));
    expect(result.isError).toBe(false);
    expect(result.content[0]).toEqual({ type: 'text', text: 'The program failed (exit code 1) after 120 ms; see stderr.' });
    expect(result.content[1]).toEqual({ type: 'text', text: 'stdout:\n4\n' });
    expect(result.content[2]).toEqual({ type: 'text', text: 'stderr:\nTraceback...\nZeroDivisionError\n' });
    expect(result.structuredContent).toMatchObject({ status: 'error', exit_code: 1 });
  });

  it('says when a run was stopped, and decodes base64 output for reading', () => {
    const result = runToolResult(
      run({
        status: 'timeout',
        exit_code: null,
        timed_out: true,
        stdout: Buffer.from('tick\x01\x01').toString('base64'),
        stdout_encoding: 'base64',
        stdout_truncated: true,
      }),
    );
    expect(result.content[0]).toMatchObject({ text: expect.stringContaining('killed at its time limit') });
    expect(result.content[1]).toEqual({
      type: 'text',
      text: 'stdout (not plain text; shown decoded as UTF-8; truncated: the program wrote more than the limit):\ntick\x01\x01',
    });
    expect(result.content[2]).toEqual({ type: 'text', text: 'stderr: (empty)' });
  });

  it('names the limit that stopped a run, with its figure, in the summary and the structured result', () => {
    const result = runToolResult(
      run({ status: 'oom', exit_code: 137, oom_killed: true, message: 'memory limit of 128 MB exceeded (the program was killed)' }),
    );
    expect(result.content[0]).toEqual({
      type: 'text',
      text:
        'The program was killed for running out of memory (exit code 137) after 120 ms.\n' +
        'runbox: memory limit of 128 MB exceeded (the program was killed).',
    });
    expect(result.structuredContent).toMatchObject({ status: 'oom', message: 'memory limit of 128 MB exceeded (the program was killed)' });
    expect(runToolResult(run()).structuredContent).toMatchObject({ status: 'ok', message: null });
  });

  it('returns images as images and other files as embedded resources with their type', () => {
    const result = runToolResult(
      run({
        artifacts: [
          { path: 'chart.png', size: 70, mime_type: 'image/png', sha256: 'a'.repeat(64), encoding: 'base64', content: PNG },
          { path: 'plot.svg', size: 5, mime_type: 'image/svg+xml', sha256: 'b'.repeat(64), encoding: 'utf8', content: '<svg/>' },
          { path: 'dir/table.csv', size: 8, mime_type: 'text/csv', sha256: 'c'.repeat(64), encoding: 'utf8', content: 'a,b\n1,2\n' },
          { path: 'blob.bin', size: 2, mime_type: 'application/octet-stream', sha256: 'd'.repeat(64), encoding: 'base64', content: 'AAE=' },
        ],
      }),
    );
    expect(result.content.slice(3)).toEqual([
      { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'image', data: Buffer.from('<svg/>').toString('base64'), mimeType: 'image/svg+xml' },
      { type: 'resource', resource: { uri: 'runbox://runs/run-1/output/dir/table.csv', mimeType: 'text/csv', text: 'a,b\n1,2\n' } },
      { type: 'resource', resource: { uri: 'runbox://runs/run-1/output/blob.bin', mimeType: 'application/octet-stream', blob: 'AAE=' } },
    ]);
    expect(result.content[0]).toMatchObject({ text: expect.stringContaining('chart.png (image/png, 70 bytes)') });
  });

  it('sends an image that is not whole (cut off, or only a signature) as a resource, not as an image', () => {
    const png = Buffer.from(PNG, 'base64');
    const cut = png.subarray(0, png.length - 10).toString('base64');
    const jpegStart = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]).toString('base64');
    const result = runToolResult(
      run({
        artifacts: [
          { path: 'cut.png', size: png.length - 10, mime_type: 'image/png', sha256: 'a'.repeat(64), encoding: 'base64', content: cut },
          { path: 'x.jpg', size: 8, mime_type: 'image/jpeg', sha256: 'b'.repeat(64), encoding: 'base64', content: jpegStart },
          { path: 'open.svg', size: 9, mime_type: 'image/svg+xml', sha256: 'c'.repeat(64), encoding: 'utf8', content: '<svg><g>' },
        ],
      }),
    );
    expect(result.content.slice(3).map((c) => c.type)).toEqual(['resource', 'resource', 'resource']);
  });

  it('makes a service failure a tool error with advice a model can act on', () => {
    const busy = serviceErrorResult('busy', 'every run slot is taken', 2);
    expect(busy.isError).toBe(true);
    expect(busy.content[0]).toMatchObject({ type: 'text', text: expect.stringMatching(/busy.*call the tool again.*retry after 2 s/s) });
    expect(serviceErrorResult('engine_unavailable', 'down').content[0]).toMatchObject({ text: expect.stringContaining('not available') });
  });
});

describe('run_python with a wheelhouse', () => {
  it('offers dependencies, and says so, only when the server has a wheelhouse', () => {
    const wheelhouse = testDataDir();
    chmodSync(wheelhouse, 0o755);
    const withWheels = runPythonTool(testConfig({ RUNBOX_WHEELHOUSE: wheelhouse }));
    expect(Object.keys(withWheels.inputSchema.properties)).toContain('dependencies');
    expect(withWheels.description).toMatch(/list them in dependencies/);
    const without = runPythonTool(testConfig());
    expect(Object.keys(without.inputSchema.properties)).not.toContain('dependencies');
    expect(without.description).not.toMatch(/dependencies/);
  });
});
