/** The POST /v1/runs response body: the run result in the API's snake_case. */
import type { RunResult } from '../sandbox/runner';

export function runResponse(result: RunResult) {
  return {
    id: result.id,
    status: result.status,
    exit_code: result.exitCode,
    stdout: result.stdout.content,
    stdout_encoding: result.stdout.encoding,
    stderr: result.stderr.content,
    stderr_encoding: result.stderr.encoding,
    stdout_truncated: result.stdoutTruncated,
    stderr_truncated: result.stderrTruncated,
    timed_out: result.timedOut,
    oom_killed: result.oomKilled,
    duration_ms: result.durationMs,
    queued_ms: result.queuedMs,
    artifacts: result.artifacts,
    artifacts_truncated: result.artifactsTruncated,
    usage: result.usage && { cpu_ms: result.usage.cpuMs, max_rss_kb: result.usage.maxRssKb },
  };
}
