/** How a run ended, decided from what the server itself observed, never from what the container claims. */

/**
 * ok: exit 0. error: non-zero exit, or a program that broke the launcher's protocol. timeout: killed at the
 * deadline. oom: the kernel killed it for memory. output_limit: killed for writing more than
 * RUNBOX_OUTPUT_KILL_BYTES, or an artifact archive beyond its caps.
 */
export type RunStatus = 'ok' | 'error' | 'timeout' | 'oom' | 'output_limit';

export interface RunFacts {
  /** The server's own timer killed the run. */
  timedOut: boolean;
  /** The server's own counters killed the run for its output. */
  limitHit: boolean;
  /**
   * The exit status: the launcher's, in its summary behind the marker, or what the engine's `wait` reported
   * (the launcher's exit status too, unless something killed it).
   */
  exitCode: number;
  /** The launcher's end marker was in the output. */
  markerSeen: boolean;
  /** The attach stream was ended by the engine, not broken or cut off. */
  streamEndedCleanly: boolean;
  /** The engine answered after the run (asked only when the marker is missing). */
  engineAnswers: boolean;
  /**
   * After an exit by SIGKILL, the OOM killer's doing: by the launcher's reading of the memory cgroup's OOM kill
   * count, or where it cannot read it, the engine's State.OOMKilled.
   */
  oomKilled: boolean;
}

/**
 * The run's status, or 'lost' when its output was lost on the way: a launcher that exits 0 writes its marker
 * first, so exit 0 without it is either the program breaking the protocol (its own error: the stream ended
 * cleanly and the engine still answers) or the engine's doing (a 503). See SECURITY.md, result integrity.
 */
export function classify(f: RunFacts): RunStatus | 'lost' {
  if (f.timedOut) return 'timeout';
  if (f.limitHit) return 'output_limit';
  if (f.exitCode === 0 && !f.markerSeen) return f.streamEndedCleanly && f.engineAnswers ? 'error' : 'lost';
  if (f.oomKilled) return 'oom';
  return f.exitCode === 0 ? 'ok' : 'error';
}

/** The exit status the engine reports for a process killed by SIGKILL (128 + 9): the OOM killer's, or ours. */
export const EXIT_SIGKILL = 137;

/** A duration as people write it: 500 ms, 2 s, 1.5 s. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(3))} s`;
}

/** A size as the settings are written: 16 MB, 512 KB, 100 bytes (binary units, as memory_mb). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Number((bytes / (1024 * 1024)).toFixed(1))} MB`;
  return bytes >= 1024 ? `${Number((bytes / 1024).toFixed(1))} KB` : `${bytes} bytes`;
}

/** The limits a run ran under, for saying which one ended it. */
export interface RunLimits {
  timeoutMs: number;
  memoryMb: number;
  /** RUNBOX_OUTPUT_KILL_BYTES. */
  outputKillBytes: number;
}

/**
 * Why the run was stopped, as one line for people, when a limit stopped it (timeout, oom, output_limit; for
 * output_limit, `overLimit` says whose: the program's output, or the launcher's archive of output/); null
 * otherwise: an ok run needs none, and an error's reason is the program's own stderr, which is left as it is.
 */
export function outcomeMessage(status: RunStatus, limits: RunLimits, overLimit: 'output' | 'artifacts' = 'output'): string | null {
  switch (status) {
    case 'timeout':
      return `time limit of ${formatDuration(limits.timeoutMs)} exceeded`;
    case 'oom':
      return `memory limit of ${limits.memoryMb} MB exceeded (the program was killed)`;
    case 'output_limit':
      return overLimit === 'output'
        ? `output limit of ${formatBytes(limits.outputKillBytes)} exceeded (stdout and stderr together; the program was killed)`
        : 'the files in output/ went past the artifact limits (the run was stopped)';
    default:
      return null;
  }
}
