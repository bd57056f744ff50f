#!/usr/bin/env bash
# Build the real nodes' binaries through the Go module proxy: kubelet and kube-proxy of
# $KUBE_VERSION (static, CGO_ENABLED=0: a cgo kubelet rebuilds its whole dependency tree,
# 13 min instead of 2) and CoreDNS $COREDNS_VERSION as a wrapper main that links only the
# plugins our Corefile uses. Each set is cached by version ($NODE_BIN, $COREDNS_BIN) and
# skipped when its binaries answer with the pinned version. Recipe: ../shared/anchors/real-pods.md §2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/k8s-module.sh"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# No `direct` fallback: a module the proxy lacks would mean a VCS fetch and DNS lookups elsewhere.
export GOPROXY=${GOPROXY:-https://proxy.golang.org}
go version >/dev/null || { log "go is required"; exit 1; }

# Version checks read all of the output (grep -c, not -q): see build-binaries.sh.
build_node_kubernetes() {
  local k=$KUBE_VERSION p=k8s.io/kubernetes/cmd
  if "$NODE_BIN/kubelet" --version 2>/dev/null | grep -cx "Kubernetes $k" >/dev/null &&
     "$NODE_BIN/kube-proxy" --version 2>/dev/null | grep -cx "Kubernetes $k" >/dev/null; then
    log "kubelet, kube-proxy $k: cached in $NODE_BIN"; return
  fi
  local w=$SMACK_CACHE/build/kubernetes-node-$k
  rm -rf "$w"; mkdir -p "$w"; cd "$w"
  k8s_wrapper_module
  log "kubelet, kube-proxy $k: resolving modules"
  go get "$p/kubelet@$k" "$p/kube-proxy@$k"
  log "kubelet, kube-proxy $k: compiling (minutes after the control plane, whose packages they share)"
  mkdir -p bin
  go build -trimpath -tags selinux,notest -ldflags "$(k8s_ldflags)" -o bin/ "$p/kubelet" "$p/kube-proxy"
  bin/kubelet --version
  mkdir -p "$(dirname "$NODE_BIN")"; rm -rf "$NODE_BIN"; mv bin "$NODE_BIN"
  cd /; rm -rf "$w"
}

# The plugins of the Corefile nodes-up.sh writes; an unlinked plugin is simply absent.
COREDNS_PLUGINS="bind cache errors health kubernetes log ready"

build_coredns() {
  local v=$COREDNS_VERSION
  if "$COREDNS_BIN/coredns" -version 2>/dev/null | grep -cx "CoreDNS-${v#v}" >/dev/null; then
    log "coredns $v: cached in $COREDNS_BIN"; return
  fi
  local w=$SMACK_CACHE/build/coredns-$v pl pkgs=""
  rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init local/corednsbuild >/dev/null 2>&1
  { echo 'package main'; echo; echo 'import ('; echo '	"github.com/coredns/coredns/coremain"'
    for pl in $COREDNS_PLUGINS; do echo "	_ \"github.com/coredns/coredns/plugin/$pl\""; done
    echo ')'; echo; echo 'func main() { coremain.Run() }'; } > main.go
  for pl in $COREDNS_PLUGINS; do pkgs="$pkgs github.com/coredns/coredns/plugin/$pl@$v"; done
  # The control plane's k8s.io modules (MVS keeps the higher of theirs and CoreDNS's):
  # their compiled packages are already in the Go build cache.
  local s=v0.${KUBE_VERSION#v1.}
  log "coredns $v: resolving modules"
  # shellcheck disable=SC2086
  go get "github.com/coredns/coredns/coremain@$v" $pkgs "k8s.io/api@$s" "k8s.io/apimachinery@$s" "k8s.io/client-go@$s"
  log "coredns $v: compiling"
  mkdir -p bin
  go build -trimpath -ldflags "-s -w" -o bin/coredns .
  bin/coredns -version
  mkdir -p "$(dirname "$COREDNS_BIN")"; rm -rf "$COREDNS_BIN"; mv bin "$COREDNS_BIN"
  cd /; rm -rf "$w"
}

start=$(date +%s)
build_coredns
build_node_kubernetes
log "node binaries ready in $(( $(date +%s) - start ))s under $SMACK_CACHE"
