#!/usr/bin/env bash
# `npm test`: the lint and type checks, then every test tier of jest.config.js: unit, engine, deploy, runsc.
# Each step runs to its end even when an earlier one failed, so one run reports on everything; the exit
# code is non-zero when any step failed. A summary with each step's time closes the output.
#
# What the engine tiers need (a Docker engine, gVisor, the sandbox image, the tiers' host packages) takes
# minutes to set up on a fresh machine, mostly waiting on the network and the disk, and lint, the type checks
# and the unit tier need none of it: it is set up in the background meanwhile (`dist/` is there: `npm ci`
# built it), and the engine tiers' global setup (test/global-setup.ts) then finds it in place, or makes what
# is still missing. A Docker engine started for this run stays up from one tier to the next, and is stopped
# here after the last, as a single tier's teardown would stop it.
set -uo pipefail
cd "$(dirname "$0")/.."

export RUNBOX_TEST_TIERS=1
STARTED_DOCKERD_FILE=/tmp/runbox-test-dockerd.pid # test/global-setup.ts
rm -f "$STARTED_DOCKERD_FILE"

# Said first, as its log is shown only after the unit tier: what this may change on the host, and how to refuse.
printf '==> npm test sets up what the engine tiers need where it is missing, changing this host to do so: Debian packages\n'
printf '    (docker.io, debootstrap, runsc, chromium, nginx, docker-compose), a dockerd it starts and stops, runsc registered in\n'
printf '    /etc/docker/daemon.json. Each change is announced as it is made; RUNBOX_PROVISION=0 refuses them, naming the commands.\n'

provision_log=$(mktemp /tmp/runbox-provision-XXXXXX.log)
(
  began=$SECONDS
  RUNBOX_RUNTIME=runsc node -e '
  const { writeFileSync } = require("node:fs");
  const { provision } = require("./dist/provision/cli");
  const { ensureHostPackage } = require("./dist/provision/host");
  const log = (line) => console.log(`[provision] ${line}`);
  (async () => {
    const { startedDockerdPid } = await provision(log);
    if (startedDockerdPid !== undefined) writeFileSync(process.argv[1], String(startedDockerdPid));
    for (const pkg of ["chromium", "nginx", "docker-compose"]) await ensureHostPackage(pkg, pkg, log);
  })().catch((err) => {
    console.error(`[provision] ${err.message}`);
    process.exit(1);
  });
' "$STARTED_DOCKERD_FILE" >"$provision_log" 2>&1
  rc=$?
  echo "$((SECONDS - began))" >"$provision_log.took"
  exit "$rc"
) &
provisioning=$!

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

printf '\n==> provisioning (in the background since the start)\n'
wait "$provisioning"
provision_rc=$?
cat "$provision_log"
# Its time overlapped the steps above; a failure here shows again in the engine tiers' own setup.
verdict="ok (in the background)"
[ "$provision_rc" -eq 0 ] || verdict="FAILED (exit $provision_rc)"
summary+=("$(printf '%-10s %5d s  %s' provision "$(cat "$provision_log.took" 2>/dev/null || echo 0)" "$verdict")")
rm -f "$provision_log" "$provision_log.took"

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
