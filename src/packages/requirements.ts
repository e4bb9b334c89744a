/**
 * Requirements: what a run may ask for (strict: a name, or a name with `==`, `>=` or `<=` and a version,
 * nothing pip could read as an option, URL, path or marker), and what a wheel's metadata may require of
 * others (`Requires-Dist`, read leniently, for the dependency chain).
 */
import { compareVersions, parseVersion, type Version } from './version';

export type Operator = '==' | '!=' | '>=' | '<=' | '>' | '<' | '~=' | '===';

export interface Specifier {
  op: Operator;
  version: string;
}

export interface Requirement {
  /** As written. */
  name: string;
  /** PEP 503 normalised: lower case, runs of `-_.` as one `-`. */
  key: string;
  specifiers: Specifier[];
}

/** PEP 508's name: letters and digits, with `-_.` inside. */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const RUN_DEPENDENCY = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\s*(==|>=|<=)\s*([0-9][0-9A-Za-z.!+_-]*))?$/;
export const MAX_DEPENDENCIES = 15;
const MAX_DEPENDENCY_LENGTH = 100;

/** A requirement as written in messages and listings: `name>=1.0,<2`. */
export const formatRequirement = (r: { name: string; specifiers: Specifier[] }): string =>
  `${r.name}${r.specifiers.map((s) => `${s.op}${s.version}`).join(',')}`;

export const canonicalName = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

/**
 * One of a run's `dependencies`, or a message saying what is wrong with it. Anything beyond the three forms
 * is refused, so pip never sees a string it would take as an option (`-e`, `--index-url`), a URL or a path.
 */
export function parseRunDependency(text: string): Requirement | string {
  if (text.length > MAX_DEPENDENCY_LENGTH) return `is longer than ${MAX_DEPENDENCY_LENGTH} characters`;
  const m = RUN_DEPENDENCY.exec(text.trim());
  if (!m) return 'must be a package name, optionally with ==, >= or <= and a version (no URLs, paths, options, extras or markers)';
  const [, name, op, version] = m;
  if (op !== undefined && parseVersion(version) === undefined) return `has ${JSON.stringify(version)}, which is not a version`;
  return { name, key: canonicalName(name), specifiers: op ? [{ op: op as Operator, version }] : [] };
}

/**
 * A `Requires-Dist` line: `name [extras] (specifiers) ; marker`. Requirements behind an `extra` marker are
 * for extras nobody asked for, and are left out (undefined), as are those whose marker is false for the
 * image's Python (3.11 on Linux); a marker this does not understand is taken as true.
 */
export function parseRequiresDist(line: string, python = '3.11'): Requirement | undefined {
  const [spec, marker] = line.split(';', 2).map((part) => part.trim());
  if (marker !== undefined && !markerHolds(marker, python)) return undefined;
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?([^)]*)\)?$/.exec(spec);
  if (!m || !NAME.test(m[1])) return undefined;
  return { name: m[1], key: canonicalName(m[1]), specifiers: parseSpecifiers(m[2]) };
}

/** A comma-separated specifier list (`>=1.0, <2`); parts it cannot read are left out. */
export function parseSpecifiers(text: string): Specifier[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => /^(===|~=|==|!=|>=|<=|>|<)\s*(.+)$/.exec(part))
    .filter((found): found is RegExpExecArray => found !== null)
    .map((found) => ({ op: found[1] as Operator, version: found[2].trim() }));
}

/** The markers that matter for one interpreter on Linux; `extra` is never set (no extras are installed). */
function markerHolds(marker: string, python: string): boolean {
  if (/\bextra\s*==/.test(marker)) return false;
  const env: Record<string, string> = {
    python_version: python,
    python_full_version: `${python}.0`,
    sys_platform: 'linux',
    platform_system: 'Linux',
    os_name: 'posix',
    implementation_name: 'cpython',
    platform_python_implementation: 'CPython',
  };
  // Only simple `var op "value"` clauses joined by one kind of connective; anything else is taken as true.
  const clauses = marker.split(/\s+(and|or)\s+/);
  const results: boolean[] = [];
  const connectives = new Set<string>();
  for (let i = 0; i < clauses.length; i++) {
    if (i % 2 === 1) {
      connectives.add(clauses[i]);
      continue;
    }
    const m = /^\(?\s*([a-z_]+)\s*(==|!=|>=|<=|>|<)\s*["']([^"']*)["']\s*\)?$/.exec(clauses[i].trim());
    if (!m || !(m[1] in env)) return true;
    const [, name, op, value] = m;
    const versioned = name.includes('version');
    const cmp = versioned ? compareLoose(env[name], value) : env[name] === value ? 0 : env[name] < value ? -1 : 1;
    results.push(holds(op as Operator, cmp));
  }
  if (connectives.size > 1) return true;
  return connectives.has('or') ? results.some(Boolean) : results.every(Boolean);
}

function compareLoose(a: string, b: string): number {
  const [va, vb] = [parseVersion(a), parseVersion(b)];
  return va && vb ? compareVersions(va, vb) : a.localeCompare(b);
}

function holds(op: Operator, cmp: number): boolean {
  switch (op) {
    case '==':
    case '===':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '>=':
      return cmp >= 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '<':
      return cmp < 0;
    case '~=':
      return cmp >= 0;
  }
}

/** Whether `version` meets every specifier (PEP 440; `==1.2.*` prefixes and `~=` compatible releases included). */
export function satisfies(version: Version, specifiers: Specifier[]): boolean {
  return specifiers.every(({ op, version: wanted }) => {
    if ((op === '==' || op === '!=') && wanted.endsWith('.*')) {
      const prefix = parseVersion(wanted.slice(0, -2));
      if (!prefix) return false;
      const same = prefix.release.every((part, i) => version.release[i] === part) && prefix.epoch === version.epoch;
      return op === '==' ? same : !same;
    }
    if (op === '===') return version.text === wanted;
    const target = parseVersion(wanted);
    if (!target) return false;
    // A pin without a local label matches any local build of that version.
    const cmp = compareVersions(version, target);
    if (op === '~=') {
      const prefix = target.release.slice(0, Math.max(1, target.release.length - 1));
      return cmp >= 0 && prefix.every((part, i) => version.release[i] === part);
    }
    // Pre-releases satisfy a range only when the range names one (PEP 440); pins are exact either way.
    if (
      (op === '>=' || op === '>' || op === '<=' || op === '<') &&
      (version.pre || version.dev !== undefined) &&
      !(target.pre || target.dev !== undefined)
    ) {
      return false;
    }
    return holds(op, cmp);
  });
}
