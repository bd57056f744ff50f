#!/usr/bin/env bash
# Build helm (pinned by HELM_VERSION in versions.env) through the Go module proxy
# into $SMACK_CACHE/helm-$HELM_VERSION/bin, like hack/build-binaries.sh does for
# the control plane. Skipped when the cached helm answers with the pinned version.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
go version >/dev/null || { log "go is required"; exit 1; }

if [ -x "$HELM_BIN/helm" ] && [ "$("$HELM_BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
  log "helm $HELM_VERSION: cached in $HELM_BIN"; exit 0
fi
start=$(date +%s)
tmp=$SMACK_CACHE/build/helm-$HELM_VERSION
rm -rf "$tmp"; mkdir -p "$tmp"
log "helm $HELM_VERSION: go install (cold: a few minutes on 2 cores)"
GOBIN=$tmp go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$tmp/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION"
mkdir -p "$HELM_BIN"; mv "$tmp/helm" "$HELM_BIN/helm"; rm -rf "$tmp"
log "helm $HELM_VERSION ready in $(( $(date +%s) - start ))s: $HELM_BIN/helm"
