"""Least-privilege RBAC of every operator: one source of truth for the Helm chart and the e2e.

Each operator's rules are derived from the API calls its code makes (``operators/<svc>/handlers.py``
through :class:`operators.sdk.apply.Client`, and kopf's own calls), resource by resource:

* kopf, for every operator: ``events`` create/patch (``kopf.info``/``warn``/``event``), and
  ``customresourcedefinitions`` and ``namespaces`` list/watch (kopf observes both at startup);
* a service operator (kafka, cassandra, spark): its own kind (get/list/watch, patch for kopf's
  finalizer and progress annotations and the plan-control reset) and its ``/status``; the children it
  server-side applies (get/list/watch/create/patch: an apply of a missing object is a create); pods it
  deletes in a rollout; ServiceClaims it applies; the objects its admission webhook reads (tenants,
  node pools, nodes, namespaces); and the ``ValidatingWebhookConfiguration`` kopf keeps for it;
* the meta-controller: reads claims, tenants, node pools, nodes, pods and namespaces, and writes only
  ServiceClaim and Tenant status.

``python -m operators.rbac`` writes ``charts/smack-operators/templates/_rules.tpl`` (Helm named
templates, one pair per operator) and ``charts/smack-operators/crds/`` (a copy of ``crds/``);
tests/unit/test_chart.py fails when either is stale. Adding an operator is one entry in
:data:`OPERATORS`.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from .crds import CRD_DIR

CHART_DIR = Path(__file__).resolve().parent.parent / "charts" / "smack-operators"
RULES_TEMPLATE = CHART_DIR / "templates" / "_rules.tpl"

READ = ("get", "list", "watch")
APPLY = (*READ, "create", "patch")


@dataclass(frozen=True)
class Rule:
    """One PolicyRule. ``cluster_scoped`` rules go to a ClusterRole even when namespaces are restricted;
    namespaced rules go to a Role in each watched namespace then (a ClusterRole when all are watched)."""

    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    cluster_scoped: bool = False
    resource_names: tuple[str, ...] = ()

    def manifest(self) -> dict:
        rule: dict = {"apiGroups": list(self.groups), "resources": list(self.resources)}
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        rule["verbs"] = list(self.verbs)
        return rule


@dataclass(frozen=True)
class Operator:
    """One operator as the chart deploys it: ``python -m operators run --only <name>``."""

    name: str
    rules: tuple[Rule, ...]
    webhooks: bool  # serves admission webhooks (a Service, a certificate, a managed configuration)
    clusterwide: bool = False  # always watches every namespace (the meta-controller sees all demand)

    @property
    def webhook_configuration(self) -> str:
        """The ValidatingWebhookConfiguration kopf manages for this operator (``--webhook-configuration``)."""
        return f"smack-operators-{self.name}.smack.dev"


KOPF = (
    Rule(("",), ("events",), ("create", "patch")),
    Rule(("events.k8s.io",), ("events",), ("create", "patch")),
    Rule(("apiextensions.k8s.io",), ("customresourcedefinitions",), ("list", "watch"), cluster_scoped=True),
    Rule(("",), ("namespaces",), ("get", "list", "watch"), cluster_scoped=True),
)


def _webhook(name: str) -> tuple[Rule, ...]:
    """kopf's managed webhook configurations, validating and mutating, both of this name (kopf keeps the
    mutating one too, empty while there are no mutate handlers; create cannot be limited by name), and
    what the demand check of operators.meta.webhook reads."""
    configuration = f"smack-operators-{name}.smack.dev"
    kinds = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
    return (
        Rule(("admissionregistration.k8s.io",), kinds, ("create",), cluster_scoped=True),
        Rule(("admissionregistration.k8s.io",), kinds, ("get", "patch"), cluster_scoped=True,
             resource_names=(configuration,)),
        Rule(("scheduling.smack.dev",), ("tenants", "nodepools"), ("get", "list"), cluster_scoped=True),
        Rule(("",), ("nodes",), ("get", "list"), cluster_scoped=True),
    )


def _service(group: str, plurals: tuple[str, ...]) -> tuple[Rule, ...]:
    """The service's own kinds and their status, and the ServiceClaims it applies."""
    return (
        Rule((group,), plurals, (*READ, "patch", "update")),
        Rule((group,), tuple(f"{p}/status" for p in plurals), ("get", "patch", "update")),
        Rule(("scheduling.smack.dev",), ("serviceclaims",), APPLY),
    )


