#!/usr/bin/env node
/** The `runbox` command: one program for every way of using runbox from a shell. */
import { Command, CommanderError } from 'commander';
import { clientConfig } from '../config';
import { version } from '../version';
import { CliError, EXIT } from './exit-codes';
// Only types here: each command loads its own module when it runs, so that --version, --help and a client
// command never load the server, dockerode, the store drivers or MCP (a second or more of startup).
import type { keysAdd } from './keys';
import { LIMIT_FLAGS, type LimitOptions } from './limit-flags';
import type { RunOptions } from './run';

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The server and key flags every client command takes. The key's default is read when used, never given
 * to commander, which would print it in --help. */
function serverOptions(command: Command): Command {
  return command
    .option('--url <url>', 'the runbox server (default: env RUNBOX_URL, else http://127.0.0.1:8080)')
    .option('--api-key <key>', 'its API key (default: env RUNBOX_API_KEY; prefer the environment: flags show in ps)');
}

function server(options: { url?: string; apiKey?: string }): { url: string; apiKey?: string } {
  const fromEnv = clientConfig(process.env);
  const url = options.url ?? fromEnv.url ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw new CliError(`--url ${JSON.stringify(url)} is not a URL`, EXIT.usage);
  }
  return { url, apiKey: options.apiKey || fromEnv.apiKey };
}

const program = new Command()
  .name('runbox')
  .description('Run untrusted Python in throwaway, hardened Docker containers.')
  .version(version)
  .exitOverride()
  // Errors are one line; `runbox help` has the rest.
  .configureOutput({ outputError: (text, write) => write(`runbox: ${text.replace(/^error: /, '')}`) });

program
  .command('serve')
  .description('start the HTTP server (configured by RUNBOX_* environment variables; see the README)')
  .action(async () => (await import('./serve')).serve());

serverOptions(
  program
    .command('run')
    .description('run a Python script on a runbox server, its output live, its files saved to ./output/')
    .argument('<script>', 'the Python file to run')
    .argument('[paths...]', 'more files or folders to send with it (at their paths from here)')
    .option('--stdin <file>', "a file to give the program as its stdin ('-' for this command's own stdin)")
    .option(
      '--arg <value>',
      'an argument for the program (sys.argv); repeat for more',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option('--timeout <duration>', "wall-clock limit, e.g. 30s, 500ms, 2m (default: the server's)")
    .option('--memory <mb>', "memory limit in MB (default: the server's)")
    .option('--out <dir>', 'where the files the program saves in output/ are written', 'output'),
).action(async (script: string, paths: string[], options: Omit<RunOptions, 'url' | 'apiKey'> & { url?: string; apiKey?: string }) => {
  const { runCommand } = await import('./run');
  process.exitCode = await runCommand([script, ...paths], { ...options, ...server(options) });
});

const keys = program
  .command('keys')
  .description(
    'manage API keys in the store the server uses (RUNBOX_DATABASE_URL, else SQLite in RUNBOX_DATA_DIR, else in ~/.local/share/runbox)',
  );
const limitFlags = (command: Command) =>
  Object.values(LIMIT_FLAGS).reduce((cmd, { flag, doc }) => cmd.option(`--${flag} <n>`, `${doc} (none: no such limit)`), command);
limitFlags(
  keys
    .command('add')
    .description('make a key, printed once')
    .requiredOption('--name <name>', 'who or what it is for')
    .option('--description <text>', 'a note')
    .option('--env <env>', 'test or prod', 'prod'),
).action(async (options: Parameters<typeof keysAdd>[0]) => (await import('./keys')).keysAdd(options));
keys
  .command('list')
  .description('every key: id, name, env, created, last used, limits; never the key')
  .action(async () => (await import('./keys')).keysList());
keys
  .command('revoke')
  .argument('<id>')
  .description('refuse the key from the next request on')
  .action(async (id: string) => (await import('./keys')).keysRevoke(id));
limitFlags(keys.command('set').argument('<id>').description("change a key's limits")).action(async (id: string, options: LimitOptions) =>
  (await import('./keys')).keysSet(id, options),
);

const packages = program.command('packages').description('manage the wheelhouse runs install from (RUNBOX_WHEELHOUSE)');
packages
  .command('add')
  .argument('<wheels...>', '.whl files')
  .description("check wheels (name, metadata, tags for the image's Python) and copy them into the wheelhouse")
  .action(async (files: string[]) => (await import('./packages')).packagesAdd(files));
packages
  .command('list')
  .description('the wheels in the wheelhouse, and the files in it that runs cannot use')
  .action(async () => (await import('./packages')).packagesList());

serverOptions(program.command('mcp').description('serve MCP over stdio for desktop agents, running code on a runbox server')).action(
  async (options: { url?: string; apiKey?: string }) => {
    const { bridgeStdio } = await import('../mcp/stdio');
    await bridgeStdio(server(options));
  },
);

program.parseAsync().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0; usage errors were already printed.
    process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
  }
  console.error(`runbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof CliError ? err.exitCode : EXIT.software);
});
