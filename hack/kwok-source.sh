#!/usr/bin/env bash
# Print the directory of kwok's module source (its kustomize stages live there),
# downloading it through the Go module proxy when it is not in the module cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
dir=$(cd /tmp && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir/kustomize/stage" ] || { log "kwok source not found (got '$dir')"; exit 1; }
echo "$dir"
