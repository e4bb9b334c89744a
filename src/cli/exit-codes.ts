/**
 * What `runbox run` exits with. The program's own exit status passes through; a run the service stopped
 * exits as `timeout(1)` and a killed process would; runbox's own failures use the BSD sysexits codes, each
 * kind its own, so scripts can tell them apart (a program that itself exits 64–78 is indistinguishable).
 */
export const EXIT = {
  /** The run passed its time limit, as timeout(1) reports it. */
  timeout: 124,
  /** runbox stopped the run for writing more output than it may. */
  outputLimit: 125,
  /** The kernel killed the run for memory: 128 + SIGKILL, as a shell reports it. */
  oom: 137,
  /** Unknown flag, bad flag value. */
  usage: 64,
  /** The server refused the request as invalid or too large (400, 413, 415). */
  dataError: 65,
  /** A file or folder given does not exist or cannot be read. */
  noInput: 66,
  /** The server cannot be reached, or cannot run it now (503). */
  unavailable: 69,
  /** The key's rate or runs for the day are used up (429): try again later. */
  tempFail: 75,
  /** The server failed (500), or answered something that is not runbox. */
  software: 70,
  /** Artifacts could not be written to the output folder. */
  cantCreate: 73,
  /** The API key was refused (401, 403). */
  noPermission: 77,
} as const;

/** A failure the CLI reports in one line and exits with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
