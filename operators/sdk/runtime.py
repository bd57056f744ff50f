"""Process-wide operator settings and the kopf run loop (``python -m operators run``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kopf
import kubernetes
from prometheus_client import start_http_server

from .objects import DOMAIN

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


WEBHOOK_CONFIGURATION = f"smack-operators.{DOMAIN}"
_webhooks_served = True


def serve_webhooks(enabled: bool) -> None:
    """Say whether this process serves admission webhooks; call it before importing the operators.

    kopf refuses to start with validate handlers and no webhook server, so without one
    (``python -m operators run`` with no ``--webhook-cert-dir``) :func:`validate` registers nothing
    and the API server's schema and CEL rules are the only admission checks.
    """
    global _webhooks_served
    _webhooks_served = enabled


def validate(group: str, version: str, plural: str, **kwargs: Any) -> Callable[[F], F]:
    """``kopf.on.validate(group, version, plural, **kwargs)`` when webhooks are served, else a no-op."""
    if _webhooks_served:
        return kopf.on.validate(group, version, plural, **kwargs)
    return lambda fn: fn


@dataclass(frozen=True)
class Webhook:
    """Where the admission webhooks listen and the certificate they serve.

    ``cert_dir`` holds ``tls.crt``, ``tls.key`` and ``ca.crt`` (hack/webhook-certs.sh
    makes them for a local run; in a cluster they come from a Secret). ``host`` is the
    name or address the API server calls, and must be in the certificate.
    """

    cert_dir: Path
    address: str = "127.0.0.1"
    port: int = 9443
    host: str | None = None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Our own annotation prefix and finalizer name, watch timeouts that survive idle proxies,
    and the admission webhook server when one is configured."""
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
    webhook: Webhook | None = memo.get("webhook")
    if webhook is not None:
        # kopf serves every @kopf.on.validate handler and keeps the
        # ValidatingWebhookConfiguration (URLs and CA bundle) in step with them.
        settings.admission.server = kopf.WebhookServer(
            addr=webhook.address, port=webhook.port, host=webhook.host or webhook.address,
            certfile=str(webhook.cert_dir / "tls.crt"), pkeyfile=str(webhook.cert_dir / "tls.key"),
            cafile=str(webhook.cert_dir / "ca.crt"))
        settings.admission.managed = WEBHOOK_CONFIGURATION


@kopf.on.probe(id="reconciler")
def _alive(**_: Any) -> str:
    return "ok"


def run(*, namespaces: list[str], metrics_port: int | None, metrics_addr: str,
        liveness_port: int | None, verbose: bool, webhook: Webhook | None = None) -> None:
    """Run the registered handlers until SIGINT/SIGTERM; serve metrics, liveness and webhooks if asked.

    ``namespaces`` empty means cluster-wide. kopf stops its watchers and daemons
    on the first signal and exits cleanly.
    """
    kopf.configure(verbose=verbose)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=metrics_addr)
        log.info("serving Prometheus metrics on %s:%d/metrics", metrics_addr, metrics_port)
    liveness = f"http://{metrics_addr}:{liveness_port}/healthz" if liveness_port is not None else None
    kopf.run(standalone=True, clusterwide=not namespaces, namespaces=namespaces, liveness_endpoint=liveness,
             memo=kopf.Memo(webhook=webhook))
