/**
 * The files `runbox run` sends: the script and any more files or folders, at the paths the program will see
 * them, read as UTF-8 text where they are, base64 otherwise. Checked against the server's limits while
 * walking, so a large folder fails with one line before it is read into memory.
 */
import { readdirSync, readFileSync, statSync, type Dirent, type Stats } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { relativePathProblem } from '../sandbox/paths';
import { CliError, EXIT } from './exit-codes';

export interface JobFile {
  path: string;
  content: string;
  encoding: 'utf8' | 'base64';
}

export interface FileLimits {
  max_files: number;
  max_file_bytes: number;
  max_files_bytes: number;
}

/** Never sent from a folder: caches and version control, not part of a program. */
const SKIPPED = new Set(['.git', '__pycache__', 'node_modules', '.venv', 'output']);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Where a file or folder goes in the sandbox: its path from here when it is below the working directory (so
 * `open("data/x.csv")` works as it does locally), else its name; the working directory itself is ''.
 */
function jobPath(file: string, cwd: string): string {
  const rel = relative(cwd, resolve(cwd, file));
  if (rel === '') return '';
  const outside = rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
  return outside ? basename(resolve(cwd, file)) : rel.split(sep).join('/');
}

const under = (folder: string, name: string) => (folder === '' ? name : `${folder}/${name}`);

/** What a path given on the command line is, following links: the user named it. */
function stat(path: string): Stats {
  try {
    return statSync(path);
  } catch {
    throw new CliError(`${path}: no such file or folder`, EXIT.noInput);
  }
}

/** Every input exists, and the script is a file: checked before the server is asked anything. */
export function checkInputs(inputs: string[]): void {
  if (!stat(inputs[0]).isFile()) throw new CliError(`${inputs[0]}: the script must be a file`, EXIT.noInput);
  for (const input of inputs.slice(1)) {
    const info = stat(input);
    if (!info.isFile() && !info.isDirectory()) throw new CliError(`${input}: not a file or folder`, EXIT.noInput);
  }
}

export function collectFiles(inputs: string[], limits: FileLimits, cwd = process.cwd()): { files: JobFile[]; entrypoint: string } {
  const files: JobFile[] = [];
  /** Which local file each sandbox path came from, to name both when two would land on one path. */
  const sources = new Map<string, string>();
  let total = 0;

  const add = (file: string, path: string) => {
    const earlier = sources.get(path);
    if (earlier !== undefined) {
      if (resolve(earlier) === resolve(file)) return;
      throw new CliError(`${earlier} and ${file} would both be ${path} in the sandbox; send one of them`, EXIT.dataError);
    }
    const problem = relativePathProblem(path);
    if (problem) throw new CliError(`${file}: its sandbox path ${JSON.stringify(path)} ${problem}`, EXIT.dataError);
    const size = statSync(file).size;
    if (size > limits.max_file_bytes) {
      throw new CliError(`${file} is ${size} bytes; the server takes at most ${limits.max_file_bytes} per file`, EXIT.dataError);
    }
    total += size;
    if (total > limits.max_files_bytes) {
      throw new CliError(`the files come to more than ${limits.max_files_bytes} bytes, the server's limit`, EXIT.dataError);
    }
    if (files.length + 1 > limits.max_files) {
      throw new CliError(`more than ${limits.max_files} files, the server's limit`, EXIT.dataError);
    }
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      throw new CliError(`${file}: ${(err as Error).message}`, EXIT.noInput);
    }
    sources.set(path, file);
    try {
      files.push({ path, content: strictUtf8.decode(data), encoding: 'utf8' });
    } catch {
      files.push({ path, content: data.toString('base64'), encoding: 'base64' });
    }
  };

  const walk = (folder: string, path: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch (err) {
      throw new CliError(`${folder}: ${(err as Error).message}`, EXIT.noInput);
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (SKIPPED.has(entry.name)) continue;
      const full = join(folder, entry.name);
      if (entry.isDirectory()) walk(full, under(path, entry.name));
      else if (entry.isFile()) add(full, under(path, entry.name));
      // Links, sockets and devices stay behind: what a link points at may be outside what was given.
    }
  };

  checkInputs(inputs);
  const entrypoint = jobPath(inputs[0], cwd);
  add(inputs[0], entrypoint);
  for (const input of inputs.slice(1)) {
    if (stat(input).isDirectory()) walk(input, jobPath(input, cwd));
    else add(input, jobPath(input, cwd));
  }
  return { files, entrypoint };
}
