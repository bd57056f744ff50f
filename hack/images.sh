#!/usr/bin/env bash
# The services' images, built here from Debian's archive, Maven Central and PyPI (no registry, no docker):
#   hack/images.sh build [NAME...] | load [NAME...] | list        (see hack/images.py)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SMACK_CACHE
# The build needs Debian's debootstrap, umoci and skopeo: installed when missing (as on a fresh machine).
[ "${1:-}" != build ] || "$HACK_DIR/node-packages.sh"
exec python3 "$HACK_DIR/images.py" "$@"
