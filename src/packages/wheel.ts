/**
 * Wheels (PEP 427): what a `.whl` file is, read from its name and its METADATA, and whether it fits the
 * sandbox image's interpreter (CPython 3.11 on x86-64 Linux, glibc 2.36). Nothing in a wheel runs to read
 * it; a wheel has no install-time code either.
 */
import { unzipSync } from 'fflate';
import { canonicalName, parseRequiresDist, parseSpecifiers, satisfies, type Requirement } from './requirements';
import { compareVersions, parseVersion } from './version';

export interface WheelInfo {
  file: string;
  name: string;
  key: string;
  version: string;
  /** The dependencies it declares for this interpreter (extras and other platforms' left out). */
  requires: Requirement[];
  requiresPython: string | null;
  tags: { python: string[]; abi: string[]; platform: string[] };
}

/** The image's interpreter, as wheel tags see it (the image is Debian bookworm's python3). */
export const IMAGE_PYTHON = { version: '3.11', tag: 'cp311', glibc: [2, 36] as const, arch: 'x86_64' };

/**
 * PEP 427's name, with every part kept to the characters wheels use: a file name ends up in pip's argv and on
 * the operator's terminal, so no spaces, `;` (pip reads a marker after it), `$`, or control characters.
 */
const FILENAME =
  /^([A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-([A-Za-z0-9._+!]+)(?:-(\d[A-Za-z0-9._]*))?-([A-Za-z0-9._]+)-([A-Za-z0-9._]+)-([A-Za-z0-9._]+)\.whl$/;
/** A wheel with more entries than this is refused before anything is inflated. */
const MAX_ENTRIES = 100_000;
/** METADATA is a few KB; a wheel claiming more is refused rather than inflated. */
const MAX_METADATA_BYTES = 1024 * 1024;

export class WheelError extends Error {}

/** The wheel's name, version and tags from its file name alone. */
export function parseWheelFilename(file: string) {
  const m = FILENAME.exec(file);
  if (!m) throw new WheelError(`${file}: not a wheel file name (name-version-python-abi-platform.whl)`);
  const [, name, version, , python, abi, platform] = m;
  if (parseVersion(version) === undefined) throw new WheelError(`${file}: ${JSON.stringify(version)} is not a version`);
  return {
    name,
    key: canonicalName(name),
    version,
    tags: { python: python.split('.'), abi: abi.split('.'), platform: platform.split('.') },
  };
}

/** Whether a wheel with these tags can be installed for the image's interpreter; the reason if not. */
export function tagsFit(tags: WheelInfo['tags']): string | undefined {
  const minor = (tag: string, prefix: string) =>
    tag.startsWith(prefix) && /^\d+$/.test(tag.slice(prefix.length)) ? Number(tag.slice(prefix.length)) : NaN;
  const stableAbi = tags.abi.includes('abi3');
  // Pure wheels for any Python 3 up to ours, our CPython, or an older CPython's stable ABI (abi3).
  const pythonOk = tags.python.some(
    (t) => t === 'py3' || minor(t, 'py3') <= 11 || t === IMAGE_PYTHON.tag || (stableAbi && minor(t, 'cp3') <= 11),
  );
  if (!pythonOk) return `built for ${tags.python.join('.')}, not CPython ${IMAGE_PYTHON.version}`;
  const abiOk = tags.abi.some((t) => t === 'none' || t === IMAGE_PYTHON.tag || t === 'abi3');
  if (!abiOk) return `built for the ${tags.abi.join('.')} ABI, not ${IMAGE_PYTHON.tag}`;
  const platformOk = tags.platform.some((t) => {
    if (t === 'any' || t === `linux_${IMAGE_PYTHON.arch}`) return true;
    const m = /^manylinux_(\d+)_(\d+)_(\w+)$/.exec(t);
    if (m)
      return (
        m[3] === IMAGE_PYTHON.arch &&
        (Number(m[1]) < IMAGE_PYTHON.glibc[0] || (Number(m[1]) === IMAGE_PYTHON.glibc[0] && Number(m[2]) <= IMAGE_PYTHON.glibc[1]))
      );
    return (
      t === `manylinux1_${IMAGE_PYTHON.arch}` || t === `manylinux2010_${IMAGE_PYTHON.arch}` || t === `manylinux2014_${IMAGE_PYTHON.arch}`
    );
  });
  if (!platformOk) return `built for ${tags.platform.join('.')}, not ${IMAGE_PYTHON.arch} Linux (glibc ${IMAGE_PYTHON.glibc.join('.')})`;
  return undefined;
}

/** Reads and checks a wheel: its name, its METADATA (which must agree with the name) and its tags. */
export function readWheel(file: string, bytes: Uint8Array): WheelInfo {
  const named = parseWheelFilename(file);
  const distInfo = `${named.name}-${named.version}.dist-info/METADATA`;
  let metadata: Uint8Array | undefined;
  try {
    let seen = 0;
    let matches = 0;
    const entries = unzipSync(bytes, {
      // Only the one METADATA its name promises is inflated, within a cap; a second .dist-info is refused.
      filter: (entry) => {
        seen += 1;
        if (seen > MAX_ENTRIES) throw new WheelError(`${file}: more than ${MAX_ENTRIES} entries`);
        if (/^[^/]+\.dist-info\/METADATA$/.test(entry.name)) matches += 1;
        if (matches > 1) throw new WheelError(`${file}: more than one .dist-info/METADATA`);
        const wanted = entry.name.toLowerCase() === distInfo.toLowerCase();
        if (wanted && entry.originalSize > MAX_METADATA_BYTES) throw new WheelError(`${file}: its METADATA is over 1 MB`);
        return wanted;
      },
    });
    metadata = Object.values(entries)[0];
  } catch (err) {
    if (err instanceof WheelError) throw err;
    throw new WheelError(`${file}: not a readable zip archive (${(err as Error).message})`);
  }
  if (!metadata) throw new WheelError(`${file}: no ${distInfo} inside`);
  const fields = parseMetadata(new TextDecoder().decode(metadata));
  const name = fields.get('name')?.[0];
  const version = fields.get('version')?.[0];
  if (!name || !version) throw new WheelError(`${file}: its METADATA has no Name or Version`);
  const [declared, fromName] = [parseVersion(version), parseVersion(named.version)];
  if (canonicalName(name) !== named.key || !declared || !fromName || compareVersions(declared, fromName) !== 0) {
    throw new WheelError(`${file}: its METADATA says ${name} ${version}, its file name says ${named.name} ${named.version}`);
  }
  const requiresPython = fields.get('requires-python')?.[0] ?? null;
  if (requiresPython !== null && !satisfies(parseVersion(`${IMAGE_PYTHON.version}.0`)!, parseSpecifiers(requiresPython))) {
    throw new WheelError(`${file}: requires Python ${requiresPython}, the image has ${IMAGE_PYTHON.version}`);
  }
  const unfit = tagsFit(named.tags);
  if (unfit) throw new WheelError(`${file}: ${unfit}`);
  return {
    file,
    name,
    key: named.key,
    version,
    requires: (fields.get('requires-dist') ?? [])
      .map((line) => parseRequiresDist(line, IMAGE_PYTHON.version))
      .filter((r): r is Requirement => r !== undefined),
    requiresPython,
    tags: named.tags,
  };
}

/** RFC 822-style headers up to the first blank line (the description follows it). */
function parseMetadata(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), m[2].trim()]);
  }
  return fields;
}
