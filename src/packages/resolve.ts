/**
 * Resolving a run's dependencies before any container exists: each requirement, and what its wheels
 * require in turn, is met by the image (no install) or by the highest fitting wheel in the wheelhouse.
 * What cannot be met is an answer naming the package and what the wheelhouse has.
 */
import type { Requirement } from './requirements';
import { satisfies } from './requirements';
import { compareVersions, parseVersion } from './version';
import type { WheelhouseEntry } from './wheelhouse';

export interface ResolvedPackage {
  name: string;
  version: string;
  source: 'image' | 'wheelhouse';
  /** The wheel to install (wheelhouse only). */
  wheel?: WheelhouseEntry;
}

export type Resolution = { packages: ResolvedPackage[] } | { unmet: string };

/** The image's distributions by normalised name: what they are called and their version. */
export type ImageDistributions = Map<string, { name: string; version: string }>;

const describe = (r: Requirement) => `${r.name}${r.specifiers.map((s) => `${s.op}${s.version}`).join(',')}`;

export function resolve(requirements: Requirement[], image: ImageDistributions, wheels: WheelhouseEntry[]): Resolution {
  const chosen = new Map<string, ResolvedPackage & { wanted: Requirement[] }>();
  const pending: { requirement: Requirement; by?: string }[] = requirements.map((requirement) => ({ requirement }));
  while (pending.length > 0) {
    const { requirement, by } = pending.shift()!;
    const already = chosen.get(requirement.key);
    if (already) {
      // One version per package: what was chosen must meet this requirement too.
      if (!satisfies(parseVersion(already.version)!, requirement.specifiers)) {
        const others = already.wanted.map(describe).join(' and ');
        return {
          unmet: `${describe(requirement)}${by ? ` (needed by ${by})` : ''} conflicts with ${others}: ${already.name} ${already.version} was chosen`,
        };
      }
      already.wanted.push(requirement);
      continue;
    }
    const inImage = image.get(requirement.key);
    const imageVersion = inImage && parseVersion(inImage.version);
    if (inImage && imageVersion && satisfies(imageVersion, requirement.specifiers)) {
      chosen.set(requirement.key, { name: inImage.name, version: inImage.version, source: 'image', wanted: [requirement] });
      continue;
    }
    const candidates = wheels
      .filter((w) => w.key === requirement.key)
      .filter((w) => {
        const version = parseVersion(w.version);
        return version !== undefined && satisfies(version, requirement.specifiers);
      })
      .sort((a, b) => compareVersions(parseVersion(b.version)!, parseVersion(a.version)!));
    const best = candidates[0];
    if (!best) {
      const available = wheels.filter((w) => w.key === requirement.key).map((w) => w.version);
      const has = [
        ...(inImage ? [`the image has ${inImage.version}`] : []),
        available.length > 0 ? `the wheelhouse has ${available.join(', ')}` : 'the wheelhouse has no wheel of it',
      ].join('; ');
      return { unmet: `${describe(requirement)}${by ? ` (needed by ${by})` : ''} cannot be satisfied: ${has}` };
    }
    chosen.set(requirement.key, { name: best.name, version: best.version, source: 'wheelhouse', wheel: best, wanted: [requirement] });
    for (const dependency of best.requires) pending.push({ requirement: dependency, by: `${best.name} ${best.version}` });
  }
  return { packages: [...chosen.values()].map(({ wanted: _wanted, ...resolved }) => resolved) };
}
