#!/usr/bin/env bash
# `make demo`: real Kafka from nothing, messages round-tripping through it.
#   start: the images Kafka and the client need (hack/images.sh build, cached by content), the local
#          control plane with its real nodes (unless KUBECONFIG is set), the CRDs, the operators as a
#          local process in the background (log: .cluster/operators.log), examples/real-nodes.yaml and
#          examples/kafka.yaml, a Ready KafkaCluster; then a client pod produces and consumes messages
#          through the bootstrap Service (hack/clients/kafka_roundtrip.py) and the round trip is printed.
#          Without real nodes (SMACK_REAL_NODES=0, or a host that cannot run them) the cluster runs on
#          kwok's simulated nodes and no message is sent.
#   stop:  stop the background operators.
# A progress line per stage, with its time. DEMO_MESSAGES sets the number of messages (default 1000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PIDFILE=$CLUSTER_DIR/operators.pid
KUBECTL=$KUBE_BIN/kubectl
MESSAGES=${DEMO_MESSAGES:-1000}
DEMO_IMAGES=(kafka-4.1.1 client)
T0=$(date +%s)

stage() { log "[demo +$(( $(date +%s) - T0 ))s] $*"; }

stop() {
  if [ -f "$PIDFILE" ]; then
    kill -TERM "$(cat "$PIDFILE")" 2>/dev/null && log "stopped operators (pid $(cat "$PIDFILE"))"
    rm -f "$PIDFILE"
  fi
}

real_nodes() { [ -n "$("$KUBECTL" get nodes -l type=real -o name 2>/dev/null)" ]; }

start() {
  local local_nodes=0
  if [ -z "${KUBECONFIG:-}" ] && [ "${SMACK_REAL_NODES:-auto}" != 0 ] && "$HACK_DIR/nodes-up.sh" --check >/dev/null 2>&1; then
    local_nodes=1
    stage "building the images (${DEMO_IMAGES[*]}; cached by content)"
    "$HACK_DIR/images.sh" build "${DEMO_IMAGES[@]}" >&2
  fi
  if [ -z "${KUBECONFIG:-}" ]; then
    stage "starting the local control plane and its nodes"
    eval "$("$HACK_DIR/cluster-up.sh")"
  else
    stage "using the cluster in KUBECONFIG=$KUBECONFIG"
  fi
  export KUBECONFIG
  local real=0 example=$ROOT_DIR/examples/kafka.yaml
  if real_nodes; then
    real=1
    if [ "$local_nodes" = 1 ]; then
      stage "loading the images into the real nodes"
      "$HACK_DIR/images.sh" load "${DEMO_IMAGES[@]}" >&2
    fi
  fi
  stage "installing the CRDs"
  "$KUBECTL" apply --server-side --force-conflicts -f "$ROOT_DIR/crds/" >/dev/null
  "$KUBECTL" wait --for=condition=Established crd --all --timeout=60s >/dev/null
  mkdir -p "$CLUSTER_DIR"
  stop
  local webhook=() admin=()
  [ -f "$CLUSTER_DIR/webhook/tls.crt" ] && webhook=(--webhook-cert-dir "$CLUSTER_DIR/webhook")
  # kwok runs no Kafka: there the operators record Admin API and nodetool steps instead of running them.
  [ "$real" = 1 ] || admin=(SMACK_KAFKA_ADMIN=none SMACK_CASSANDRA_PROBE=none)
  stage "starting the operators (log .cluster/operators.log, metrics http://127.0.0.1:9102/metrics)"
  env "${admin[@]}" "$ROOT_DIR/.venv/bin/python" -m operators run --metrics-port 9102 --liveness-port 8080 \
    --bind-address 127.0.0.1 "${webhook[@]}" > "$CLUSTER_DIR/operators.log" 2>&1 &
  echo $! > "$PIDFILE"
  if [ "$real" = 1 ]; then
    "$KUBECTL" apply -f "$ROOT_DIR/examples/real-nodes.yaml" >&2
  else
    log "no real nodes: examples/kafka.yaml goes to kwok's simulated nodes (no broker runs, no message is sent)"
    example=$CLUSTER_DIR/kafka-kwok.yaml
    sed -e '/nodePool: real/d' -e '/storageClassName: real-local/d' -e 's/, storageClassName: real-local//' \
      "$ROOT_DIR/examples/kafka.yaml" > "$example"
  fi
  stage "applying examples/kafka.yaml, waiting for KafkaCluster prod to be Ready"
  "$KUBECTL" apply -f "$example" >&2
  "$KUBECTL" wait kafkacluster/prod --for=condition=Ready --timeout=600s >&2
  stage "KafkaCluster prod is Ready"
  "$KUBECTL" get kafkacluster prod
  "$KUBECTL" get pods -l kafka.smack.dev/cluster=prod \
    -o custom-columns='POD:.metadata.name,NODE:.spec.nodeName,ZONE:.metadata.labels.topology\.kubernetes\.io/zone,IP:.status.podIP,READY:.status.containerStatuses[0].ready'
  local bootstrap
  bootstrap=$("$KUBECTL" get kafkacluster prod -o jsonpath='{.status.bootstrapServers}')
  echo "bootstrap: $bootstrap"
  [ "$real" = 1 ] && round_trip "$bootstrap"
  stage "done"
  echo "export KUBECONFIG=$KUBECONFIG   # then: kubectl get kafkacluster; make cluster-down to stop"
}

# round_trip BOOTSTRAP: a client pod on a real node produces $MESSAGES messages (acks=all) and reads them back.
round_trip() {
  stage "producing and consuming $MESSAGES messages through $1 from a client pod"
  "$KUBECTL" delete pod demo-client --ignore-not-found --wait=true >/dev/null
  "$KUBECTL" create configmap demo-client --from-file="$HACK_DIR/clients/kafka_roundtrip.py" \
    --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
  "$KUBECTL" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: demo-client}
spec:
  restartPolicy: Never
  nodeSelector: {type: real}
  tolerations: [{key: type, value: real, effect: NoSchedule}]
  volumes: [{name: program, configMap: {name: demo-client}}]
  containers:
  - name: client
    image: smack-client:dev
    imagePullPolicy: Never
    command: [python, /client/kafka_roundtrip.py, "$1", demo, "$MESSAGES"]
    resources: {requests: {cpu: 100m, memory: 128Mi}}
    volumeMounts: [{name: program, mountPath: /client}]
YAML
  "$KUBECTL" wait pod/demo-client --for=jsonpath='{.status.phase}'=Succeeded --timeout=300s >/dev/null || {
    "$KUBECTL" logs demo-client >&2 || true
    log "the client pod did not succeed"
    return 1
  }
  RESULT=$("$KUBECTL" logs demo-client | tail -1) "$ROOT_DIR/.venv/bin/python" - <<'PY'
import json, os
r = json.loads(os.environ["RESULT"])
print(f"round trip: {r['produced']} produced, {r['acked']} acknowledged (acks=all), {r['received']} consumed, "
      f"{r['lost']} lost, in {r['produce_s']} s + {r['consume_s']} s")
for p, (first, last) in r["offsets"].items():
    print(f"  partition {p}: offsets {first}..{last}")
lat = r["latency_ms"]
print(f"  acknowledgement latency p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms")
PY
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
