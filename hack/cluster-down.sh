#!/usr/bin/env bash
# Stop the real nodes (hack/nodes-down.sh: the host as it was), then the local control plane,
# and delete its state (.cluster/) and its volumes. Binaries stay cached.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export KWOK_WORKDIR=$CLUSTER_DIR/kwok
"$HACK_DIR/nodes-down.sh" --volumes
if [ -x "$KWOK_BIN/kwokctl" ] && [ -d "$KWOK_WORKDIR" ]; then
  "$KWOK_BIN/kwokctl" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$CLUSTER_DIR/kubeconfig" >&2 || true
fi
rm -rf "$CLUSTER_DIR"
log "cluster $CLUSTER_NAME deleted"
