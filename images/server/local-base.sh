#!/usr/bin/env bash
# Builds a stand-in for node:20-bookworm-slim offline, as $1: Debian bookworm from Debian's packages
# (debootstrap, as the sandbox image's base is built) plus this machine's Node 20 (node, npm and the headers
# native modules build against), where they are in the official image (/usr/local). Machines that reach no
# image registry pass it as BASE to images/server/Dockerfile; the Dockerfile itself is the same either way.
# It trusts what this machine trusts (its local CA certificates, e.g. an egress proxy's), so that npm and apt
# reach their registries from the build the way they do from here.
#
# Usage: local-base.sh [IMAGE:TAG]   builds it, as TAG or by default under its name (below)
#        local-base.sh --name        prints its name: runbox-node-base:<hash of this script and the Node version>,
#                                    so a machine builds it once and rebuilds it when either changes
#                                    (scripts/compose-init.sh and test/deploy/compose.test.ts both ask here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node=$(command -v node) || { echo "local-base.sh: no node on PATH: the stand-in copies this machine's Node 20" >&2; exit 1; }
node=$(readlink -f "$node")
name="runbox-node-base:$({ cat "$here/local-base.sh"; printf '%s' "$("$node" --version)"; } | sha256sum | cut -c1-16)"
if [[ ${1:-} == --name ]]; then
  echo "$name"
  exit 0
fi
tag=${1:-$name}
npm_cli=$(readlink -f "$(command -v npm)")
npm_dir=$(dirname "$(dirname "$npm_cli")")
headers=$(dirname "$(dirname "$node")")/include/node
[ -f "$headers/node.h" ] || { echo "no Node headers at $headers" >&2; exit 1; }
mirror=$(bash "$here/../python/debian-mirror.sh")
rootfs=$(mktemp -d /tmp/runbox-node-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "[server-base] debootstrap bookworm from $mirror, with Node $("$node" --version) from this machine"
debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
install -D -m 0755 "$node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
cp -a "$headers" "$rootfs/usr/local/include/node"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' - "$tag" >/dev/null
echo "[server-base] done: $tag"
