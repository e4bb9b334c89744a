#!/usr/bin/env bash
# Builds the sandbox image as $1: the Debian base (rebuilt only when packages.txt or rootfs.sh change),
# then the launcher layer on top. No registry is contacted: FROM names the local base image.
set -euo pipefail
tag=${1:?usage: build.sh IMAGE:TAG}
here=$(cd "$(dirname "$0")" && pwd)
base="runbox-python-base:$(cat "$here/packages.txt" "$here/rootfs.sh" | sha256sum | cut -c1-16)"

if docker image inspect "$base" >/dev/null 2>&1; then
  echo "[image] base $base present"
else
  bash "$here/rootfs.sh" "$base"
fi
echo "[image] building $tag on $base"
# The image's Python distributions, as a label: the server reads them with one image inspect (GET /v1/packages).
distributions=$(docker run --rm --network none --entrypoint cat "$base" /opt/runbox/distributions.json)
# The classic builder needs no buildx plugin and resolves FROM against local images only.
DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base" --label "runbox.distributions=$distributions" -t "$tag" "$here"
echo "[image] done: $tag"
