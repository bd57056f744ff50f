"""Command line: ``python -m operators run [--only kafka,...]``, the one place that wires the operators."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

# Each operator's handlers module: its ``setup()`` registers the handlers; a service's also exports
# ``SERVICE``, its ServiceBinding, whose demand check meta's webhook serves.
OPERATORS = {
    "meta": "operators.meta.handlers",
    "kafka": "operators.kafka.handlers",
    "cassandra": "operators.cassandra.handlers",
    "spark": "operators.spark.handlers",
}
# The settings module of each service that has settings: its ``Settings.from_env(environ)`` is read once
# at start-up and handed to the service's ``setup``.
SETTINGS = {
    "kafka": "operators.kafka.settings",
    "cassandra": "operators.cassandra.settings",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m operators", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operators against the current kubeconfig or in-cluster account")
    run.add_argument("--only", default=",".join(OPERATORS),
                     help=f"comma-separated operators to run (default: all of {', '.join(OPERATORS)})")
    run.add_argument("-n", "--namespace", action="append", default=[],
                     help="watch only this namespace (repeatable; default: all namespaces)")
    run.add_argument("--metrics-port", type=int, default=9102, help="Prometheus metrics port (0 disables)")
    run.add_argument("--liveness-port", type=int, default=8080, help="liveness endpoint /healthz port (0 disables)")
    run.add_argument("--bind-address", default="0.0.0.0", help="address for metrics and liveness")
    run.add_argument("--webhook-cert-dir", type=Path,
                     help="serve the admission webhooks with tls.crt, tls.key and ca.crt from this directory "
                          "(hack/webhook-certs.sh makes them); without it no webhook is served")
    run.add_argument("--webhook-address", default="127.0.0.1", help="address the webhook server listens on")
    run.add_argument("--webhook-port", type=int, default=9443, help="webhook server port")
    run.add_argument("--webhook-host", help="name the API server calls the webhooks at (default: the address)")
    run.add_argument("--webhook-configuration", default=runtime_webhook_configuration(),
                     help="ValidatingWebhookConfiguration kept in step with the webhooks of this process "
                          "(one per process; the Helm chart uses smack-operators-<operator>.smack.dev)")
    run.add_argument("--webhook-service", metavar="NAMESPACE/NAME[:PORT]",
                     help="announce the webhooks as this Service (in a cluster) instead of a URL to --webhook-host")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub.add_parser("crds", help="print every CRD as YAML")
    args = parser.parse_args(argv)

    if args.command == "crds":
        from .crds import print_crds
        print_crds()
        return

    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(OPERATORS))
    if unknown:
        parser.error(f"--only: unknown operators {', '.join(unknown)}; choose from {', '.join(OPERATORS)}")
    from .sdk import runtime  # registers the startup settings
    runtime.serve_webhooks(args.webhook_cert_dir is not None)
    try:
        setup(only, os.environ)
    except ValueError as exc:  # a bad setting: say which, and start nothing
        parser.error(str(exc))
    logging.getLogger(__name__).info("operators: %s", ", ".join(only))
    webhook = runtime.Webhook(args.webhook_cert_dir, args.webhook_address, args.webhook_port,
                              args.webhook_host, args.webhook_configuration,
                              args.webhook_service) if args.webhook_cert_dir else None
    runtime.run(namespaces=args.namespace, metrics_port=args.metrics_port or None,
                metrics_addr=args.bind_address, liveness_port=args.liveness_port or None, verbose=args.verbose,
                webhook=webhook)


def setup(only: list[str], environ: Mapping[str, str]) -> None:
    """Register the handlers of the operators named in ``only`` (keys of :data:`OPERATORS`).

    A service with settings (:data:`SETTINGS`) gets them read once, here, from ``environ``; a bad
    value raises ValueError naming the variable, the value and what is allowed. A service's demand
    check is registered in the process that runs the service, with or without meta: the service knows
    its demand, the check needs the meta-controller's allocator, and neither imports the other. The Tenant
    check goes with them, once per process that runs a service: those serve webhooks (the meta-controller
    alone has no webhook rights in the chart, operators/rbac.py), and every one refuses the same Tenants.
    """
    from .meta.webhook import register_service, register_tenant
    for name in only:
        handlers = importlib.import_module(OPERATORS[name])
        if name in SETTINGS:
            handlers.setup(importlib.import_module(SETTINGS[name]).Settings.from_env(environ))
        else:
            handlers.setup()
        if name != "meta":
            register_service(handlers.SERVICE)
    if any(name != "meta" for name in only):
        register_tenant()


def runtime_webhook_configuration() -> str:
    """The default ValidatingWebhookConfiguration name (operators.sdk.runtime.WEBHOOK_CONFIGURATION)."""
    from .sdk.objects import DOMAIN
    return f"smack-operators.{DOMAIN}"


if __name__ == "__main__":
    main()
