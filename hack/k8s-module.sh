# Building Kubernetes commands from the Go module proxy: a wrapper module that requires
# k8s.io/kubernetes $KUBE_VERSION, and the version ldflags its binaries report.
# Sourced by build-binaries.sh (control plane) and build-node-binaries.sh (kubelet, kube-proxy).

# 33 staging modules of k8s.io/kubernetes 1.36: its go.mod maps them to
# ./staging with replace lines that consumers ignore, so a wrapper module pins
# each to its published tag v0.X.Y.
STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming"

# k8s_wrapper_module: turn the current (empty) directory into the wrapper module.
k8s_wrapper_module() {
  local s=v0.${KUBE_VERSION#v1.} m
  go mod init local/k8sbuild >/dev/null 2>&1
  { echo "require k8s.io/kubernetes $KUBE_VERSION"; echo "replace ("
    for m in $STAGING; do echo "  k8s.io/$m => k8s.io/$m $s"; done; echo ")"; } >> go.mod
}

# k8s_ldflags: -s -w plus the -X flags that make `--version` print $KUBE_VERSION.
k8s_ldflags() {
  local ldf="-s -w" d v minor
  minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
  d=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=$d"
  done
  echo "$ldf"
}
