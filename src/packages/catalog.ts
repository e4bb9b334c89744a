/**
 * What a run can import: the sandbox image's Python distributions (from the image's label, read once per
 * minute) and the operator's wheelhouse. Resolves a run's dependencies against both, before any container.
 */
import type { DockerClient } from '../docker/client';
import { InvalidRequestError } from '../errors';
import type { Requirement } from './requirements';
import { resolve, type ImageDistributions, type ResolvedPackage } from './resolve';
import { canonicalName } from './requirements';
import { Wheelhouse, type WheelhouseEntry } from './wheelhouse';

export const DISTRIBUTIONS_LABEL = 'runbox.distributions';
const IMAGE_TTL_MS = 60_000;
const SCAN_TTL_MS = 1000;

export interface ResolvedDependencies {
  packages: { name: string; version: string; source: 'image' | 'wheelhouse' }[];
  /** The wheels to install (or reuse as a set). */
  wheels: WheelhouseEntry[];
}

export class PackageCatalog {
  private readonly wheelhouse: Wheelhouse | undefined;
  private image: { at: number; distributions: Promise<ImageDistributions> } | undefined;
  private scanned: { at: number; wheels: WheelhouseEntry[]; invalid: { file: string; reason: string }[] } | undefined;

  constructor(
    private readonly docker: DockerClient,
    private readonly imageRef: string,
    wheelhouseDir: string | undefined,
  ) {
    this.wheelhouse = wheelhouseDir === undefined ? undefined : new Wheelhouse(wheelhouseDir);
  }

  /** The image's distributions, by normalised name (empty if the image has no such label). */
  imageDistributions(): Promise<ImageDistributions> {
    if (!this.image || Date.now() - this.image.at > IMAGE_TTL_MS) {
      const distributions = this.docker.imageLabels(this.imageRef).then((labels) => {
        const listed = JSON.parse(labels?.[DISTRIBUTIONS_LABEL] ?? '[]') as [string, string][];
        return new Map(listed.map(([name, version]) => [canonicalName(name), { name, version }]));
      });
      // A failed read is not kept: the next call asks again.
      distributions.catch(() => (this.image = undefined));
      this.image = { at: Date.now(), distributions };
    }
    return this.image.distributions;
  }

  /** The wheelhouse's wheels, scanned at most once a second (a scan stats every file). */
  wheels(): { wheels: WheelhouseEntry[]; invalid: { file: string; reason: string }[] } {
    if (!this.wheelhouse) return { wheels: [], invalid: [] };
    if (!this.scanned || Date.now() - this.scanned.at > SCAN_TTL_MS) this.scanned = { at: Date.now(), ...this.wheelhouse.scan() };
    return this.scanned;
  }

  /** Resolves a run's requirements; a 400 naming the package and what there is when one cannot be met. */
  async resolve(requirements: Requirement[]): Promise<ResolvedDependencies> {
    if (requirements.length === 0) return { packages: [], wheels: [] };
    const result = resolve(requirements, await this.imageDistributions(), this.wheelhouse ? this.wheels().wheels : undefined);
    if ('unmet' in result) throw new InvalidRequestError(`dependencies: ${result.unmet}`);
    return {
      packages: result.packages.map(({ name, version, source }: ResolvedPackage) => ({ name, version, source })),
      wheels: result.packages.flatMap((p) => (p.wheel ? [p.wheel] : [])),
    };
  }
}
