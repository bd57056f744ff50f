#!/usr/bin/env bash
# Start three real nodes in the local cluster, beside kwok's simulated ones: host-process
# kubelets real-a/b/c (zones zone-a/b/c, label and taint type=real), each with its own
# containerd, bridge and pod subnet; one kube-proxy (iptables) for the host, whose network
# namespace the three share; CoreDNS serving cluster.local behind the kube-dns Service; and
# the StorageClass real-local, whose hostPath volumes the kube-controller-manager provisions
# and deletes. Needs root and a cluster from hack/cluster-up.sh with real nodes enabled.
# Recipe and pitfalls: ../shared/anchors/real-pods.md. Undo with hack/nodes-down.sh.
#
#   hack/nodes-up.sh           start (reuses what runs); prints nothing on stdout
#   hack/nodes-up.sh --check   only the prerequisites
# Exit status 3 (with the reason on stderr) when a prerequisite is missing: this host cannot run
# real nodes, or the cluster was created without them; 1 when starting them failed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/nodes-lib.sh"

KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig
PKI=$CLUSTER_DIR/kwok/clusters/$CLUSTER_NAME/pki
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# Why this host cannot run real nodes, or nothing. Packages are installed first when missing.
preflight() {
  [ "$(uname -s)" = Linux ] || { echo "real nodes need Linux (this is $(uname -s))"; return; }
  [ "$(id -u)" = 0 ] || { echo "real nodes need root (kubelet, containerd, bridges, iptables, cgroups)"; return; }
  # CAP_NET_ADMIN (bit 12) and CAP_SYS_ADMIN (bit 21) for bridges, iptables and mounts.
  local cap; cap=$((16#$(awk '/^CapEff/ {print $2}' /proc/self/status)))
  (( cap >> 12 & 1 && cap >> 21 & 1 )) || { echo "real nodes need CAP_NET_ADMIN and CAP_SYS_ADMIN"; return; }
  findmnt -rn -t cgroup /sys/fs/cgroup/memory >/dev/null ||
    { echo "real nodes need the cgroup v1 (or hybrid) hierarchies under /sys/fs/cgroup; this host has $(findmnt -rn -o FSTYPE /sys/fs/cgroup)"; return; }
  if [ -f "$HOST_BEFORE" ] && ! grep -qx "CLUSTER_DIR=$CLUSTER_DIR" "$HOST_BEFORE"; then
    echo "real nodes of the cluster in $(sed -n 's/^CLUSTER_DIR=//p' "$HOST_BEFORE") run on this host, and there is one set per host (hack/nodes-down.sh there stops them; here it does when that directory is gone)"; return
  fi
  local out; out=$("$HACK_DIR/node-packages.sh" 2>&1) || { echo "real nodes need Debian packages that could not be installed: ${out##*$'\n'}"; return; }
  [ -x "$NODE_BIN/kubelet" ] && [ -x "$NODE_BIN/kube-proxy" ] && [ -x "$COREDNS_BIN/coredns" ] ||
    { echo "real nodes need kubelet, kube-proxy and CoreDNS under $SMACK_CACHE (hack/build-node-binaries.sh)"; return; }
  [ -x "$HACK_DIR/images.sh" ] || { echo "real nodes need hack/images.sh (the pause image of every pod sandbox)"; return; }
}

# The cluster must have been created for real nodes (hack/cluster-up.sh): the API server
# listening beyond 127.0.0.1 and advertising $API_IP, so pods reach it as kubernetes.default.svc.
check_cluster() {
  kubectl get --raw /readyz >/dev/null 2>&1 || { log "real nodes: no cluster at $KUBECONFIG_FILE: run hack/cluster-up.sh"; exit 3; }
  local ep; ep=$(kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes \
    -o jsonpath='{.items[0].endpoints[0].addresses[0]}')
  [ "$ep" = "$API_IP" ] || {
    log "real nodes: the API server advertises $ep, not $API_IP: this cluster was created without real nodes; recreate it (make cluster-down; make cluster-up)"
    exit 3; }
}

# --- host: snapshot, sysctls, bridge, isolation, cgroups -----------------------------------

snapshot_host() {
  [ -f "$HOST_BEFORE" ] && return
  mkdir -p "$RUN_DIR"
  local s p t
  { echo "CLUSTER_DIR=$CLUSTER_DIR"
    for s in $SYSCTLS; do echo "sysctl $s=$(sysctl -n "$s")"; done
    for p in $HOST_PATHS; do [ -e "$p" ] && echo "path $p"; done
    for p in /run/netns/*; do [ -e "$p" ] && echo "netns $p"; done
    for t in $(nft_tables); do echo "nft $t"; done
  } > "$HOST_BEFORE.tmp"
  mv "$HOST_BEFORE.tmp" "$HOST_BEFORE"
}

host_up() {
  snapshot_host
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  if ! ip link show "$HOST_BRIDGE" >/dev/null 2>&1; then
    # A bridge without ports: this kernel has no dummy link type.
    ip link add "$HOST_BRIDGE" type bridge
  fi
  ip link set "$HOST_BRIDGE" up
  local x a
  for a in $API_IP $DNS_IP $(for x in $NODES; do node_ip "$x"; done); do
    ip addr replace "$a/32" dev "$HOST_BRIDGE"
  done
  # ip_forward is host-wide: keep forwarding to the node bridges among themselves, so no pod
  # packet leaves through the host's uplinks and nothing outside reaches a pod.
  if ! iptables -L SMACK-NODES -n >/dev/null 2>&1; then
    iptables -N SMACK-NODES
    iptables -A SMACK-NODES -i smack+ ! -o smack+ -j DROP
    iptables -A SMACK-NODES ! -i smack+ -o smack+ -j DROP
  fi
  iptables -C FORWARD -j SMACK-NODES 2>/dev/null || iptables -I FORWARD -j SMACK-NODES
  local h
  for x in $NODES; do
    for h in $(cgroup_hierarchies); do mkdir -p "$h/smack-real-$x"; done
    # A v1 cpuset starts empty, and nothing can join an empty cpuset.
    cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/smack-real-$x/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/smack-real-$x/cpuset.mems"
  done
}

# --- identities: client certificates signed by the cluster's CA ----------------------------

# issue NAME CN ORG: $NODES_DIR/pki/NAME.{crt,key} and NAME.kubeconfig; re-issued when the
# cluster's CA changed (a recreated cluster: a stale certificate silently never registers).
issue() {
  local name=$1 cn=$2 org=$3 d=$NODES_DIR/pki server
  mkdir -p "$d"
  if ! openssl verify -CAfile "$PKI/ca.crt" "$d/$name.crt" >/dev/null 2>&1; then
    openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$name.key" -subj "/O=$org/CN=$cn" -out "$d/$name.csr" 2>/dev/null
    openssl x509 -req -in "$d/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 365 -out "$d/$name.crt" 2>/dev/null
    rm -f "$d/$name.csr" "$d/$name.kubeconfig"
  fi
  [ -f "$d/$name.kubeconfig" ] && return
  server=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')
  local k="$KUBE_BIN/kubectl" c=(--kubeconfig "$d/$name.kubeconfig")
  "$k" "${c[@]}" config set-cluster local --server "$server" --certificate-authority "$PKI/ca.crt" --embed-certs >/dev/null
  "$k" "${c[@]}" config set-credentials "$name" --client-certificate "$d/$name.crt" --client-key "$d/$name.key" --embed-certs >/dev/null
  "$k" "${c[@]}" config set-context local --cluster local --user "$name" >/dev/null
  "$k" "${c[@]}" config use-context local >/dev/null
}

# --- processes ------------------------------------------------------------------------------

# write FILE: stdin into FILE, only when that changes it. kube-proxy watches its configuration
# file and exits when the file is written, even with the same content.
write() {
  local tmp; tmp=$(mktemp "$1.XXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# start NAME CMD...: run CMD detached (own session, so the caller's job control never reaches
# it), log to $NODES_DIR/logs/NAME.log, pid in $RUN_DIR/NAME.pid. Reused when already running.
start() {
  local name=$1; shift
  running "$name" && return
  mkdir -p "$NODES_DIR/logs"
  setsid "$@" >> "$NODES_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$name")"
}

# until WHAT SECONDS CMD...: poll CMD every 0.2 s; fail with WHAT and the log hint.
until_ok() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return; sleep 0.2; done
  log "timed out after ${secs}s waiting for $what (logs: $NODES_DIR/logs/)"; exit 1
}

containerd_up() {
  local x=$1 d r i
  d=$(node_dir "$x"); r=$(node_run "$x"); i=$(node_index "$x")
  mkdir -p "$d/net.d" "$d/containerd" "$r"
  write "$d/containerd.toml" <<TOML
version = 2
root = "$d/containerd/root"
state = "$r/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$(node_sock "$x")"
[ttrpc]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:$PAUSE_VERSION"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  # This host's bounding set lacks CAP_SYS_RESOURCE: runc cannot give the pause container
  # its negative oom_score_adj, and every sandbox would fail to start.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$r/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/net.d"
    max_conf_num = 1
TOML
  # ipMasq off keeps pod source addresses across nodes; hairpin lets a pod reach itself
  # through a Service. The loopback plugin is run by containerd itself.
  write "$d/net.d/10-smack.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "smack-$x", "plugins": [
  {"type": "bridge", "bridge": "smack-$x", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$d/cni-ipam",
            "ranges": [[{"subnet": "10.201.$i.0/24", "gateway": "10.201.$i.1"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  # Images are imported (hack/images.sh), never pulled: a pull goes to a closed loopback port
  # instead of a registry, so no lookup or connection leaves the host.
  start "containerd-$x" env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
    containerd --config "$d/containerd.toml"
}

kubelet_up() {
  local x=$1 d i
  d=$(node_dir "$x"); i=$(node_index "$x")
  issue "kubelet-$x" "system:node:real-$x" system:nodes
  write "$d/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 hybrid host, no systemd as PID 1.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /smack-real-$x
failSwapOn: false
containerRuntimeEndpoint: unix://$(node_sock "$x")
# Three kubelets on one host: each serves on its own node IP, with its own healthz port,
# pod logs directory (a kubelet garbage-collects the logs of pods it does not know) and plugins.
address: $(node_ip "$x")
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((10148 + 100 * i))
podLogsDir: $d/pod-logs
volumePluginDir: $d/volume-plugins
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$CLUSTER_DNS]
resolvConf: $NODES_DIR/resolv.conf
# Images are imported, never pulled: garbage collection would lose them for good.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
maxPods: 110
# Only pods meant for real nodes: they tolerate this (and select type=real); the simulated
# suite's pods, whose images no real node has, stay on kwok's nodes.
registerWithTaints: [{key: type, value: real, effect: NoSchedule}]
YAML
  start "kubelet-$x" "$NODE_BIN/kubelet" --config "$d/kubelet.yaml" --kubeconfig "$NODES_DIR/pki/kubelet-$x.kubeconfig" \
    --root-dir "$d/kubelet" --cert-dir "$d/kubelet-pki" --hostname-override "real-$x" --node-ip "$(node_ip "$x")" \
    --node-labels "type=real,topology.kubernetes.io/zone=zone-$x,topology.kubernetes.io/region=local"
}

proxy_up() {
  issue kube-proxy system:kube-proxy system:node-proxiers
  write "$NODES_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $NODES_DIR/pki/kube-proxy.kubeconfig}
# The three nodes share the host's network namespace: one kube-proxy serves them all.
hostnameOverride: real-a
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [10.200.0.0/24]
# Leave the host's conntrack sysctls and route_localnet alone.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
YAML
  start kube-proxy "$NODE_BIN/kube-proxy" --config "$NODES_DIR/kube-proxy.yaml"
}

dns_up() {
  issue coredns system:coredns system:coredns
  # No forward plugin: nothing outside cluster.local is resolved, no query leaves the host.
  write "$NODES_DIR/Corefile" <<COREFILE
.:53 {
    bind $DNS_IP
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $NODES_DIR/pki/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
COREFILE
  start coredns "$COREDNS_BIN/coredns" -conf "$NODES_DIR/Corefile"
}

# Objects the real nodes need: CoreDNS's read access, the kube-dns Service in front of the
# host's CoreDNS, and the StorageClass real-local.
cluster_objects() {
  kubectl apply -f - >&2 <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $CLUSTER_DNS
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
# No selector: CoreDNS runs on the host, at $DNS_IP.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: nodes-up.smack.dev}
addressType: IPv4
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
endpoints:
- addresses: [$DNS_IP]
  conditions: {ready: true}
---
# Volumes a real kubelet mounts: the kube-controller-manager's hostPath provisioner
# (--enable-hostpath-provisioner) creates /tmp/hostpath_pv/<uuid> on this host, which all
# three nodes share; a Released volume's directory is removed only under reclaimPolicy Delete.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: real-local}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
}

three_ready() {
  [ "$(kubectl get nodes -l type=real -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -cx True)" = 3 ]
}

main() {
  local reason; reason=$(preflight)
  [ -z "$reason" ] || { log "$reason"; exit 3; }
  [ "${1:-}" = --check ] && exit 0
  check_cluster
  local t0 x; t0=$(date +%s%N)
  host_up
  mkdir -p "$NODES_DIR"
  echo "nameserver $DNS_IP" | write "$NODES_DIR/resolv.conf"
  for x in $NODES; do containerd_up "$x"; done
  for x in $NODES; do until_ok "containerd real-$x" 30 ctr -a "$(node_sock "$x")" version; done
  cluster_objects
  for x in $NODES; do kubelet_up "$x"; done
  proxy_up
  dns_up
  # While the kubelets register: no pod can start before its sandbox's pause image is in.
  "$HACK_DIR/images.sh" build pause base >&2
  "$HACK_DIR/images.sh" load pause base >&2
  until_ok "CoreDNS ready" 60 curl -fsS http://127.0.0.1:18181/ready
  until_ok "kube-proxy healthy" 60 curl -fsS http://127.0.0.1:10256/healthz
  until_ok "3 real nodes Ready" 120 three_ready
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  log "real nodes real-a/b/c Ready in $((ms / 1000)).$((ms % 1000 / 100))s"
}

main "$@"
