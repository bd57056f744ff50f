# smack-client:dev, for tests and demos: Python with kafka-python and cassandra-driver in /opt/client (on PATH),
# user client (uid 10001). Built with the root's own Python 3.11, in a chroot.
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS  # a wheel directory of the host, not in the chroot
chroot "$ROOT" python3 -m venv /opt/client
chroot "$ROOT" /opt/client/bin/pip install -q "kafka-python==$KAFKA_PYTHON_VERSION" \
  "cassandra-driver==$CASSANDRA_DRIVER_VERSION"
chroot "$ROOT" /opt/client/bin/python -c "import kafka, cassandra.cluster"
find "$ROOT/opt/client" -name __pycache__ -prune -exec rm -rf {} +
chroot "$ROOT" /opt/client/bin/python -m compileall -q /opt/client/lib
chroot "$ROOT" useradd --uid 10001 --user-group --create-home --home-dir /home/client --shell /bin/bash client
