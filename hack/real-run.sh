#!/usr/bin/env bash
# The real suite (pytest -m real) against an already running cluster with real nodes: KUBECONFIG, else
# SMACK_SHARED_CLUSTER (default /work/main/.cluster/kubeconfig). Builds (cached by content) and loads the images
# of REAL_IMAGES first. Arguments go to pytest. Hold /tmp/smack-real.lock around it when the cluster is shared.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"
export KUBECONFIG=${KUBECONFIG:-${SMACK_SHARED_CLUSTER:-/work/main/.cluster/kubeconfig}}
PY=$ROOT_DIR/.venv/bin/python
images=$("$PY" -c 'from tests.e2e.conftest import REAL_IMAGES; print(" ".join(REAL_IMAGES))')
# shellcheck disable=SC2086 # one word per image name
"$HACK_DIR/images.sh" build $images >&2
# shellcheck disable=SC2086
"$HACK_DIR/images.sh" load $images >&2
exec "$PY" -m pytest "$ROOT_DIR/tests/e2e" -q -m real "$@"
