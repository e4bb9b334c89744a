#!/usr/bin/env bash
# Prepares this checkout for docker-compose.yml, once per host; running it again changes nothing that is there.
#  1. .env beside docker-compose.yml (compose reads it itself, so no variable needs exporting in any shell):
#     a new API key and the group of the engine's socket, written with mode 600 and never overwritten. The key
#     is printed once, on stdout, at the end; everything else goes to stderr.
#  2. The server image's base: node:20-bookworm-slim when the engine has it or can pull it, else a stand-in
#     built from Debian's packages and this machine's Node 20 (images/server/local-base.sh), recorded in .env
#     as RUNBOX_SERVER_BASE, so `docker-compose up --build` works with no registry reachable.
#  3. The sandbox image the server runs, under the tag the server computes (src/provision/image.ts), built
#     with images/python/build.sh when the engine lacks it.
# Each change to this host is announced before it is made. Step 1 needs only bash and coreutils; steps 2 and 3
# need the docker CLI, and building either image needs root (debootstrap), as `npm run provision` does.
set -euo pipefail

OFFICIAL_BASE=node:20-bookworm-slim
DEFAULT_SOCKET=/var/run/docker.sock
# How long a pull of the official base may take before the stand-in is built instead (an unreachable
# registry fails at once; this bounds one that hangs).
PULL_BOUND_S=120

say() { echo "[compose-init] $*" >&2; }
fail() {
  say "error: $*"
  exit 1
}

sha256_16() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -c1-16; }

# sandbox_image_tag DIR: runbox-python:<hash>, as src/provision/image.ts's sandboxImageTag computes it: each
# regular file directly in DIR (no symlinks, no directories such as __pycache__), in byte order of its name,
# as name NUL content NUL. test/unit/compose-init.test.ts holds the two to the same answer.
sandbox_image_tag() {
  local dir=$1
  echo "runbox-python:$(
    cd "$dir" && find . -mindepth 1 -maxdepth 1 -type f -print0 | LC_ALL=C sort -z |
      while IFS= read -r -d '' name; do
        name=${name#./}
        printf '%s\0' "$name"
        cat -- "$name"
        printf '\0'
      done | sha256_16
  )"
}

# The engine's socket on this host: DOCKER_HOST's when it names a unix socket, else the default. The server
# container is handed this socket, so an engine elsewhere (tcp://, ssh://) cannot serve it.
engine_socket() {
  case ${DOCKER_HOST:-} in
    '') echo "$DEFAULT_SOCKET" ;;
    unix://*) echo "${DOCKER_HOST#unix://}" ;;
    *) fail "DOCKER_HOST=$DOCKER_HOST is not a unix socket: docker-compose.yml gives the server the engine's socket, so the engine must run on this host" ;;
  esac
}

socket_gid() { stat -L -c %g "$1" 2>/dev/null || stat -L -f %g "$1"; }

new_key() {
  if command -v openssl >/dev/null; then
    openssl rand -hex 24
  else
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
    echo
  fi
}

# env_value NAME: NAME's value in .env (the last assignment, as compose reads it), or nothing.
env_value() { sed -n "s/^$1=//p" .env | tail -n 1; }

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

bounded() {
  local seconds=$1
  shift
  if command -v timeout >/dev/null; then timeout "$seconds" "$@"; else "$@"; fi
}

key=""
print_key() {
  [ -n "$key" ] || return 0
  echo "$key"
  echo "^ the API key (Authorization: Bearer <key>): kept in .env (mode 600) and not printed again"
}

