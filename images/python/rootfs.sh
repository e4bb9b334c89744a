#!/usr/bin/env bash
# Builds the sandbox's base root filesystem from Debian packages (no registry needed) and imports it as $1.
# Only packages.txt and this file decide its content, so launcher changes never repeat this slow step.
set -euo pipefail
tag=${1:?usage: rootfs.sh IMAGE:TAG}
here=$(cd "$(dirname "$0")" && pwd)
# The host's own apt mirror (or RUNBOX_DEBIAN_MIRROR); any Debian mirror gives the same packages.
mirror=$(bash "$here/debian-mirror.sh")
rootfs=$(mktemp -d /tmp/runbox-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

packages=$(grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$' | paste -sd, -)
echo "[image] debootstrap bookworm from $mirror with: $packages"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror"

echo "[image] adding the sandbox user and matplotlib's font cache"
echo 'runbox:x:10001:10001:runbox sandbox:/home/runbox:/usr/sbin/nologin' >>"$rootfs/etc/passwd"
# Each run slot runs under its own uid (10001 + slot, up to MAX_RUN_SLOTS in src/config.ts), all in group 10001;
# they get passwd entries so that getpwuid() and the libraries that call it work.
for slot in $(seq 1 999); do
  echo "runbox$slot:x:$((10001 + slot)):10001:runbox sandbox:/home/runbox:/usr/sbin/nologin"
done >>"$rootfs/etc/passwd"
echo 'runbox:x:10001:' >>"$rootfs/etc/group"
# The installer: the only user that writes dependency sets (src/sandbox/dependency-sets.ts). Never a run's uid.
echo 'runbox-install:x:10000:10000:runbox set installer:/home/runbox:/usr/sbin/nologin' >>"$rootfs/etc/passwd"
echo 'runbox-install:x:10000:' >>"$rootfs/etc/group"
# HOME exists but stays read-only like the rest of the root filesystem.
install -d -m 0755 "$rootfs/home/runbox" "$rootfs/workspace" "$rootfs/opt/runbox/mplcache"
# Building matplotlib's font list takes seconds; do it once here, the launcher copies it per run.
chroot "$rootfs" env MPLCONFIGDIR=/opt/runbox/mplcache MPLBACKEND=Agg python3 -c 'import matplotlib.pyplot'
# Where the dependency set volume is mounted: a new volume copies this folder's owner and mode, so only the
# installer writes it, and a run (mounting it read-only) may enter a set folder whose name it was given but
# not list the others.
install -d -m 0711 -o 10000 -g 10000 "$rootfs/opt/deps"
# What a run can import without installing anything: every Python distribution in the image, with its version.
chroot "$rootfs" python3 -I -c 'import importlib.metadata as m, json; print(json.dumps(sorted({d.metadata["Name"]: d.version for d in m.distributions() if d.metadata["Name"]}.items())))' \
  >"$rootfs/opt/runbox/distributions.json"
chmod -R a+rX "$rootfs/opt/runbox"
# Nothing in the sandbox may gain privileges through a setuid or setgid binary.
find "$rootfs" -xdev -perm /6000 -type f -exec chmod ug-s {} +
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

echo "[image] importing the base as $tag"
tar -C "$rootfs" -c . | docker import - "$tag"
