# syntax=docker/dockerfile:1
# The operator image: every operator in one image, chosen at run time with `run --only <name>`
# (the Helm chart runs one Deployment per operator). Small: a slim Python base, a venv with the
# runtime dependencies only, no compilers in the final stage. Non-root: uid 10001.
# Pinned: the base is a patch-level tag; pin it by digest for releases with
#   make image BASE_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
# and the Python dependencies are installed from requirements-image.txt (exact versions,
# written by `make image-lock` from a resolved environment).
ARG BASE_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python3 -m venv /opt/smack
COPY requirements-image.txt ./
RUN /opt/smack/bin/pip install --no-deps -r requirements-image.txt
COPY pyproject.toml README.md ./
COPY operators ./operators
# Then slim the venv: kubernetes/aio is the client's asyncio twin (68 MB) that nothing here imports
# (kopf has its own client); pip and setuptools are not needed at run time. 201 MB -> 109 MB.
RUN /opt/smack/bin/pip install --no-deps . \
 && /opt/smack/bin/pip check \
 && rm -rf /opt/smack/lib/python3*/site-packages/kubernetes/aio \
 && /opt/smack/bin/pip uninstall -q -y pip setuptools \
 && /opt/smack/bin/python -c "import operators.kafka.handlers, operators.cassandra.handlers, operators.spark.handlers, operators.meta.handlers, operators.cli" \
 && find /opt/smack -name __pycache__ -prune -exec rm -rf {} + \
 && /opt/smack/bin/python -m compileall -q /opt/smack/lib

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="smack-operators" \
      org.opencontainers.image.description="Kubernetes operators for Kafka, Cassandra and Spark, and the smack meta-controller" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/smack /opt/smack
# A passwd entry for uid 10001, and USER for any other uid a platform assigns: kopf names its
# peering identity after the user (getpass.getuser()), which fails for a uid without a name.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin smack
ENV PATH=/opt/smack/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 USER=smack
USER 10001:10001
# metrics, liveness, admission webhooks
EXPOSE 9102 8080 9443
ENTRYPOINT ["python3", "-m", "operators"]
CMD ["run"]
