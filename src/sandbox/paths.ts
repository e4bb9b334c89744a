/** Relative paths that cross the sandbox boundary: input files going in, artifacts coming out. */

export const MAX_PATH_BYTES = 512;
export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_DEPTH = 16;

/**
 * Characters that make a name display as something it is not, or break the line it is shown on: C0/C1
 * controls (U+0085 included), format characters (bidi overrides, zero-width characters, the BOM) and the
 * line and paragraph separators.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Returns why `path` is not a plain relative path, or undefined when it is one. */
export function relativePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'contains a NUL or control character';
  if (/\p{Cs}/u.test(path) || path.includes('\uFFFD')) return 'is not valid Unicode';
  const hidden = INVISIBLE.exec(path);
  if (hidden) {
    const code = hidden[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return `contains U+${code}, a control, format or separator character (bidi overrides, zero-width characters, line separators and the like)`;
  }
  if (path.includes('\\')) return 'contains a backslash (use / between folders)';
  if (path.startsWith('/')) return 'is absolute (paths are relative to the working directory)';
  const segments = path.split('/');
  if (segments.length > MAX_PATH_DEPTH) return `is deeper than ${MAX_PATH_DEPTH} levels`;
  for (const segment of segments) {
    if (segment === '') return 'has an empty segment (leading, trailing or doubled /)';
    if (segment === '.' || segment === '..') return `contains a '${segment}' segment`;
    if (segment.startsWith('-')) return 'has a segment starting with - (would read as an option)';
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/** Finds a path given twice, or a path that is both a file and a folder of another file. */
export function pathConflict(paths: string[]): string | undefined {
  const files = new Set<string>();
  for (const path of paths) {
    if (files.has(path)) return `${path} is given twice`;
    files.add(path);
  }
  for (const path of paths) {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      if (files.has(parent)) return `${parent} is a file and also a folder of ${path}`;
    }
  }
  return undefined;
}
