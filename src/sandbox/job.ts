import type { Requirement } from '../packages/requirements';
/** A run, as the sandbox sees it: validated, decoded, and free of anything that configures the container. */
export interface JobFile {
  path: string;
  data: Buffer;
}

export interface Job {
  /** Packages the program needs, as validated requirements; resolved by the server before the run. */
  dependencies: Requirement[];
  files: JobFile[];
  entrypoint: string;
  args: string[];
  stdin: Buffer;
  timeoutMs: number;
  memoryMb: number;
}
