#!/usr/bin/env bash
# The e2e suites of `make test`, in two pytest sessions (two operator processes never watch the same
# namespaces at once):
#   1. the simulated suite, -m "not real": kwok's nodes, operators with SMACK_KAFKA_ADMIN=none and
#      SMACK_CASSANDRA_PROBE=none (no broker or Cassandra node runs there);
#   2. the real suite, -m real: the services on the real nodes, operators with the real clients
#      (kafka-python, nodetool); before it, the images it runs are built (cached by content) and loaded.
# The cluster is the one in KUBECONFIG, else the local control plane, started here (real nodes when the
# host can run them) and stopped at the end if this script started it (SMACK_KEEP_CLUSTER=1 keeps it).
# Each stage prints its time. Extra arguments go to both pytest sessions. Tests marked `full` (further
# proofs of a claim another test already proves) run only with SMACK_TEST_FULL=1 (make test-full).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"
PY=$ROOT_DIR/.venv/bin/python
KUBECTL=$KUBE_BIN/kubectl

stage() {  # stage NAME COMMAND...: run it, print its time, keep its exit status
  local name=$1 t0 rc=0
  shift
  t0=$(date +%s)
  log "== $name"
  "$@" || rc=$?
  log "== $name: $(( $(date +%s) - t0 ))s (exit $rc)"
  return $rc
}

started=0
if [ -z "${KUBECONFIG:-}" ]; then
  local_kc=$CLUSTER_DIR/kubeconfig
  if ! { [ -f "$local_kc" ] && "$KUBECTL" --kubeconfig "$local_kc" get --raw /readyz >/dev/null 2>&1; }; then
    started=1
  fi
  t0=$(date +%s)
  eval "$("$HACK_DIR/cluster-up.sh")"
  log "== cluster up: $(( $(date +%s) - t0 ))s"
  [ "$started" = 0 ] || [ "${SMACK_KEEP_CLUSTER:-}" = 1 ] || trap '"$HACK_DIR/cluster-down.sh"' EXIT
fi
export KUBECONFIG

sim="not real" real="real"
if [ "${SMACK_TEST_FULL:-}" != 1 ]; then
  sim="not real and not full" real="real and not full"
fi
rc=0
stage "simulated e2e (pytest -m '$sim')" "$PY" -m pytest "$ROOT_DIR/tests/e2e" -q -m "$sim" "$@" || rc=$?
if [ -n "$("$KUBECTL" get nodes -l type=real -o name 2>/dev/null)" ]; then
  if [ -d /run/smack ]; then
    images=$("$PY" -c 'from tests.e2e.conftest import REAL_IMAGES; print(" ".join(REAL_IMAGES))')
    # shellcheck disable=SC2086 # one word per image name
    stage "images build" "$HACK_DIR/images.sh" build $images
    # shellcheck disable=SC2086
    stage "images load" "$HACK_DIR/images.sh" load $images
  fi
  stage "real e2e (pytest -m '$real')" "$PY" -m pytest "$ROOT_DIR/tests/e2e" -q -m "$real" "$@" || rc=$?
else
  log "no real nodes (type=real): the real suite is skipped; hack/cluster-up.sh said why"
fi
exit $rc
