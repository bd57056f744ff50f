# smack-operators:dev, the same content as the Dockerfile: a venv at /opt/smack with requirements-image.txt's
# exact pins and this checkout's operators, slimmed (no kubernetes/aio, no pip or setuptools, byte-compiled),
# and a passwd entry for uid 10001 (kopf names its peering identity after the user). Built with the root's
# own Python 3.11, in a chroot.
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS  # a wheel directory of the host, not in the chroot
mkdir -p "$ROOT/tmp/src"
cp -a "$REPO/requirements-image.txt" "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/operators" "$ROOT/tmp/src/"
find "$ROOT/tmp/src" -name __pycache__ -prune -exec rm -rf {} +
chroot "$ROOT" python3 -m venv /opt/smack
chroot "$ROOT" /opt/smack/bin/pip install -q --no-deps -r /tmp/src/requirements-image.txt
chroot "$ROOT" /opt/smack/bin/pip install -q --no-deps /tmp/src
chroot "$ROOT" /opt/smack/bin/pip check
rm -rf "$ROOT"/opt/smack/lib/python3*/site-packages/kubernetes/aio "$ROOT/tmp/src"
chroot "$ROOT" /opt/smack/bin/pip uninstall -q -y pip setuptools
chroot "$ROOT" /opt/smack/bin/python -c "import operators.kafka.handlers, operators.cassandra.handlers, operators.spark.handlers, operators.meta.handlers, operators.cli"
find "$ROOT/opt/smack" -name __pycache__ -prune -exec rm -rf {} +
chroot "$ROOT" /opt/smack/bin/python -m compileall -q /opt/smack/lib
chroot "$ROOT" useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin smack
