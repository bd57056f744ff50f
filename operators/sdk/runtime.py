"""Process-wide operator settings and the kopf run loop (``python -m operators run``)."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import kubernetes
from prometheus_client import start_http_server

from .objects import DOMAIN

log = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Our own annotation prefix and finalizer name, and watch timeouts that survive idle proxies."""
    kubernetes.config.load_config()  # in-cluster service account, else KUBECONFIG / ~/.kube/config
    settings.persistence.finalizer = f"operator.{DOMAIN}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=f"operator.{DOMAIN}")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=f"operator.{DOMAIN}", key="last-handled-configuration")
    # Detect silently dead watches (kopf #585 and friends) and reconnect.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 310
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 70
    settings.posting.level = logging.INFO
    settings.execution.max_workers = 16


@kopf.on.probe(id="reconciler")
def _alive(**_: Any) -> str:
    return "ok"


def run(*, namespaces: list[str], metrics_port: int | None, metrics_addr: str,
        liveness_port: int | None, verbose: bool) -> None:
    """Run the registered handlers until SIGINT/SIGTERM; serve metrics and liveness if asked.

    ``namespaces`` empty means cluster-wide. kopf stops its watchers and daemons
    on the first signal and exits cleanly.
    """
    kopf.configure(verbose=verbose)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=metrics_addr)
        log.info("serving Prometheus metrics on %s:%d/metrics", metrics_addr, metrics_port)
    liveness = f"http://{metrics_addr}:{liveness_port}/healthz" if liveness_port is not None else None
    kopf.run(standalone=True, clusterwide=not namespaces, namespaces=namespaces, liveness_endpoint=liveness)
