#!/usr/bin/env bash
# The real suite (pytest -m real) alone, against an already running cluster with real nodes: KUBECONFIG, else
# this clone's local control plane (make cluster-up). Builds (cached by content) and loads the images of
# REAL_IMAGES first. Arguments go to pytest (e.g. -k). When several clones share one such cluster, hold a lock
# around it (flock FILE hack/real-run.sh ...): two real sessions never run at once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"
export KUBECONFIG=${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}
PY=$ROOT_DIR/.venv/bin/python
images=$("$PY" -c 'from tests.e2e.conftest import REAL_IMAGES; print(" ".join(REAL_IMAGES))')
# shellcheck disable=SC2086 # one word per image name
"$HACK_DIR/images.sh" build $images >&2
# shellcheck disable=SC2086
"$HACK_DIR/images.sh" load $images >&2
exec "$PY" -m pytest "$ROOT_DIR/tests/e2e" -q -m real "$@"
