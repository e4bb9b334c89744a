/**
 * Python package versions (PEP 440), enough to compare what a wheel or the image has with what a run asks
 * for: epoch, release, pre-, post- and dev-releases, and a local label (ignored when comparing to a pin
 * without one, as pip does).
 */
export interface Version {
  text: string;
  epoch: number;
  release: number[];
  /** [phase, number]: a < b < rc; absent for a final release. */
  pre?: [number, number];
  post?: number;
  dev?: number;
  local?: string;
}

/** PEP 440's own pattern (Appendix B), case-insensitive. */
const PATTERN = new RegExp(
  [
    '^v?(?:(?<epoch>\\d+)!)?(?<release>\\d+(?:\\.\\d+)*)',
    '(?:[-_.]?(?<preL>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<preN>\\d+)?)?',
    '(?<post>-(?<postN1>\\d+)|[-_.]?(?:post|rev|r)[-_.]?(?<postN2>\\d+)?)?',
    '(?<dev>[-_.]?dev[-_.]?(?<devN>\\d+)?)?',
    '(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$',
  ].join(''),
  'i',
);

const PHASES: Record<string, number> = { a: 0, alpha: 0, b: 1, beta: 1, rc: 2, c: 2, pre: 2, preview: 2 };

export function parseVersion(text: string): Version | undefined {
  const g = PATTERN.exec(text.trim())?.groups;
  if (!g) return undefined;
  return {
    text,
    epoch: g.epoch ? Number(g.epoch) : 0,
    release: g.release.split('.').map(Number),
    ...(g.preL ? { pre: [PHASES[g.preL.toLowerCase()], Number(g.preN ?? 0)] as [number, number] } : {}),
    ...(g.post !== undefined ? { post: Number(g.postN1 ?? g.postN2 ?? 0) } : {}),
    ...(g.dev !== undefined ? { dev: Number(g.devN ?? 0) } : {}),
    ...(g.local ? { local: g.local.toLowerCase() } : {}),
  };
}

function compareRelease(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** The sort key of PEP 440's ordering, as comparable tuples. */
function key(v: Version): number[] {
  // A dev release of a final version sorts before its pre-releases: 1.0.dev0 < 1.0a1 < 1.0.
  const pre = v.pre ? [v.pre[0], v.pre[1]] : v.post === undefined && v.dev !== undefined ? [-1, 0] : [3, 0];
  const post = v.post === undefined ? [-1] : [v.post];
  const dev = v.dev === undefined ? [Infinity] : [v.dev];
  return [...pre, ...post, ...dev];
}

/** Negative, zero or positive as `a` is before, equal to or after `b`; local labels are ignored. */
export function compareVersions(a: Version, b: Version): number {
  if (a.epoch !== b.epoch) return Math.sign(a.epoch - b.epoch);
  const release = compareRelease(a.release, b.release);
  if (release !== 0) return release;
  const [ka, kb] = [key(a), key(b)];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return 0;
}
