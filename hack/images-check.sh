#!/usr/bin/env bash
# Run each built image once on a private containerd (its own socket, root and state, stopped and removed at the
# end) and show that its main binary works:
#   pause, base        the binary runs (pause) / the tools answer (base)
#   kafka-*            a single KRaft node (the image's default command); 1,000 messages produced and consumed
#   cassandra-*        a node reaches "Starting listening for CQL clients"; nodetool status shows it UN; then a
#                      node started as the operator's pod starts it (its rendered files, start.sh) does the same
#   spark-*            SparkPi on local[2] through /opt/entrypoint.sh prints "Pi is roughly"
#   operators, client  the Python entry points import and answer
# Containers get their own network namespace (loopback only), so nothing listens outside them. Their output is
# kept in $SMACK_CACHE/images/check-logs/.
#   hack/images-check.sh [NAME...]      (default: every image that is built)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=/run/smack-images-check
data=$SMACK_CACHE/images/check
sock=$dir/containerd.sock
images=$SMACK_CACHE/images
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <(cd "$images" && ls ./*.json | sed 's|^\./||; s|\.json$||')
fi

mkdir -p "$dir" "$data"
cat > "$dir/config.toml" <<TOML
version = 2
root = "$data/root"
state = "$dir/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$data/opt"
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
TOML
containerd --config "$dir/config.toml" > "$data/containerd.log" 2>&1 &
cpid=$!
ctr() { command ctr -a "$sock" -n k8s.io "$@"; }
cleanup() {
  for c in $(ctr containers ls -q 2>/dev/null); do
    ctr tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    ctr tasks rm -f "$c" >/dev/null 2>&1 || true
    ctr containers rm "$c" >/dev/null 2>&1 || true
  done
  kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
  # The containers' output stays for reading; the rest goes.
  mkdir -p "$images/check-logs" && cp "$data"/*.log "$images/check-logs/" 2>/dev/null || true
  rm -rf "$dir" "$data"
}
trap cleanup EXIT
until ctr version >/dev/null 2>&1; do
  kill -0 "$cpid" || { cat "$data/containerd.log" >&2; exit 1; }
  sleep 0.2
done

# Containers share the host's name (ctr sets no other), which Java resolves at start: the kubelet's /etc/hosts
# would name it, here this file does.
printf '127.0.0.1 localhost %s\n::1 localhost ip6-localhost\n' "$(hostname)" > "$data/hosts"
ref() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ref"])' "$images/$1.json"; }
# wait_log NAME PATTERN SECONDS: until the container's output shows PATTERN (or it exits, or time runs out).
wait_log() {
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$data/$1.log" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! ctr tasks ls | grep -q "^$1 .*RUNNING"; then
      echo "--- $1: no '$2' after $3 s; last output:" >&2
      tail -30 "$data/$1.log" >&2
      return 1
    fi
    sleep 1
  done
}
# start NAME IMAGE [ENV=VALUE...] [-- ARGS...]: a detached container, its output in $data/NAME.log; $MOUNT, when
# set, is one more ctr --mount.
start() {
  local name=$1 image=$2 env=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do env+=(--env "$1"); shift; done
  [ $# -gt 0 ] && shift
  rm -f "$data/$name.log"  # a previous image's container of the same name
  ctr run -d --log-uri "file://$data/$name.log" --mount "type=bind,src=$data/hosts,dst=/etc/hosts,options=rbind:ro" \
    ${MOUNT:+--mount "$MOUNT"} "${env[@]}" "$image" "$name" "$@" >/dev/null
}
stop() {
  ctr tasks kill -s SIGTERM "$1" >/dev/null 2>&1 || true
  local deadline=$((SECONDS + 60))
  while ctr tasks ls | grep -q "^$1 .*RUNNING" && [ $SECONDS -lt $deadline ]; do sleep 1; done
  ctr tasks rm -f "$1" >/dev/null 2>&1 || true
  ctr containers rm "$1" >/dev/null
}
ex() { local c=$1; shift; ctr tasks exec --exec-id "x$RANDOM" "$c" "$@"; }

check_pause() {
  start pause "$1"
  ctr tasks ls | grep -q '^pause .*RUNNING'
  echo "pause: running as $(ps -o user=,args= -C pause | head -1)"
  stop pause
}
check_base() {
  ctr run --rm "$1" base bash -c 'echo "$(bash --version | head -1)"; ip -br addr show lo; nc -h 2>&1 | head -1; dig -v 2>&1; ps --version'
}
check_kafka() {
  local c=kafka
  start $c "$1"
  wait_log $c "Kafka Server started" 240
  ex $c /opt/kafka/bin/kafka-topics.sh --version
  ex $c /opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --topic check \
    --partitions 3 --replication-factor 1 >/dev/null
  ex $c bash -c 'seq 1 1000 | kafka-console-producer.sh --bootstrap-server localhost:9092 --topic check \
    --producer-property acks=all'
  got=$(ex $c kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic check --from-beginning \
    --max-messages 1000 --timeout-ms 60000 | grep -E '^[0-9]+$' | sort -u | wc -l)
  echo "kafka: produced 1000, consumed $got distinct"
  [ "$got" = 1000 ]
  stop $c
}
check_cassandra() {
  local c=cassandra t0=$SECONDS
  start $c "$1" MAX_HEAP_SIZE=1G HEAP_NEWSIZE=256M
  wait_log $c "Starting listening for CQL clients" 420
  echo "cassandra: listening for CQL clients $((SECONDS - t0)) s after start"
  ex $c nodetool version
  ex $c nodetool status | tee "$data/status.txt"
  grep -q '^UN  127.0.0.1' "$data/status.txt"
  stop $c
  # The image as the operator runs it: the rack ConfigMap's files for one node (bench/cassandra_node_config.py,
  # the seed adapted to the node itself) at the pod's config directory, the rendered start.sh as the command,
  # the pod IP 127.0.0.2. The Python environment is the repository's (make venv).
  c=cassandra-operator t0=$SECONDS
  "$ROOT_DIR/.venv/bin/python" "$ROOT_DIR/bench/cassandra_node_config.py" "$data/$c-config" "${1##*:}" 127.0.0.2
  MOUNT="type=bind,src=$data/$c-config,dst=/opt/cassandra/smack/config,options=rbind:ro" \
    start $c "$1" POD_IP=127.0.0.2 -- /bin/bash /opt/cassandra/smack/config/start.sh
  wait_log $c "Starting listening for CQL clients" 420
  echo "cassandra (operator's config): listening for CQL clients $((SECONDS - t0)) s after start"
  ex $c nodetool status | tee "$data/status.txt"
  grep -q '^Datacenter: dc1' "$data/status.txt" && grep -q '^UN  127.0.0.2 .* r1 *$' "$data/status.txt"
  stop $c
}
check_spark() {
  local c=spark v=${1##*:}
  start $c "$1" SPARK_DRIVER_BIND_ADDRESS=127.0.0.1 SPARK_LOCAL_IP=127.0.0.1 -- /opt/entrypoint.sh driver \
    --master 'local[2]' --conf spark.ui.enabled=false --conf spark.driver.host=127.0.0.1 --driver-memory 512m \
    --class org.apache.spark.examples.SparkPi "local:///opt/spark/examples/jars/spark-examples_2.12-$v.jar" 10
  wait_log $c "Pi is roughly" 300
  grep -h "Running Spark version\|Pi is roughly" "$data/$c.log"
  stop $c
}
check_operators() {
  ctr run --rm "$1" operators python3 -c 'import getpass, os, operators.kafka.handlers, operators.meta.handlers
print("operators: import ok as", getpass.getuser(), os.getuid())'
  ctr run --rm "$1" operators python3 -m operators --help | head -3
}
check_client() {
  ctr run --rm "$1" client python3 -c 'import getpass, kafka, cassandra, cassandra.cluster
print("client: kafka-python", kafka.__version__, "cassandra-driver", cassandra.__version__, "as", getpass.getuser())'
}

for name in "${names[@]}"; do
  r=$(ref "$name")
  t0=$SECONDS
  ctr images import "$images/$name.tar" >/dev/null
  log "$name: imported $r in $((SECONDS - t0)) s"
  t0=$SECONDS
  case $name in
    pause) check_pause "$r" ;;
    base) check_base "$r" ;;
    kafka-*) check_kafka "$r" ;;
    cassandra-*) check_cassandra "$r" ;;
    spark-*) check_spark "$r" ;;
    operators) check_operators "$r" ;;
    client) check_client "$r" ;;
  esac
  log "$name: check passed in $((SECONDS - t0)) s"
done
