#!/usr/bin/env bash
# Build the local control plane's binaries with Go, through the Go module proxy:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl of one
# Kubernetes release; etcd and etcdctl; kwok and kwokctl. Each set is cached by
# version under $SMACK_CACHE and skipped when its binaries already answer with
# the pinned version. Recipe: ../shared/anchors/test-substrate.md §1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/k8s-module.sh"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
go version >/dev/null || { log "go is required"; exit 1; }

build_kubernetes() {
  local k=$KUBE_VERSION
  if [ -x "$KUBE_BIN/kubectl" ] && "$KUBE_BIN/kube-apiserver" --version 2>/dev/null | grep -cx "Kubernetes $k" >/dev/null; then
    log "kubernetes $k: cached in $KUBE_BIN"; return
  fi
  local w=$SMACK_CACHE/build/kubernetes-$k
  rm -rf "$w"; mkdir -p "$w"; cd "$w"
  k8s_wrapper_module
  local p=k8s.io/kubernetes/cmd
  log "kubernetes $k: resolving modules"
  # go get, not go mod tidy: tidy would pull every test dependency too.
  go get "$p/kube-apiserver@$k" "$p/kube-controller-manager@$k" "$p/kube-scheduler@$k" "$p/kubectl@$k"
  local ldf; ldf=$(k8s_ldflags)
  log "kubernetes $k: compiling (cold: tens of minutes on 2 cores)"
  mkdir -p "$w/bin"
  go build -trimpath -tags selinux,notest -ldflags "$ldf" -o "$w/bin/" \
    "$p/kube-apiserver" "$p/kube-controller-manager" "$p/kube-scheduler" "$p/kubectl"
  "$w/bin/kube-apiserver" --version
  mkdir -p "$(dirname "$KUBE_BIN")"; rm -rf "$KUBE_BIN"; mv "$w/bin" "$KUBE_BIN"
  cd /; rm -rf "$w"
}

# The version checks read all of the output (grep -c, not -q): grep -q exits at the first match,
# the binary then dies of SIGPIPE, and with pipefail a cached binary looked missing.
build_etcd() {
  if [ -x "$ETCD_BIN/etcd" ] && "$ETCD_BIN/etcd" --version 2>/dev/null | grep -c "etcd Version: ${ETCD_VERSION#v}" >/dev/null; then
    log "etcd $ETCD_VERSION: cached in $ETCD_BIN"; return
  fi
  local w=$SMACK_CACHE/build/etcd-$ETCD_VERSION
  rm -rf "$w"; mkdir -p "$w"; cd "$w"
  go mod init local/etcdbuild >/dev/null 2>&1
  # server/v3 is package main, but its go.mod has replace lines, so no go install.
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION"
  mkdir -p bin
  go build -trimpath -ldflags "-s -w" -o bin/etcd go.etcd.io/etcd/server/v3
  go build -trimpath -ldflags "-s -w" -o bin/etcdctl go.etcd.io/etcd/etcdctl/v3
  bin/etcd --version
  mkdir -p "$(dirname "$ETCD_BIN")"; rm -rf "$ETCD_BIN"; mv bin "$ETCD_BIN"
  cd /; rm -rf "$w"
}

build_kwok() {
  if [ -x "$KWOK_BIN/kwokctl" ] && [ -x "$KWOK_BIN/kwok" ]; then
    log "kwok $KWOK_VERSION: cached in $KWOK_BIN"; return
  fi
  mkdir -p "$KWOK_BIN"
  GOBIN=$KWOK_BIN go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

start=$(date +%s)
build_etcd
build_kwok
build_kubernetes
log "binaries ready in $(( $(date +%s) - start ))s under $SMACK_CACHE"
