/**
 * The CLI as people install it: `npm pack` in the checkout, `npm install -g` of the tarball (into a throwaway
 * prefix), then `runbox` from a folder that is not the checkout: --version, `serve` from the installed package
 * (its own better-sqlite3, installed into the prefix; its page files; images/python/, which names the sandbox
 * image) and `run` against that server. No prebuilt better-sqlite3 can be downloaded here, and compiling it
 * takes a minute or more on 2 cores: the checkout's own build, packed as the prebuilt binary its installer
 * looks for, stands in for the download (the compile is better-sqlite3's, not what this test is about).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sandboxImageTag } from '../../src/provision/image';
import { spawnServer } from '../support/server-process';

const ROOT = join(__dirname, '../..');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const KEY = 'cli-install-test-key-'.padEnd(40, 'x');
const exec = promisify(execFile);

/**
 * npm's own environment when jest runs under `npm test` names the checkout as the prefix and the package: left
 * out, so the install goes where --prefix says. The rest (the user's npm config, e.g. nodedir) stays.
 */
const NPM_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_(package_|lifecycle_|command$|config_(local_|global_)?prefix$)/.test(name)),
);

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command's exit code and output, whatever the code (execFile would reject on a non-zero one). */
function run(command: string, args: string[], { cwd, env }: { cwd: string; env: Record<string, string> }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('runbox installed from its npm pack tarball', () => {
  let scratch: string;
  let work: string;
  let runbox: string;
  let packed: string[];
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'rbx-install-'));
    const prefix = join(scratch, 'prefix');
    work = join(scratch, 'work');
    mkdirSync(work);
    runbox = join(prefix, 'bin', 'runbox');
    // --ignore-scripts: `prepare` is `npm run build`, and dist/ is built already (`npm test` builds it before the
    // tiers); rebuilding it here would rewrite the checkout's dist/ under whatever else runs from it.
    const pack = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT, env: NPM_ENV });
    const [manifest] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    packed = manifest.files.map((file) => file.path);
    // better-sqlite3's installer (prebuild-install) takes a prebuilt binary from a local folder before the network;
    // a version the install resolves anew (there is no lockfile in a tarball) finds none there and compiles.
    const sqlite = JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string };
    const prebuilds = join(scratch, 'prebuilds');
    mkdirSync(prebuilds);
    const asset = `better-sqlite3-v${sqlite.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
    await exec('tar', [
      '-czf',
      join(prebuilds, asset),
      '-C',
      join(ROOT, 'node_modules/better-sqlite3'),
      'build/Release/better_sqlite3.node',
    ]);
    // The README's install, less the prefix (a throwaway one, not the machine's) and the registry round trips
    // (`npm ci` left the packages in npm's cache).
    await exec(
      'npm',
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(scratch, manifest.filename)],
      {
        cwd: work,
        env: { ...NPM_ENV, npm_config_better_sqlite3_local_prebuilds: prebuilds },
        maxBuffer: 1 << 26,
      },
    );
    server = await spawnServer({ RUNBOX_API_KEY: KEY, RUNBOX_POOL_SIZE: '0' }, { command: [runbox, 'serve'], cwd: work });
  }, 15 * 60_000); // a bound for a hang: the install compiles better-sqlite3

  afterAll(async () => {
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('packs what the CLI and the server read at run time, and no tests, sources or dependencies', () => {
    expect(packed).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'dist/cli/main.js', 'dist/main.js', 'src/http/playground/index.html']),
    );
    // Every file the sandbox image's tag is a hash of, or an installed server would name another image.
    const imageFiles = readdirSync(join(ROOT, 'images/python'), { withFileTypes: true }).filter((entry) => entry.isFile());
    expect(packed).toEqual(expect.arrayContaining(imageFiles.map((entry) => `images/python/${entry.name}`)));
    expect(packed.filter((path) => /^(test|bench|node_modules)\/|\.ts$|\.map$/.test(path))).toEqual([]);
  });

  it('answers --version and --help from another folder, as an executable of its own', async () => {
    const env = { PATH: process.env.PATH ?? '' };
    const shown = await run(runbox, ['--version'], { cwd: work, env });
    expect(shown).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    const help = await run(runbox, ['--help'], { cwd: work, env });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: runbox /);
  });

  it('serves from the installed package: the same sandbox image, the playground page and its files', async () => {
    expect(server!.log()).toContain(`"image":"${sandboxImageTag()}"`);
    for (const path of ['/playground', '/playground/assets/playground.js', '/playground/assets/playground.css']) {
      expect(`${path} ${(await fetch(`${server!.url}${path}`)).status}`).toBe(`${path} 200`);
    }
  });

  it('runs a script from another folder on that server, and exits with its exit code', async () => {
    const job = join(work, 'job');
    mkdirSync(job);
    writeFileSync(
      join(job, 'script.py'),
      [
        'import sys',
        'print("hello from the sandbox")',
        'print(open("data.txt").read().strip())',
        'open("output/done.txt", "w").write("ok")',
        'sys.exit(3)',
      ].join('\n'),
    );
    writeFileSync(join(job, 'data.txt'), 'data sent along\n');
    const result = await run(runbox, ['run', 'script.py', 'data.txt'], {
      cwd: job,
      env: { PATH: process.env.PATH ?? '', RUNBOX_URL: server!.url, RUNBOX_API_KEY: KEY },
    });
    expect(result.stdout).toMatch(/^hello from the sandbox\ndata sent along\n/);
    expect(result.code).toBe(3);
    expect(readFileSync(join(job, 'output/done.txt'), 'utf8')).toBe('ok');
  });
});
