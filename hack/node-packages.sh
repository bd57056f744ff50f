#!/usr/bin/env bash
# Install the Debian packages the real nodes and the image builds need on this host, only those missing:
# containerd and runc (one containerd per node), the CNI plugins (bridge, host-local,
# portmap in /usr/lib/cni), iptables and conntrack (kube-proxy), nftables (nodes-down.sh drops
# the tables iptables-nft created), iproute2 (bridges),
# openssl (node certificates); debootstrap, umoci and skopeo (hack/images.py builds the images). `apt-get update` runs once, and only when something is missing.
# Debian's policy-rc.d keeps the packages from starting services; nodes-up.sh starts
# its own containerds. Exits non-zero with the reason when installing is impossible.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# package → a file that proves it is installed
declare -A probe=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [nftables]=/usr/sbin/nft
  [conntrack]=/usr/sbin/conntrack
  [iproute2]=/usr/sbin/ip
  [openssl]=/usr/bin/openssl
  [debootstrap]=/usr/sbin/debootstrap
  [umoci]=/usr/bin/umoci
  [skopeo]=/usr/bin/skopeo
)
missing=()
for p in "${!probe[@]}"; do [ -e "${probe[$p]}" ] || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { log "node packages: installed"; exit 0; }

command -v apt-get >/dev/null || { log "node packages missing (${missing[*]}) and no apt-get to install them"; exit 1; }
[ "$(id -u)" = 0 ] || { log "node packages missing (${missing[*]}); installing them needs root"; exit 1; }
log "node packages: installing ${missing[*]}"
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
log "node packages: installed ${missing[*]}"
