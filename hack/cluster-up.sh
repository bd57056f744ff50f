#!/usr/bin/env bash
# Start the local control plane: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler as host processes (kwokctl --runtime binary, bound to 127.0.0.1),
# kwok simulating six nodes in three zones and the pod and volume lifecycle, and three
# real nodes (hack/nodes-up.sh). SMACK_REAL_NODES: unset/auto starts the real nodes when
# this host can run them and otherwise says why and goes on with kwok's nodes only;
# 1 makes a missing prerequisite an error; 0 skips them.
# Reuses a running cluster; builds missing binaries first (hack/build-binaries.sh).
# Prints `export KUBECONFIG=...` on stdout; everything else goes to stderr.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/nodes-lib.sh"

export KWOK_WORKDIR=$CLUSTER_DIR/kwok
KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig
KWOKCTL=$KWOK_BIN/kwokctl
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

"$HACK_DIR/build-binaries.sh" >&2
start=$(date +%s)
mkdir -p "$CLUSTER_DIR"

REAL=${SMACK_REAL_NODES:-auto}
case $REAL in 0 | 1 | auto) ;; *) log "SMACK_REAL_NODES must be 0, 1 or auto, not $REAL"; exit 2 ;; esac
# skip_real WHY: without real nodes, or stop when they were asked for (SMACK_REAL_NODES=1).
skip_real() {
  if [ "$REAL" = 1 ]; then log "$1"; exit 1; fi
  log "$1 -- going on with kwok's simulated nodes only (SMACK_REAL_NODES=0 skips real nodes quietly)"
  REAL=0
}
if [ "$REAL" != 0 ]; then
  if ! "$HACK_DIR/build-node-binaries.sh" >&2; then
    skip_real "real nodes: building kubelet, kube-proxy or CoreDNS failed (hack/build-node-binaries.sh, output above)"
  elif ! why=$("$HACK_DIR/nodes-up.sh" --check 2>&1); then
    skip_real "${why##*] }"
  fi
fi

# What the real nodes need of the control plane. Pods reach the API server as the kubernetes
# Service (10.0.0.1:443), whose endpoint is the advertised address on the node bridge
# (hack/nodes-lib.sh: API_IP): the API server listens beyond 127.0.0.1, and its serving
# certificate names both addresses. It reaches the kubelets by InternalIP (their Hostname
# does not resolve) with the admin certificate (their webhook authorization admits it).
# The kube-controller-manager provisions the real-local StorageClass's hostPath volumes.
real_node_options() {
  [ "$REAL" != 0 ] || return 0
  printf '  kubeApiserverCertSANs: [10.0.0.1, %s]\n' "$API_IP"
}
real_node_patches() {
  [ "$REAL" != 0 ] || return 0
  local pki=$KWOK_WORKDIR/clusters/$CLUSTER_NAME/pki
  cat <<PATCH
- name: kube-apiserver
  extraArgs:
  - {key: bind-address, value: 0.0.0.0, override: true}
  - {key: advertise-address, value: $API_IP}
  - {key: kubelet-preferred-address-types, value: InternalIP}
  - {key: kubelet-client-certificate, value: $pki/admin.crt}
  - {key: kubelet-client-key, value: $pki/admin.key}
- name: kube-controller-manager
  extraArgs:
  - {key: enable-hostpath-provisioner, value: "true"}
PATCH
}

if [ -f "$KUBECONFIG_FILE" ] && kubectl get --raw /readyz >/dev/null 2>&1; then
  log "cluster $CLUSTER_NAME already running"
else
  if "$KWOKCTL" get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "removing stopped cluster $CLUSTER_NAME"
    "$KWOKCTL" delete cluster --name "$CLUSTER_NAME" >&2 || true
  fi
  cat > "$CLUSTER_DIR/kwokctl.yaml" <<YAML
kind: KwokctlConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeVersion: $KUBE_VERSION
  etcdBinary: $ETCD_BIN/etcd
  etcdctlBinary: $ETCD_BIN/etcdctl
  kubeApiserverBinary: $KUBE_BIN/kube-apiserver
  kubeControllerManagerBinary: $KUBE_BIN/kube-controller-manager
  kubeSchedulerBinary: $KUBE_BIN/kube-scheduler
  kwokControllerBinary: $KWOK_BIN/kwok
  kubectlBinary: $KUBE_BIN/kubectl
  # A node failure as Kubernetes sees one: kwok manages only nodes annotated kwok.x-k8s.io/node=fake
  # (every node here), so a test that removes the annotation stops that node's simulated kubelet;
  # its lease expires and the node lifecycle controller marks it and its pods NotReady after 30 s
  # (heartbeatFactor 1: kwokctl would otherwise multiply these by 5). Without this, kwok's default
  # --manage-all-nodes keeps every node Ready (test_kafka.py's node-failure test needs it).
  heartbeatFactor: 1
  nodeLeaseDurationSeconds: 20
  kubeControllerManagerNodeMonitorPeriodMilliseconds: 2000
  kubeControllerManagerNodeMonitorGracePeriodMilliseconds: 30000
$(real_node_options)
componentsPatches:
$(real_node_patches)
- name: kwok-controller
  extraArgs:
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
YAML
  log "creating cluster $CLUSTER_NAME (Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
  PATH=$KUBE_BIN:$PATH "$KWOKCTL" create cluster --name "$CLUSTER_NAME" -c "$CLUSTER_DIR/kwokctl.yaml" \
    --kubeconfig "$KUBECONFIG_FILE" --enable-crds Stage --wait 120s >&2
fi

# Stages: nodes become Ready and keep their leases, pods start and become Ready,
# PVCs are provisioned and bound through the default StorageClass kwok-volume.
stages=$("$HACK_DIR/kwok-source.sh")/kustomize/stage
kubectl apply -k "$stages/fast" >&2
kubectl apply -k "$stages/volume/fast" >&2

# Six nodes in three zones with realistic capacity, so scheduling means something.
nodes=""
i=0
for zone in zone-a zone-b zone-c; do
  for n in 1 2; do
    i=$((i + 1))
    nodes+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-$zone-$n
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: \"0\"}
  labels:
    kubernetes.io/hostname: kwok-$zone-$n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: $zone
    topology.kubernetes.io/region: local
    type: kwok
spec:
  podCIDR: 10.244.$i.0/24
  podCIDRs: [10.244.$i.0/24]
status:
  allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\", ephemeral-storage: 100Gi}
  capacity: {cpu: \"8\", memory: 32Gi, pods: \"110\", ephemeral-storage: 100Gi}
  addresses: [{type: InternalIP, address: 192.0.2.$i}]
  nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: $KUBE_VERSION}
"
  done
done
printf '%s' "$nodes" | kubectl apply -f - >&2
kubectl wait --for=condition=Ready node -l type=kwok --timeout=60s >&2
# The default ServiceAccount appears asynchronously; pods cannot be created before it.
for _ in $(seq 1 60); do kubectl get serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done

# A CA and a serving certificate for admission webhooks served by the operators on
# 127.0.0.1 (python -m operators run --webhook-cert-dir .cluster/webhook).
"$HACK_DIR/webhook-certs.sh" "$CLUSTER_DIR/webhook" >&2

if [ "$REAL" != 0 ]; then
  rc=0; "$HACK_DIR/nodes-up.sh" || rc=$?
  if [ $rc = 3 ]; then skip_real "real nodes not started (reason above)"; elif [ $rc != 0 ]; then exit $rc; fi
fi

log "cluster $CLUSTER_NAME ready in $(( $(date +%s) - start ))s"
echo "export KUBECONFIG=$KUBECONFIG_FILE"
