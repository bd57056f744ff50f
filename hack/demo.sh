#!/usr/bin/env bash
# `make demo`: a Ready KafkaCluster from nothing.
#   start: local control plane (unless KUBECONFIG is set), CRDs, operators in the
#          background (log: .cluster/operators.log), examples/kafka.yaml, wait for Ready.
#   stop:  stop the background operators.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PIDFILE=$CLUSTER_DIR/operators.pid

stop() {
  if [ -f "$PIDFILE" ]; then
    kill -TERM "$(cat "$PIDFILE")" 2>/dev/null && log "stopped operators (pid $(cat "$PIDFILE"))"
    rm -f "$PIDFILE"
  fi
}

start() {
  if [ -z "${KUBECONFIG:-}" ]; then
    eval "$("$HACK_DIR/cluster-up.sh")"
  else
    log "using the cluster in KUBECONFIG=$KUBECONFIG"
  fi
  export KUBECONFIG
  local kubectl=$KUBE_BIN/kubectl
  "$kubectl" apply --server-side -f "$ROOT_DIR/crds/" >&2
  "$kubectl" wait --for=condition=Established crd --all --timeout=60s >&2
  mkdir -p "$CLUSTER_DIR"
  stop
  local webhook=()
  [ -f "$CLUSTER_DIR/webhook/tls.crt" ] && webhook=(--webhook-cert-dir "$CLUSTER_DIR/webhook")
  # kwok runs no Kafka or Cassandra: the operators record Admin API and nodetool steps instead of running them.
  SMACK_KAFKA_ADMIN=${SMACK_KAFKA_ADMIN:-none} SMACK_CASSANDRA_PROBE=${SMACK_CASSANDRA_PROBE:-none} \
    "$ROOT_DIR/.venv/bin/python" -m operators run --metrics-port 9102 --liveness-port 8080 \
    --bind-address 127.0.0.1 "${webhook[@]}" > "$CLUSTER_DIR/operators.log" 2>&1 &
  echo $! > "$PIDFILE"
  log "operators running (pid $!, log .cluster/operators.log, metrics http://127.0.0.1:9102/metrics)"
  "$kubectl" apply -f "$ROOT_DIR/examples/kafka.yaml" >&2
  "$kubectl" wait kafkacluster/prod --for=condition=Ready --timeout=180s >&2
  "$kubectl" get kafkacluster prod
  echo "bootstrap: $("$kubectl" get kafkacluster prod -o jsonpath='{.status.bootstrapServers}')"
  "$kubectl" get serviceclaim prod
  "$kubectl" get statefulsets,pods,pvc -l kafka.smack.dev/cluster=prod -o wide
  echo "export KUBECONFIG=$KUBECONFIG   # then: kubectl get kafkacluster; make cluster-down to stop"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
