#!/usr/bin/env bash
# `npm test`: the lint and type checks, then every test tier of jest.config.js: unit, engine, deploy, runsc.
# Each step runs to its end even when an earlier one failed, so one run reports on everything; the exit
# code is non-zero when any step failed. A summary with each step's time closes the output.
#
# The engine tiers' global setup starts a Docker engine when none answers (test/global-setup.ts). Under this
# script it stays up from one tier to the next, and is stopped here after the last, as a single tier's
# teardown would stop it.
set -uo pipefail
cd "$(dirname "$0")/.."

export RUNBOX_TEST_TIERS=1
STARTED_DOCKERD_FILE=/tmp/runbox-test-dockerd.pid # test/global-setup.ts
rm -f "$STARTED_DOCKERD_FILE"

summary=()
failed=0
step() {
  local name=$1
  shift
  local began=$SECONDS
  printf '\n==> %s: %s\n' "$name" "$*"
  "$@"
  local rc=$?
  local verdict=ok
  if [ "$rc" -ne 0 ]; then
    verdict="FAILED (exit $rc)"
    failed=1
  fi
  summary+=("$(printf '%-10s %5d s  %s' "$name" $((SECONDS - began)) "$verdict")")
}

step lint npm run lint
# dist/ is what the engine suites run as a separate process (the server, the CLI).
step build tsc -p tsconfig.build.json
step typecheck tsc --noEmit -p tsconfig.json
step unit npm run test:unit
step engine npm run test:engine
step deploy npm run test:deploy
step runsc npm run test:runsc

if [ -s "$STARTED_DOCKERD_FILE" ]; then
  pid=$(cat "$STARTED_DOCKERD_FILE")
  # dockerd stops its containerd and exits; waited for, so the next run does not find a half-stopped engine.
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
fi
rm -f "$STARTED_DOCKERD_FILE"

printf '\n==> npm test, %d s in all\n' "$SECONDS"
printf '%s\n' "${summary[@]}"
exit "$failed"
