/**
 * The contract between the server and the sandbox image (images/python/): who runs, where, with which
 * command, and the names in the tar streams going in and coming out. launcher.py holds the other side.
 */
import type { Limits } from '../config';

/** Uid and gid of the sandbox user baked into the image; run slot n runs as uid SANDBOX_UID + n, group SANDBOX_UID. */
export const SANDBOX_UID = 10001;
/** The image's installer user: the only one that writes dependency sets; never a run's uid. */
export const INSTALLER_UID = 10000;
export const WORKSPACE_PATH = '/workspace';
export const LAUNCHER_COMMAND = ['python3', '-I', '-S', '/opt/runbox/launcher.py'];
export const INSTALLER_COMMAND = ['python3', '-I', '/opt/runbox/install.py'];

/**
 * What the launcher writes on stdout once the interpreter the program will run in is up, before it reads its
 * job (launcher.py's READY): a container is warm from then on, and nothing of the program's can come before it.
 */
export const READY_SIGNAL = Buffer.from('\u0000runbox-ready\u0000', 'latin1');

/** Where programs may write results to be returned; reserved in the input namespace. */
export const OUTPUT_DIR = 'output';

/** Entries of the job archive the launcher reads on stdin. */
export const JOB_ENTRY = { manifest: 'job.json', stdin: 'stdin', filesPrefix: 'files/' } as const;

/** Entries of the archive the launcher appends to stdout after the marker. */
export const RESULT_ENTRY = { summary: 'summary.json', artifactsPrefix: `${OUTPUT_DIR}/` } as const;

export interface ArtifactCaps {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

/** The artifact caps, as the launcher applies them and as the server enforces them again. */
export function artifactCaps(limits: Limits): ArtifactCaps {
  return { maxFiles: limits.maxArtifacts, maxFileBytes: limits.maxArtifactBytes, maxTotalBytes: limits.maxArtifactsBytes };
}
