#!/usr/bin/env bash
# Builds the sandbox image from Debian packages (no registry is needed) and imports it as $1.
# Usage: build.sh runbox-python:<tag>
set -euo pipefail
tag=${1:?usage: build.sh IMAGE:TAG}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${RUNBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d /tmp/runbox-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

packages=$(grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$' | paste -sd, -)
echo "[image] debootstrap bookworm with: $packages"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror"

echo "[image] adding the sandbox user, launcher and matplotlib font cache"
echo 'runbox:x:10001:10001:runbox sandbox:/home/runbox:/usr/sbin/nologin' >>"$rootfs/etc/passwd"
echo 'runbox:x:10001:' >>"$rootfs/etc/group"
# HOME exists but stays read-only like the rest of the root filesystem.
install -d -m 0755 "$rootfs/home/runbox" "$rootfs/workspace" "$rootfs/opt/runbox/mplcache"
install -m 0644 "$here/launcher.py" "$rootfs/opt/runbox/launcher.py"
# Building matplotlib's font list takes seconds; do it once here, the launcher copies it per run.
chroot "$rootfs" env MPLCONFIGDIR=/opt/runbox/mplcache MPLBACKEND=Agg python3 -c 'import matplotlib.pyplot'
chmod -R a+rX "$rootfs/opt/runbox"
# Nothing in the sandbox may gain privileges through a setuid binary.
find "$rootfs" -xdev -perm /6000 -type f -exec chmod ug-s {} +
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

echo "[image] importing as $tag"
tar -C "$rootfs" -c . | docker import \
  --change 'USER 10001:10001' \
  --change 'WORKDIR /workspace' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/runbox LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg MPLCONFIGDIR=/tmp/matplotlib XDG_CACHE_HOME=/tmp/.cache' \
  --change 'ENTRYPOINT ["python3", "-I", "-S", "/opt/runbox/launcher.py"]' \
  --change "LABEL runbox.image=python" \
  - "$tag"
echo "[image] done: $tag"
