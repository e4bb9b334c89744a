/**
 * The `run_python` tool that agents are given: one definition, generated from the run request schema and
 * the live limits, served as an MCP tool (/mcp and `runbox mcp`) and in the function-calling shapes of
 * the big model APIs (GET /v1/tools). A call is a POST /v1/runs request with fewer fields.
 */
import type { Config } from '../config';
import { MiB } from '../config';
import { OUTPUT_DIR } from '../sandbox/protocol';
import { runRequestSchema } from './run-request';

export const RUN_PYTHON = 'run_python';

/** What a model should know before its first call; limits are the live ones. */
function description(config: Config): string {
  const { limits } = config;
  const mb = (bytes: number) => `${Math.round((bytes / MiB) * 10) / 10} MB`;
  return [
    'Run a Python 3 program in a fresh, isolated sandbox and get back its stdout, stderr, exit status and the files it saves.',
    '',
    'Each call is a new, empty machine: nothing persists between calls (no variables, no files, no installs), so send a',
    'complete program every time. There is no network access and pip install is not possible. Available: the standard',
    'library, numpy, pandas, scipy, scikit-learn, matplotlib, Pillow, PyYAML, BeautifulSoup (bs4), dateutil, tqdm.',
    ...(config.wheelhouse !== undefined
      ? ['Other packages: list them in dependencies (e.g. ["tabulate==0.9.0"]); they are installed only if this server offers them.']
      : []),
    '',
    `Files: files you pass are placed relative to the working directory (e.g. "data.csv"). To return a file, save it under`,
    `./${OUTPUT_DIR}/ (e.g. plt.savefig("${OUTPUT_DIR}/chart.png"), df.to_csv("${OUTPUT_DIR}/result.csv")). Charts come back as`,
    `images; plt.show() also works: every open figure is saved as ${OUTPUT_DIR}/figure-<n>.png.`,
    '',
    `Limits: ${limits.defaultTimeoutMs / 1000} s by default (timeout_ms up to ${limits.maxTimeoutMs}), ${limits.defaultMemoryMb} MB of memory,`,
    `${mb(limits.maxOutputBytes)} of stdout and of stderr kept. Print what you need to see; a non-zero exit status or a`,
    'traceback in stderr means the program failed, and the result says so.',
  ].join('\n');
}

/** The tool's input: the run request's own field schemas, so both are validated alike with the same limits. */
function inputSchema(config: Config) {
  const fields = runRequestSchema(config.limits).properties;
  return {
    type: 'object' as const,
    additionalProperties: false,
    required: ['code'],
    properties: {
      code: { ...fields.code, minLength: 1, description: 'The complete Python 3 program to run, as the text of main.py.' },
      files: {
        ...fields.files,
        description:
          'Input files, written next to main.py before it starts. path is relative (folders are created); encoding is utf8 (default) or base64 for binary content.',
      },
      stdin: { ...fields.stdin, description: "Text given to the program's standard input." },
      timeout_ms: {
        ...fields.timeout_ms,
        description: `Wall-clock limit in milliseconds (default ${config.limits.defaultTimeoutMs}); the program is killed when it passes.`,
      },
      // Offered only where a wheelhouse can meet them: elsewhere the image's packages are all there is.
      ...(config.wheelhouse !== undefined ? { dependencies: fields.dependencies } : {}),
    },
  };
}

export interface ToolDefinition {
  name: string;
  description: string;
  inputSchema: ReturnType<typeof inputSchema>;
}

export function runPythonTool(config: Config): ToolDefinition {
  return { name: RUN_PYTHON, description: description(config), inputSchema: inputSchema(config) };
}

/** GET /v1/tools: the same definition in each API's function-calling shape, ready to paste into a request. */
export function toolFormats(tool: ToolDefinition) {
  const { name, description, inputSchema } = tool;
  return {
    tools: [tool],
    formats: {
      mcp: [{ name, description, inputSchema }],
      openai_chat_completions: [{ type: 'function', function: { name, description, parameters: inputSchema } }],
      openai_responses: [{ type: 'function', name, description, parameters: inputSchema }],
      anthropic: [{ name, description, input_schema: inputSchema }],
      gemini: [{ functionDeclarations: [{ name, description, parametersJsonSchema: inputSchema }] }],
    },
  };
}
