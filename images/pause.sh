# registry.k8s.io/pause: Kubernetes' own pause.c (from the k8s.io/kubernetes module), linked statically.
src="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c"
if [ ! -f "$src" ]; then
  GOFLAGS=-mod=mod go mod download "k8s.io/kubernetes@$KUBE_VERSION"
fi
gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-smack" -o "$ROOT/pause" "$src"
strip "$ROOT/pause"
