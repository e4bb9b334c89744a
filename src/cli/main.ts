#!/usr/bin/env node
/** The `runbox` command: one program for every way of using runbox from a shell. */
import { Command } from 'commander';
import { bridgeStdio } from '../mcp/stdio';
import { version } from '../version';
import { serve } from './serve';

const DEFAULT_URL = 'http://127.0.0.1:8080';

const program = new Command()
  .name('runbox')
  .description('Run untrusted Python in throwaway, hardened Docker containers.')
  .version(version)
  .showHelpAfterError();

program
  .command('serve')
  .description('start the HTTP server (configured by RUNBOX_* environment variables; see the README)')
  .action(() => serve());

program
  .command('mcp')
  .description('serve MCP over stdio for desktop agents, running code on a runbox server')
  .option('--url <url>', 'the runbox server (env RUNBOX_URL)', process.env.RUNBOX_URL ?? DEFAULT_URL)
  // The key's default is read in the action, never given to commander, which would print it in --help.
  .option('--api-key <key>', 'its API key (default: env RUNBOX_API_KEY; prefer the environment: flags show in ps)')
  .action(async (options: { url: string; apiKey?: string }) => {
    try {
      new URL(options.url);
    } catch {
      program.error(`runbox mcp: --url ${JSON.stringify(options.url)} is not a URL`);
    }
    await bridgeStdio({ url: options.url, apiKey: options.apiKey || process.env.RUNBOX_API_KEY || undefined });
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`runbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
