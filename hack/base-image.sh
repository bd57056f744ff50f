#!/usr/bin/env bash
# Build the image's base locally, for machines that reach Debian's archive but no container registry:
# a minimal Debian bookworm root filesystem with Python 3.11 (debootstrap), imported into docker as
# $BASE_IMAGE (default smack-operators/python:3.11-bookworm). The build machine's CA bundle is copied in,
# so pip inside `docker build` trusts what the machine trusts (e.g. a TLS-inspecting proxy).
# Then: make image BASE_IMAGE=smack-operators/python:3.11-bookworm
# Needs root, debootstrap and a running docker daemon.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BASE_IMAGE=${BASE_IMAGE:-smack-operators/python:3.11-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

log "debootstrap bookworm (minbase, python3, python3-venv, ca-certificates) from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR" >&2
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc \
  "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
cp /etc/ssl/certs/ca-certificates.crt "$rootfs"/etc/ssl/certs/ca-certificates.crt
tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$BASE_IMAGE" >&2
log "built $BASE_IMAGE"
docker image ls "$BASE_IMAGE" >&2
