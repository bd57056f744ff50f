#!/usr/bin/env bash
# Stop the real nodes (hack/nodes-up.sh) and leave the host as nodes-up found it: their
# pods (deleted through the kubelets, so CNI releases addresses and links), processes,
# mounts, iptables chains and the nf_tables tables they brought, bridges, cgroups
# (the v1 hierarchies and the unified twin), sysctls, /run/smack and the host paths kubelet
# and containerd use whatever their roots say. The Node objects are deleted when the API
# server still answers. Real nodes of another clone's cluster are left alone, unless that
# cluster's directory is gone.
#
#   hack/nodes-down.sh             volumes stay (hostPath PVs under /tmp: the cluster may live on)
#   hack/nodes-down.sh --volumes   also their directories, when the cluster goes too (cluster-down.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$HACK_DIR/nodes-lib.sh"

[ -d "$RUN_DIR" ] || { log "real nodes: none on this host"; exit 0; }
if [ -f "$HOST_BEFORE" ]; then
  owner=$(sed -n 's/^CLUSTER_DIR=//p' "$HOST_BEFORE")
  if [ "$owner" != "$CLUSTER_DIR" ] && [ -d "$owner" ]; then
    log "real nodes: they belong to the cluster in $owner; left alone (its hack/nodes-down.sh stops them)"
    exit 0
  fi
  # Ours, or orphaned: their cluster's directory is gone.
  CLUSTER_DIR=$owner
  NODES_DIR=$CLUSTER_DIR/nodes
fi
[ "$(id -u)" = 0 ] || { log "real nodes: stopping them needs root"; exit 1; }
KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=20s "$@"; }
before() { [ -f "$HOST_BEFORE" ] && grep -qxF "$1" "$HOST_BEFORE"; }

# stop NAME: SIGTERM, then SIGKILL after 15 s, by the pid nodes-up.sh recorded.
stop() {
  local f pid i; f=$(pidfile "$1")
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < 75; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

tasks() { ctr -a "$(node_sock "$1")" -n k8s.io tasks ls -q 2>/dev/null; }
no_tasks() { local x; for x in $NODES; do [ -z "$(tasks "$x")" ] || return 1; done; }

# 1. Pods, through their kubelets: they stop the containers and CNI deletes the pods' links
#    and addresses. Cordoned first, so controllers do not put new pods there meanwhile.
drain() {
  kubectl get --raw /readyz >/dev/null 2>&1 || { log "real nodes: API server gone, stopping containers directly"; return; }
  local x i
  for x in $NODES; do
    kubectl get node "real-$x" >/dev/null 2>&1 || continue
    kubectl cordon "real-$x" >/dev/null
    kubectl delete pods -A --field-selector "spec.nodeName=real-$x" --grace-period=5 --wait=false >/dev/null 2>&1 || true
  done
  for ((i = 0; i < 300; i++)); do no_tasks && break; sleep 0.2; done
  no_tasks || log "real nodes: pods still running after 60 s, killing their containers"
  for x in $NODES; do kubectl delete node "real-$x" --ignore-not-found >/dev/null; done
}

# 2. Whatever still runs in a node's containerd (the API server was gone, or a kubelet hung).
kill_tasks() {
  local x t
  for x in $NODES; do
    [ -S "$(node_sock "$x")" ] || continue
    for t in $(tasks "$x"); do
      ctr -a "$(node_sock "$x")" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
      ctr -a "$(node_sock "$x")" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true
    done
  done
}

# 3. iptables: kube-proxy's own cleanup, then the chains of kubelet (KUBE-FIREWALL,
#    KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT), CNI's portmap and ours, in both families.
iptables_down() {
  [ -x "$NODE_BIN/kube-proxy" ] && "$NODE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local f t c rule
  for f in iptables ip6tables; do
    for t in filter nat mangle; do
      "$f-save" -t "$t" >/dev/null 2>&1 || continue
      # Rules that jump to our chains, then the chains themselves.
      { "$f-save" -t "$t" | grep -E '^-A .* -j (KUBE-|CNI-|SMACK-)' || true; } | while read -r rule; do
        eval "$f -t $t ${rule/-A/-D}" 2>/dev/null || true
      done
      for c in $("$f-save" -t "$t" | sed -n 's/^:\(\(KUBE-\|CNI-\|SMACK-\)[^ ]*\) .*/\1/p'); do "$f" -t "$t" -F "$c"; done
      for c in $("$f-save" -t "$t" | sed -n 's/^:\(\(KUBE-\|CNI-\|SMACK-\)[^ ]*\) .*/\1/p'); do "$f" -t "$t" -X "$c"; done
    done
  done
  # iptables-nft leaves the (now empty) tables it created; nft drops those the host had not.
  local ft
  if command -v nft >/dev/null; then
    for ft in $(nft_tables); do
      before "nft $ft" || nft delete table "${ft%%:*}" "${ft#*:}" 2>/dev/null || true
    done
  fi
}

# 4. Mounts under the nodes' directories and their network namespaces, deepest first.
unmount_all() {
  local m
  for m in $(findmnt -rn -o TARGET | grep -E "^($NODES_DIR|$RUN_DIR|/run/netns/cni-|/var/lib/kubelet)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}

cgroups_down() {
  local x h
  for x in $NODES; do
    for h in $(cgroup_hierarchies) /sys/fs/cgroup/unified; do
      [ -d "$h/smack-real-$x" ] && { find "$h/smack-real-$x" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
      [ -d "$h/smack-real-$x" ] && log "real nodes: cgroup $h/smack-real-$x still busy"
    done
  done
  return 0
}

links_down() {
  local x l
  for x in $NODES; do
    # A veth whose namespace outlived CNI still hangs on the bridge.
    for l in $(ip -o link show master "smack-$x" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$l"; done
    ip link del "smack-$x" 2>/dev/null || true
  done
  ip link del "$HOST_BRIDGE" 2>/dev/null || true
}

restore_host() {
  local s v p
  if [ -f "$HOST_BEFORE" ]; then
    while read -r s; do v=${s#*=}; sysctl -qw "${s%%=*}=$v" 2>/dev/null || true
    done < <(sed -n 's/^sysctl //p' "$HOST_BEFORE")
  fi
  local keep="/tmp/hostpath_pv /tmp/kwok-local-path-provisioner"
  [ "${1:-}" = --volumes ] && keep=""
  for p in $HOST_PATHS; do
    [[ " $keep " == *" $p "* ]] && continue
    # /run/containerd is shared with any other containerd on the host: only if it is ours alone.
    [ "$p" = /run/containerd ] && pgrep -x containerd >/dev/null && continue
    before "path $p" || rm -rf "$p"
  done
}

start=$(date +%s)
if running kubelet-a || running kubelet-b || running kubelet-c; then drain; fi
stop kube-proxy
stop coredns
iptables_down
for x in $NODES; do stop "kubelet-$x"; done
kill_tasks
for x in $NODES; do stop "containerd-$x"; done
# Shims of our containerds that outlived them (matched by our socket path, killed by pid).
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN_DIR/real-" || true); do kill -KILL "$pid" 2>/dev/null || true; done
unmount_all
for ns in /run/netns/cni-*; do [ -e "$ns" ] && ! before "netns $ns" && rm -f "$ns"; done
cgroups_down
links_down
restore_host "${1:-}"
rm -rf "$NODES_DIR" "$RUN_DIR"
log "real nodes stopped and the host restored in $(( $(date +%s) - start ))s"
