/** Packs a job into the tar stream the sandbox launcher reads on its stdin (images/python/launcher.py). */
import { pack, type Pack } from 'tar-stream';
import type { Job } from './job';
import { JOB_ENTRY, SANDBOX_UID, type ArtifactCaps } from './protocol';

export interface JobManifest {
  entrypoint: string;
  args: string[];
  /** Separates the program's stdout from the artifact archive the launcher appends. */
  marker: string;
  artifact_limits: { max_files: number; max_file_bytes: number; max_total_bytes: number };
  /** The run's dependency set folder, for the program's PYTHONPATH (chosen by the server, never by a request). */
  python_path?: string;
}

export function manifestFor(job: Job, marker: string, caps: ArtifactCaps, pythonPath?: string): JobManifest {
  return {
    entrypoint: job.entrypoint,
    args: job.args,
    marker,
    artifact_limits: { max_files: caps.maxFiles, max_file_bytes: caps.maxFileBytes, max_total_bytes: caps.maxTotalBytes },
    ...(pythonPath !== undefined ? { python_path: pythonPath } : {}),
  };
}

export interface TarEntry {
  header: Parameters<Pack['entry']>[0];
  data?: Buffer;
}

/** Packs entries into one in-memory archive. */
export async function packTar(entries: TarEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk) => chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    tar.on('end', () => resolve());
    tar.on('error', reject);
  });
  for (const { header, data } of entries) tar.entry(header, data ?? Buffer.alloc(0));
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The whole job in memory: its inputs are already bounded by the request limits. */
export function packJob(job: Job, manifest: JobManifest): Promise<Buffer> {
  const entry = (name: string, data: Buffer): TarEntry => ({
    header: { name, size: data.length, mode: 0o644, uid: SANDBOX_UID, gid: SANDBOX_UID, type: 'file' },
    data,
  });
  return packTar([
    entry(JOB_ENTRY.manifest, Buffer.from(JSON.stringify(manifest))),
    entry(JOB_ENTRY.stdin, job.stdin),
    ...job.files.map((f) => entry(`${JOB_ENTRY.filesPrefix}${f.path}`, f.data)),
  ]);
}
