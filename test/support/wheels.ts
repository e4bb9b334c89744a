/** Small pure-Python wheels written by the tests themselves (no index, no build tools): a real PEP 427 archive. */
import { createHash } from 'node:crypto';
import { zipSync } from 'fflate';

export interface WheelSpec {
  name: string;
  version: string;
  /** Requires-Dist lines. */
  requires?: string[];
  requiresPython?: string;
  /** Tags in the file name; py3-none-any by default. */
  tag?: string;
  /** Files of the package, by path; by default `<name>/__init__.py` saying its version. */
  files?: Record<string, string>;
  /** What METADATA calls it, when it must disagree with the file name. */
  metadataName?: string;
  /** Binary files of the package, stored uncompressed (for large wheels). */
  blobs?: Record<string, Uint8Array>;
}

const record = (path: string, data: Uint8Array) => `${path},sha256=${createHash('sha256').update(data).digest('base64url')},${data.length}`;

export function makeWheel(spec: WheelSpec): { file: string; bytes: Uint8Array } {
  const module = spec.name.toLowerCase().replace(/[-.]/g, '_');
  const distInfo = `${spec.name.replace(/-/g, '_')}-${spec.version}.dist-info`;
  const encoder = new TextEncoder();
  const files: Record<string, Uint8Array> = {};
  for (const [path, text] of Object.entries(
    spec.files ?? { [`${module}/__init__.py`]: `__version__ = ${JSON.stringify(spec.version)}\n` },
  )) {
    files[path] = encoder.encode(text);
  }
  const metadata = [
    'Metadata-Version: 2.1',
    `Name: ${spec.metadataName ?? spec.name}`,
    `Version: ${spec.version}`,
    ...(spec.requiresPython ? [`Requires-Python: ${spec.requiresPython}`] : []),
    ...(spec.requires ?? []).map((line) => `Requires-Dist: ${line}`),
    '',
    'A test package.',
  ].join('\n');
  for (const [path, data] of Object.entries(spec.blobs ?? {})) files[path] = data;
  files[`${distInfo}/METADATA`] = encoder.encode(metadata);
  files[`${distInfo}/WHEEL`] = encoder.encode('Wheel-Version: 1.0\nGenerator: runbox-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n');
  const lines = Object.entries(files).map(([path, data]) => record(path, data));
  files[`${distInfo}/RECORD`] = encoder.encode([...lines, `${distInfo}/RECORD,,`, ''].join('\n'));
  return {
    file: `${spec.name.replace(/-/g, '_')}-${spec.version}-${spec.tag ?? 'py3-none-any'}.whl`,
    bytes: zipSync(files, { level: spec.blobs ? 0 : 6 }),
  };
}