write_env() {
  if [ -e .env ] || [ -L .env ]; then
    say ".env exists: its API key and settings are kept (the key is not printed again)"
    local name
    for name in RUNBOX_API_KEY RUNBOX_DOCKER_GID; do
      [ -n "$(env_value "$name")" ] || fail ".env has no $name: add it, or move .env away and run this again to write a new one"
    done
    case $(stat -L -c %a .env 2>/dev/null || stat -L -f %Lp .env) in
      600 | 400) ;;
      *) say "warning: .env holds the API key but others may read it: chmod 600 .env" ;;
    esac
    return
  fi
  local socket gid
  socket=$(engine_socket)
  [ -S "$socket" ] || fail "no Docker engine socket at $socket: start the engine (or set DOCKER_HOST) and retry"
  gid=$(socket_gid "$socket")
  say "writing .env (mode 600): a new API key, and $socket's group ($gid) for the server"
  key=$(new_key)
  [ ${#key} -ge 32 ] || fail "could not make a key (openssl rand or /dev/urandom)"
  # Created 600 from the start (umask), and only if it still does not exist (noclobber: O_EXCL).
  (
    umask 077
    set -o noclobber
    {
      echo "# Read by docker-compose (scripts/compose-init.sh wrote it). It holds the API key: keep it private."
      echo "RUNBOX_API_KEY=$key"
      echo "# The group of the engine's socket, $socket: the server runs as its own user, in this group."
      echo "RUNBOX_DOCKER_GID=$gid"
      if [ "$socket" != "$DEFAULT_SOCKET" ]; then
        echo "# The engine DOCKER_HOST named when this was written: compose's own, and the socket the server is given."
        echo "DOCKER_HOST=$DOCKER_HOST"
        echo "RUNBOX_DOCKER_SOCKET=$socket"
      fi
    } >.env
  ) || fail "could not write .env"
  # Run as root through sudo (building the images needs root), the file is still the invoking user's, so that
  # their docker-compose and `. ./.env` can read it.
  if [ "$(id -u)" = 0 ] && [ -n "${SUDO_UID:-}" ]; then chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" .env; fi
  # From here on the key is printed on the way out, whatever happens to the steps below.
  trap print_key EXIT
}

# record NAME VALUE: sets NAME in .env, keeping every other line; the file stays 600.
record() {
  local name=$1 value=$2 tmp
  [ "$(env_value "$name")" = "$value" ] && return
  say "recording $name=$value in .env"
  if grep -q "^$name=" .env; then
    # Rewritten in place, so its mode, owner (and a link's target) stay as they are.
    tmp=$(mktemp)
    sed "s|^$name=.*|$name=$value|" .env >"$tmp"
    cat "$tmp" >.env
    rm -f "$tmp"
  else
    # A last line without its newline would run into this one.
    [ -z "$(tail -c 1 .env)" ] || echo >>.env
    echo "$name=$value" >>.env
  fi
}

need_builder() {
  [ "$(id -u)" = 0 ] || fail "building $1 needs root (debootstrap): run this as root, or $2"
  command -v debootstrap >/dev/null && return
  [ -f /etc/debian_version ] || fail "building $1 needs debootstrap: install it and retry"
  # The same opt-out as npm start's provisioning: no host change, the command instead.
  case ${RUNBOX_PROVISION:-1} in
    0 | 1) ;;
    *) fail "RUNBOX_PROVISION=$RUNBOX_PROVISION: 1 (the default: change the host where needed, saying so first) or 0 (never)" ;;
  esac
  [ "${RUNBOX_PROVISION:-1}" != 0 ] ||
    fail "building $1 needs debootstrap, and RUNBOX_PROVISION=0 forbids changing this host. Run, as root: apt-get install -y --no-install-recommends debootstrap; then retry"
  say "changing this host: installing debootstrap with apt-get, to build $1 from Debian's packages (set RUNBOX_PROVISION=0 to be given the command instead)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends debootstrap >&2 || {
    apt-get update >&2 && apt-get install -y --no-install-recommends debootstrap >&2
  }
}

ensure_server_base() {
  if [ -n "${RUNBOX_SERVER_BASE:-}" ]; then
    say "server image base: RUNBOX_SERVER_BASE=$RUNBOX_SERVER_BASE from your environment (compose prefers it to .env)"
    return
  fi
  local recorded standin
  recorded=$(env_value RUNBOX_SERVER_BASE)
  if [ -n "$recorded" ]; then
    if image_present "$recorded"; then
      say "server image base: $recorded (.env), in the engine"
      return
    fi
    if [[ $recorded != runbox-node-base:* ]]; then
      say "server image base: $recorded (.env) is not in the engine: docker-compose will try to pull it"
      return
    fi
    say "server image base: $recorded (.env) is no longer in the engine"
  elif image_present "$OFFICIAL_BASE"; then
    say "server image base: $OFFICIAL_BASE, in the engine"
    return
  else
    say "server image base: pulling $OFFICIAL_BASE into the engine (for at most $PULL_BOUND_S s)"
    if bounded "$PULL_BOUND_S" docker pull "$OFFICIAL_BASE" >&2; then
      return
    fi
    say "server image base: $OFFICIAL_BASE cannot be pulled here, so a stand-in is used"
  fi
  standin=$(bash images/server/local-base.sh --name)
  if image_present "$standin"; then
    say "server image base: stand-in $standin, in the engine"
  else
    need_builder "the server image's base" "pull $OFFICIAL_BASE into the engine"
    say "building the stand-in $standin with images/server/local-base.sh: Debian bookworm from its packages plus this machine's Node $(node --version) (a few minutes)"
    bash images/server/local-base.sh "$standin" >&2
  fi
  record RUNBOX_SERVER_BASE "$standin"
}

ensure_sandbox_image() {
  local tag
  tag=$(sandbox_image_tag images/python)
  if image_present "$tag"; then
    say "sandbox image: $tag, in the engine"
    return
  fi
  need_builder "the sandbox image" "run npm run provision as root"
  say "building the sandbox image $tag with images/python/build.sh, from Debian's packages (about 3 minutes)"
  bash images/python/build.sh "$tag" >&2
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  command -v docker >/dev/null || fail "no docker CLI on PATH"
  write_env
  ensure_server_base
  ensure_sandbox_image
  say "ready: docker-compose up -d --build"
}

# Sourced (by the unit test, for sandbox_image_tag), it defines the functions and does nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
