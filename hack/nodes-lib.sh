# Layout of the real nodes, shared by nodes-up.sh and nodes-down.sh. Source after lib.sh.
#
# Node X ∈ NODES is real-X in zone-X: node IP 10.200.0.<i> on the host bridge smack0, pods in
# 10.201.<i>.0/24 on its own bridge smack-X, cgroup root /smack-real-X, containerd socket
# /run/smack/real-X/containerd.sock (hack/images.sh loads images there), data under
# $CLUSTER_DIR/nodes/real-X. Every address is on the project's own bridges.
NODES="a b c"
HOST_BRIDGE=smack0
API_IP=10.200.0.254         # the API server, as the kubernetes Service's endpoint
DNS_IP=10.200.0.53          # CoreDNS, the kube-dns Service's endpoint
CLUSTER_DNS=10.0.0.10       # kube-dns Service IP (kwokctl keeps the default service range 10.0.0.0/24)
POD_CIDR=10.201.0.0/16
RUN_DIR=/run/smack
NODES_DIR=$CLUSTER_DIR/nodes
# What the host looked like before the first nodes-up: nodes-down.sh restores it.
HOST_BEFORE=$RUN_DIR/host-before.env
# Sysctls the nodes change: ip_forward and bridge-nf (routing between node bridges), and those
# the kubelet sets at start (setupKernelTunables; there is no option to leave them alone).
SYSCTLS="net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
kernel.keys.root_maxbytes"
# Host paths that kubelet, containerd and CNI use whatever their configured roots say.
HOST_PATHS="/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/netns /run/containerd
/tmp/hostpath_pv /tmp/kwok-local-path-provisioner"

node_index() { case $1 in a) echo 1 ;; b) echo 2 ;; c) echo 3 ;; esac; }
node_ip() { echo "10.200.0.$(node_index "$1")"; }
node_run() { echo "$RUN_DIR/real-$1"; }
node_dir() { echo "$NODES_DIR/real-$1"; }
node_sock() { echo "$RUN_DIR/real-$1/containerd.sock"; }
# cgroup v1 hierarchies under /sys/fs/cgroup (each controller and name=systemd), not the
# unified twin: runc creates that one itself, nodes-down.sh removes it as well.
cgroup_hierarchies() { findmnt -rn -t cgroup -o TARGET; }
pidfile() { echo "$RUN_DIR/$1.pid"; }
running() { local f; f=$(pidfile "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
# "family:table" of every table iptables-nft shows (ip:filter, ip6:nat, ...), one per line.
nft_tables() {
  local f
  for f in iptables ip6tables; do
    "$f-save" 2>/dev/null | sed -n "s/^\*\(.*\)/${f%tables}:\1/p"
  done
}
