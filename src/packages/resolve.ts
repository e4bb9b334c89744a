/**
 * Resolving a run's dependencies before any container exists: each requirement, and what its wheels
 * require in turn, is met by the image (no install) or by the highest fitting wheel in the wheelhouse.
 * What cannot be met is an answer naming the package and what the wheelhouse has.
 *
 * It is greedy, not a full resolver: the run's own requirements on one package are merged before choosing,
 * and a package taken from the image is swapped for a wheel when a later requirement needs a newer one; a
 * conflict beyond that is reported, not searched around.
 */
import { formatRequirement, satisfies, type Requirement, type Specifier } from './requirements';
import { compareVersions, parseVersion, type Version } from './version';
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

const describe = formatRequirement;

const isPre = (v: Version) => v.pre !== undefined || v.dev !== undefined;

/** The highest wheel meeting every specifier: final releases first, pre-releases only when nothing else fits (as pip). */
function bestWheel(wheels: WheelhouseEntry[], key: string, specifiers: Specifier[]): WheelhouseEntry | undefined {
  const fitting = wheels
    .filter((w) => w.key === key)
    .map((w) => ({ w, v: parseVersion(w.version) }))
    .filter((c): c is { w: WheelhouseEntry; v: Version } => c.v !== undefined && satisfies(c.v, specifiers))
    .sort((a, b) => compareVersions(b.v, a.v) || a.w.file.localeCompare(b.w.file));
  return (fitting.find((c) => !isPre(c.v)) ?? fitting[0])?.w;
}

/** Said of a requirement the image cannot meet when there is no wheelhouse at all: how one gets there. */
export const NO_WHEELHOUSE =
  'this server has no wheelhouse (RUNBOX_WHEELHOUSE is unset), so it cannot install dependencies; ' +
  'ask its operator to set one up with `runbox packages add`';

/** `house`: the wheelhouse's wheels, or undefined when the server has none (RUNBOX_WHEELHOUSE unset). */
export function resolve(requirements: Requirement[], image: ImageDistributions, house: WheelhouseEntry[] | undefined): Resolution {
  const wheels = house ?? [];
  // The run's own requirements on one package count together: ["foo", "foo<=1.0"] is foo<=1.0.
  const merged = new Map<string, Requirement>();
  for (const r of requirements) {
    const known = merged.get(r.key);
    merged.set(r.key, known ? { ...known, specifiers: [...known.specifiers, ...r.specifiers] } : r);
  }
  const chosen = new Map<string, ResolvedPackage & { wanted: Requirement[] }>();
  const pending: { requirement: Requirement; by?: string }[] = [...merged.values()].map((requirement) => ({ requirement }));
  const queueRequires = (wheel: WheelhouseEntry) => {
    for (const dependency of wheel.requires) pending.push({ requirement: dependency, by: `${wheel.name} ${wheel.version}` });
  };
  while (pending.length > 0) {
    const { requirement, by } = pending.shift()!;
    const needed = `${describe(requirement)}${by ? ` (needed by ${by})` : ''}`;
    const already = chosen.get(requirement.key);
    if (already) {
      if (satisfies(parseVersion(already.version)!, requirement.specifiers)) {
        already.wanted.push(requirement);
        continue;
      }
      // What the image has may give way to a wheel that meets every requirement so far.
      const all = [...already.wanted, requirement].flatMap((r) => r.specifiers);
      const swap = already.source === 'image' ? bestWheel(wheels, requirement.key, all) : undefined;
      if (!swap) {
        const others = already.wanted.map(describe).join(' and ');
        return { unmet: `${needed} conflicts with ${others}: ${already.name} ${already.version} was chosen` };
      }
      chosen.set(requirement.key, {
        name: swap.name,
        version: swap.version,
        source: 'wheelhouse',
        wheel: swap,
        wanted: [...already.wanted, requirement],
      });
      queueRequires(swap);
      continue;
    }
    const inImage = image.get(requirement.key);
    const imageVersion = inImage && parseVersion(inImage.version);
    if (inImage && imageVersion && satisfies(imageVersion, requirement.specifiers)) {
      chosen.set(requirement.key, { name: inImage.name, version: inImage.version, source: 'image', wanted: [requirement] });
      continue;
    }
    const best = bestWheel(wheels, requirement.key, requirement.specifiers);
    if (!best && house === undefined) {
      const has = inImage ? `the image has ${inImage.version}` : 'the image does not have it';
      return { unmet: `${needed} cannot be satisfied: ${has}, and ${NO_WHEELHOUSE}` };
    }
    if (!best) {
      const available = wheels.filter((w) => w.key === requirement.key).map((w) => w.version);
      const has = [
        ...(inImage ? [`the image has ${inImage.version}`] : []),
        available.length > 0 ? `the wheelhouse has ${available.join(', ')}` : 'the wheelhouse has no wheel of it',
      ].join('; ');
      return { unmet: `${needed} cannot be satisfied: ${has}` };
    }
    chosen.set(requirement.key, { name: best.name, version: best.version, source: 'wheelhouse', wheel: best, wanted: [requirement] });
    queueRequires(best);
  }
  return { packages: [...chosen.values()].map(({ wanted: _wanted, ...resolved }) => resolved) };
}
