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
    """Say whether this process serves admission webhooks; call it before the operators register their
    handlers (``operators.__main__.setup``).

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
    name or address the API server calls, and must be in the certificate. ``configuration`` names
    the ValidatingWebhookConfiguration kopf manages: one per process serving webhooks (the Helm
    chart runs one per operator), since kopf writes only its own handlers into it.
    """

    cert_dir: Path
    address: str = "127.0.0.1"
    port: int = 9443
    host: str | None = None
    configuration: str = WEBHOOK_CONFIGURATION  # the ValidatingWebhookConfiguration kopf keeps in step
    service: str | None = None  # "NAMESPACE/NAME:PORT": the API server calls this Service instead of a URL


class ServiceWebhookServer(kopf.WebhookServer):
    """kopf's webhook server, announced to the API server as a Service reference instead of a URL.

    An API server resolves a ``url`` with its host's DNS, which seldom knows ``*.svc`` names; a
    ``service`` reference is resolved by the API server itself. kopf appends each handler's id to
    ``service.path``, as it does to a URL.
    """

    def __init__(self, *, service: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        ref, _, port = service.partition(":")
        namespace, _, name = ref.partition("/")
        if not namespace or not name:
            raise ValueError(f"webhook service {service!r}: expected NAMESPACE/NAME[:PORT]")
        self.service = {"namespace": namespace, "name": name, "port": int(port or 443), "path": ""}

    async def __call__(self, fn: Any) -> Any:
        async for config in super().__call__(fn):
            config = dict(config)
            config.pop("url", None)
            config["service"] = dict(self.service)
            yield config


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
        server = dict(addr=webhook.address, port=webhook.port, host=webhook.host or webhook.address,
                      certfile=str(webhook.cert_dir / "tls.crt"), pkeyfile=str(webhook.cert_dir / "tls.key"),
                      cafile=str(webhook.cert_dir / "ca.crt"))
        settings.admission.server = (ServiceWebhookServer(service=webhook.service, **server) if webhook.service
                                     else kopf.WebhookServer(**server))
        settings.admission.managed = webhook.configuration


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
