"""The kinds ``kubectl smack`` knows: every custom resource the project defines (operators.crds.RESOURCES),
with the names the CRD gives it, plus how ``describe`` and ``endpoints`` show it (:data:`VIEWS`).

A kind not in the table is still reachable as ``PLURAL.GROUP`` (``kubectl smack plan status
foos.example.dev NAME``, version v1alpha1): the plan and describe verbs only need ``status.plans``
and ``status.conditions``, which every smack kind has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cassandra.resources import DATACENTER_LABEL
from ..crds import RESOURCES
from ..kafka.resources import CLUSTER_LABEL
from ..sdk.crd import CustomResource
from ..spark.resources import APP_LABEL


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of a service object: a name and a dotted path into the object (``status.x.y``).

    A path ending in ``[]`` is a list; ``[].a=b`` picks each item's ``b`` named by its ``a``. A path
    starting with ``=`` is a template of the object's ``{name}`` and ``{namespace}`` instead, for an
    address the service's layout fixes (e.g. a Service named after the object), shown once the object
    is Ready.
    """

    name: str
    path: str


@dataclass(frozen=True)
class Kind:
    """A custom resource kind: its API coordinates, names a user types, endpoints and pod label."""

    kind: str
    group: str
    plural: str
    version: str = "v1alpha1"
    namespaced: bool = True
    aliases: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    pod_label: str | None = None  # label key on the object's pods whose value is the object's name
    columns: tuple[tuple[str, str], ...] = field(default=())  # extra describe lines: (title, dotted path)

    def names(self) -> set[str]:
        return {self.kind.lower(), self.plural, self.plural.removesuffix("s"), f"{self.plural}.{self.group}",
                *self.aliases}


@dataclass(frozen=True)
class View:
    """How the CLI shows one kind beyond its API coordinates."""

    aliases: tuple[str, ...] = ()  # names a user may type besides the CRD's own
    endpoints: tuple[Endpoint, ...] = ()
    pod_label: str | None = None
    columns: tuple[tuple[str, str], ...] = ()


VIEWS: dict[str, View] = {
    "KafkaCluster": View(
        endpoints=(Endpoint("bootstrap", "status.bootstrapServers"),
                   Endpoint("listener", "status.listeners[].name=bootstrapServers")),
        pod_label=CLUSTER_LABEL,
        columns=(("Version", "status.version"), ("Metadata version", "status.metadataVersion"),
                 ("Cluster ID", "status.clusterId"), ("Brokers", "spec.brokers.replicas"),
                 ("Controllers", "spec.controllers.replicas"))),
    "CassandraDatacenter": View(
        endpoints=(Endpoint("cql", "={name}-client.{namespace}.svc:9042"), Endpoint("seeds", "status.seeds[]")),
        pod_label=DATACENTER_LABEL,
        columns=(("Version", "status.version"), ("Size", "status.size"), ("Ready nodes", "status.ready"))),
    "SparkApplication": View(
        endpoints=(Endpoint("driver", "status.driverInfo.podName"),
                   Endpoint("ui-service", "status.driverInfo.webUIServiceName"),
                   Endpoint("ui-port", "status.driverInfo.webUIPort")),
        pod_label=APP_LABEL,
        columns=(("State", "status.applicationState.state"), ("Submission", "status.submissionId"),
                 ("Attempts", "status.submissionAttempts"))),
    "ScheduledSparkApplication": View(columns=(("Schedule", "spec.schedule"),)),
    "Tenant": View(columns=(("Dominant share", "status.dominantShare"), ("Admitted claims", "status.admittedClaims"),
                            ("Pending claims", "status.pendingClaims"))),
}


def kind_of(resource: CustomResource) -> Kind:
    """The CLI's row for ``resource``: its coordinates and short names from the CRD, its view from VIEWS."""
    view = VIEWS.get(resource.kind, View())
    return Kind(resource.kind, resource.group, resource.plural, version=resource.version,
                namespaced=resource.scope == "Namespaced", aliases=resource.short_names + view.aliases,
                endpoints=view.endpoints, pod_label=view.pod_label, columns=view.columns)


KINDS: list[Kind] = [kind_of(r) for r in RESOURCES]


def resolve(name: str) -> Kind:
    """The kind a user typed: a kind, plural, singular, short name or ``PLURAL.GROUP[/VERSION]``.

    Raises ValueError naming what is known when nothing matches.
    """
    wanted = name.lower()
    for kind in KINDS:
        if wanted in kind.names():
            return kind
    if "." in wanted:
        plural, _, group = wanted.partition(".")
        group, _, version = group.partition("/")
        return Kind(plural, group, plural, version=version or "v1alpha1")
    known = ", ".join(k.kind for k in KINDS)
    raise ValueError(f"unknown kind {name!r}: use one of {known}, or PLURAL.GROUP")


def lookup(obj: dict, path: str) -> object:
    """The value at a dotted ``path`` of ``obj`` (see :class:`Endpoint`); None when absent."""
    if path.startswith("="):
        meta = obj.get("metadata") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (obj.get("status") or {}).get("conditions") or [])
        return path[1:].format(name=meta.get("name", ""), namespace=meta.get("namespace", "")) if ready else None
    head, _, pick = path.partition("[]")
    value: object = obj
    for part in head.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if not pick and not path.endswith("[]"):
        return value
    if not isinstance(value, list):
        return None
    if not pick:
        return value
    key, _, field_ = pick.lstrip(".").partition("=")
    return {str(item.get(key)): item.get(field_) for item in value if isinstance(item, dict)}
