#!/usr/bin/env bash
# The services' images, built here from Debian's archive, Maven Central and PyPI (no registry, no docker):
#   hack/images.sh build [NAME...] | load [NAME...] | list        (see hack/images.py)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export SMACK_CACHE
exec python3 "$HACK_DIR/images.py" "$@"
