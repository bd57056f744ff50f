# Shared paths for hack/ scripts. Source after hack/versions.env.
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$HACK_DIR/.." && pwd)
# shellcheck source=versions.env
. "$HACK_DIR/versions.env"
# Binaries are cached outside the repo, by version, and reused by every clone.
SMACK_CACHE=${SMACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smack-operators}
KUBE_BIN=$SMACK_CACHE/kubernetes-$KUBE_VERSION/bin
ETCD_BIN=$SMACK_CACHE/etcd-$ETCD_VERSION/bin
KWOK_BIN=$SMACK_CACHE/kwok-$KWOK_VERSION/bin
HELM_BIN=$SMACK_CACHE/helm-$HELM_VERSION/bin
# The real nodes' kubelet and kube-proxy (hack/build-node-binaries.sh), and CoreDNS.
NODE_BIN=$SMACK_CACHE/kubernetes-node-$KUBE_VERSION/bin
COREDNS_BIN=$SMACK_CACHE/coredns-$COREDNS_VERSION/bin
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT_DIR/.cluster}
CLUSTER_NAME=${CLUSTER_NAME:-smack}
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