KAFKA = Operator("kafka", webhooks=True, rules=(
    *KOPF,
    *_service("kafka.smack.dev", ("kafkaclusters",)),
    Rule(("apps",), ("statefulsets",), APPLY),
    Rule(("",), ("configmaps", "services"), APPLY),
    Rule(("policy",), ("poddisruptionbudgets",), APPLY),
    Rule(("",), ("pods",), (*READ, "delete")),
    Rule(("",), ("persistentvolumeclaims",), ("get", "delete")),  # pod replace: the volume goes first
    *_webhook("kafka"),
))

META = Operator("meta", webhooks=False, clusterwide=True, rules=(
    *KOPF,
    Rule(("scheduling.smack.dev",), ("serviceclaims",), READ),
    Rule(("scheduling.smack.dev",), ("tenants", "nodepools"), READ, cluster_scoped=True),
    Rule(("scheduling.smack.dev",), ("serviceclaims/status",), ("get", "patch")),
    Rule(("scheduling.smack.dev",), ("tenants/status",), ("get", "patch"), cluster_scoped=True),
    Rule(("",), ("nodes",), READ, cluster_scoped=True),
    Rule(("",), ("pods",), READ),
))

CASSANDRA = Operator("cassandra", webhooks=True, rules=(
    *KOPF,
    *_service("cassandra.smack.dev", ("cassandradatacenters",)),
    Rule(("apps",), ("statefulsets",), APPLY),
    Rule(("",), ("configmaps", "services"), APPLY),
    Rule(("policy",), ("poddisruptionbudgets",), APPLY),
    Rule(("",), ("pods",), (*READ, "patch", "delete")),  # seed labels; restarts
    Rule(("",), ("pods/exec",), ("create",)),  # nodetool, when the probe is on (SMACK_CASSANDRA_PROBE)
    Rule(("",), ("persistentvolumeclaims",), (*READ, "patch", "delete")),  # kept-volume marks; replace
    *_webhook("cassandra"),
))

SPARK = Operator("spark", webhooks=True, rules=(
    *KOPF,
    *_service("spark.smack.dev", ("sparkapplications", "scheduledsparkapplications")),
    Rule(("spark.smack.dev",), ("sparkapplications",), ("create", "delete")),  # a schedule's runs
    Rule(("scheduling.smack.dev",), ("serviceclaims",), ("delete",)),  # released when an application ends
    Rule(("",), ("pods",), (*READ, "create", "delete", "deletecollection")),  # drivers and their executors
    Rule(("",), ("configmaps", "services"), ("get", "create", "delete")),  # driver conf, driver and UI Services
    *_webhook("spark"),
))

OPERATORS: list[Operator] = [KAFKA, CASSANDRA, SPARK, META]


def by_name(name: str) -> Operator:
    """The operator called ``name``; KeyError when there is none."""
    for op in OPERATORS:
        if op.name == name:
            return op
    raise KeyError(name)


def rules_template() -> str:
    """Helm named templates ``smack-operators.rules.<op>.cluster`` and ``.namespaced``: YAML lists of rules."""
    out = ["{{/* Generated by `python -m operators.rbac` from operators/rbac.py. Do not edit. */}}"]
    for op in OPERATORS:
        for scope, rules in (("cluster", [r for r in op.rules if r.cluster_scoped]),
                             ("namespaced", [r for r in op.rules if not r.cluster_scoped])):
            body = yaml.safe_dump([r.manifest() for r in rules], sort_keys=False, default_flow_style=None).rstrip()
            out += [f'{{{{- define "smack-operators.rules.{op.name}.{scope}" }}}}', body, "{{- end }}"]
    out.append('{{- define "smack-operators.webhookOperators" }}'
               + ",".join(op.name for op in OPERATORS if op.webhooks) + "{{- end }}")
    out.append('{{- define "smack-operators.clusterwideOperators" }}'
               + ",".join(op.name for op in OPERATORS if op.clusterwide) + "{{- end }}")
    out.append('{{- define "smack-operators.knownOperators" }}'
               + ",".join(op.name for op in OPERATORS) + "{{- end }}")
    return "\n".join(out) + "\n"


def write_chart(chart: Path = CHART_DIR) -> list[Path]:
    """Write the generated parts of the chart: the rules template and the CRDs; return the paths."""
    rules = chart / "templates" / "_rules.tpl"
    rules.write_text(rules_template())
    crds = chart / "crds"
    if crds.exists():
        shutil.rmtree(crds)
    crds.mkdir(parents=True)
    written = [rules]
    for path in sorted(CRD_DIR.glob("*.yaml")):
        written.append(Path(shutil.copy(path, crds / path.name)))
    return written


if __name__ == "__main__":
    for path in write_chart(Path(sys.argv[1]) if len(sys.argv) > 1 else CHART_DIR):
        print(path)
