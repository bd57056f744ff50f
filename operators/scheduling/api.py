"""Tenant, NodePool and ServiceClaim v1alpha1 (group scheduling.smack.dev): the scheduling contract's wire models.

A Tenant (cluster-scoped) owns namespaces and holds a guarantee and a limit per resource,
as a Mesos role holds quota guarantees and limits (Mesos docs/quota.md) or a Kueue
ClusterQueue holds nominal quota and a borrowing limit. A NodePool (cluster-scoped) names a
set of nodes by label and the taints its pods tolerate (Kueue ResourceFlavor). A
ServiceClaim (namespaced) is what a service operator asks for: pod sets with counts, a gang
minimum, per-pod requests, a pool and Marathon placement constraints (Kueue Workload pod
sets; Marathon docs/docs/constraints.md). The meta-controller answers in the claim's status.

Amounts are Kubernetes quantities on the wire (:mod:`operators.sdk.quantities` turns them
into base units). The validators state every rule themselves; the meta-controller converts
these models into its allocator's inputs (:mod:`operators.meta.convert`), whose own checks
are a second guard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from kubernetes.utils import parse_quantity
from pydantic import AfterValidator, Field, model_validator

from ..sdk import selectors
from ..sdk.conditions import Conditions
from ..sdk.crd import CustomResource, PrinterColumn
from ..sdk.models import Model, Quantity, cel, validations
from ..sdk.names import DNS1123_LABEL, DNS1123_SUBDOMAIN
from ..sdk.quantities import RESOURCE_NAMES, parse_amounts
from .labels import GROUP

# A label key: an optional DNS-subdomain prefix and "/", then a name of up to 63 characters.
_LABEL_KEY = (r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
              r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
_FIELD = rf"^(@hostname|@zone|@region|{_LABEL_KEY})$"


def _cel_list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{n}'" for n in names) + "]"


def _non_negative(value: str) -> str:
    if parse_quantity(value) < 0:
        raise ValueError(f"{value!r} must not be negative")
    return value


# A quantity that is not negative. (A struct of named quantities rather than a map: CEL over
# a map's unbounded keys exceeds the API server's cost budget, and a struct rejects unknown
# resource names by itself, as an unknown field.)
Amount = Annotated[Quantity, AfterValidator(_non_negative), Field(json_schema_extra=validations(
    cel("isQuantity(self)", message_expression="'must be a Kubernetes quantity such as 10Gi or 500m, got: ' + self",
        reason="FieldValueInvalid"),
    cel("!isQuantity(self) || !quantity(self).isLessThan(quantity('0'))", "must not be negative",
        reason="FieldValueInvalid"),
))]


class PodRequests(Model):
    """Per-pod requests as quantities; a pod is counted once per pod, so there is no ``pods`` here."""

    model_config = Model.model_config | {"extra": "forbid"}  # an unknown resource is an error, not dropped

    cpu: Amount | None = None
    memory: Amount | None = None
    ephemeral_storage: Annotated[Amount | None, Field(alias="ephemeral-storage")] = None
    storage: Annotated[Amount | None, Field(description="Persistent volume size per pod.")] = None

    def amounts(self) -> dict[str, int]:
        """The amounts that are set, in base units (millicores, bytes)."""
        return parse_amounts(self.wire())


class ResourceAmounts(PodRequests):
    """Amounts per resource as quantities: cpu, memory, ephemeral-storage, storage and pods."""

    pods: Amount | None = None


# ---------------------------------------------------------------------------------------------
# Label selectors and tolerations (the Kubernetes shapes)

class LabelSelectorRequirement(Model):
    """One ``matchExpressions`` entry, as in metav1.LabelSelectorRequirement."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 "
            ": !has(self.values) || size(self.values) == 0",
            message_expression="'operator ' + self.operator + (self.operator in ['In', 'NotIn'] ? "
                               "' needs at least one value' : ' takes no values')",
            field_path=".values", reason="FieldValueInvalid"),
    )}

    key: Annotated[str, Field(max_length=316, pattern=f"^{_LABEL_KEY}$")]
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: Annotated[list[Annotated[str, Field(max_length=63)]], Field(max_length=64)] = []

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(f"operator {self.operator} " + (
                "needs at least one value" if self.operator in ("In", "NotIn") else "takes no values"))
        return self

    def requirement(self) -> selectors.Requirement:
        """The requirement as :class:`operators.sdk.selectors.Requirement`, which matches labels."""
        return selectors.Requirement(self.key, self.operator, tuple(self.values))


class LabelSelector(Model):
    """A label selector, as in metav1.LabelSelector; empty matches everything."""

    match_labels: Annotated[dict[str, Annotated[str, Field(max_length=63, pattern=_LABEL_VALUE)]],
                            Field(max_length=64)] = {}
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=32)] = []

    def selector(self) -> selectors.Selector:
        """The selector as :class:`operators.sdk.selectors.Selector`, which matches labels."""
        return selectors.Selector(dict(self.match_labels), tuple(e.requirement() for e in self.match_expressions))


class Toleration(Model):
    """A taint the pool's pods tolerate, as in a pod's ``tolerations``."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("self.operator != 'Exists' || !has(self.value) || self.value == ''",
            "a toleration with operator Exists takes no value", field_path=".value",
            reason="FieldValueInvalid"),
        cel("(has(self.key) && self.key != '') || self.operator == 'Exists'",
            "a toleration without a key must use operator Exists", field_path=".operator",
            reason="FieldValueInvalid"),
    )}

    key: Annotated[str | None, Field(max_length=316, pattern=f"^{_LABEL_KEY}$")] = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: Annotated[str | None, Field(max_length=63)] = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _checks(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists")
        return self

    def toleration(self) -> selectors.Toleration:
        """The toleration as :class:`operators.sdk.selectors.Toleration` (absent fields empty)."""
        return selectors.Toleration(self.key or "", self.operator, self.value or "", self.effect or "")


# ---------------------------------------------------------------------------------------------
# Tenant

PreemptionPolicy = Literal["Never", "LowerPriority", "LowerOrEqualPriority"]

def _guarantee_within_limit(resource: str) -> dict[str, str]:
    field = resource.replace("-", "__dash__")  # CEL's escape for '-' in a field name
    g, lim = f"self.guarantee.{field}", f"self.limit.{field}"
    return cel(f"!has(self.guarantee) || !has(self.limit) || !has({g}) || !has({lim}) || !isQuantity({g}) "
               f"|| !isQuantity({lim}) || quantity({g}).compareTo(quantity({lim})) <= 0",
               f"guarantee.{resource} must not exceed limit.{resource}", field_path=f".guarantee.{resource}",
               reason="FieldValueInvalid")


class TenantSpec(Model):
    """Desired state of a Tenant: what it owns, what it is guaranteed and what it may use at most."""

    namespaces: Annotated[list[Annotated[str, Field(max_length=63, pattern=DNS1123_LABEL)]], Field(
        max_length=256, description="Namespaces the tenant owns, by name.",
        json_schema_extra={"x-kubernetes-list-type": "set"})] = []
    namespace_selector: Annotated[LabelSelector | None, Field(
        description="Namespaces the tenant owns, by label. Names listed in namespaces win over "
                    "selectors.")] = None
    guarantee: Annotated[ResourceAmounts, Field(description=(
        "Resources the tenant always gets when it asks: the cluster keeps this much free for it while "
        "others borrow. A resource not named here is not guaranteed. Name every resource the claims "
        "request (including pods) for their admissions to count as within guarantee."))] = ResourceAmounts()
    limit: Annotated[ResourceAmounts, Field(description=(
        "Most the tenant (with its child tenants) may use; above the guarantee it is borrowed. A resource "
        "not named here is not limited."))] = ResourceAmounts()
    weight: Annotated[int, Field(ge=1, le=1000, description=(
        "Fair-share weight: tenants are served lowest dominant share / weight first (weighted DRF)."))] = 1
    priority: Annotated[int, Field(ge=-2147483648, le=1000000000, description=(
        "Default priority of the tenant's claims that do not set one."))] = 0
    preemption_policy: Annotated[PreemptionPolicy, Field(description=(
        "What the tenant's non-preemptible claims may preempt while the tenant is within its guarantee: "
        "Never; LowerPriority (preemptible claims of lower priority); LowerOrEqualPriority (the default: "
        "lower or equal, so that tenants can rebalance towards their guarantees). Victims always come "
        "from tenants above their guarantee and are never taken below it."))] = "LowerOrEqualPriority"
    parent: Annotated[str | None, Field(max_length=253, pattern=DNS1123_SUBDOMAIN, description=(
        "Parent tenant: its limit caps this tenant's usage too, and its guarantee covers its "
        "children's."))] = None

    model_config = Model.model_config | {"json_schema_extra": validations(
        *(_guarantee_within_limit(r) for r in RESOURCE_NAMES))}

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> TenantSpec:
        guarantee, limit = self.guarantee.amounts(), self.limit.amounts()
        over = sorted(name for name in guarantee if name in limit and guarantee[name] > limit[name])
        if over:
            raise ValueError(f"guarantee must not exceed limit for: {', '.join(over)}")
        return self

    def owns(self, namespace: str, labels: Mapping[str, str]) -> Literal["name", "selector"] | None:
        """How the tenant owns ``namespace`` (by name, or by its labels), or None."""
        if namespace in self.namespaces:
            return "name"
        if self.namespace_selector is not None and self.namespace_selector.selector().matches(labels):
            return "selector"
        return None


class TenantStatus(Model):
    """Observed state of a Tenant, written by the meta-controller after each allocation pass."""

    observed_generation: int | None = None
    conditions: Conditions = []
    usage: dict[str, str] = Field(default={}, description=(
        "What admitted claims of the tenant and its children hold."))
    guaranteed: dict[str, str] = Field(default={}, description="The part of usage within the guarantee.")
    borrowed: dict[str, str] = Field(default={}, description="The part of usage above the guarantee.")
    dominant_share: str | None = Field(default=None, description=(
        "Weighted dominant share: max over resources of usage / cluster capacity, divided by weight, "
        "as a decimal string (e.g. \"0.125\")."))
    dominant_resource: str | None = None
    admitted_claims: int = 0
    pending_claims: int = 0


TENANT = CustomResource(
    group=GROUP,
    kind="Tenant",
    plural="tenants",
    short_names=("tn",),
    scope="Cluster",
    spec=TenantSpec,
    status=TenantStatus,
    # A longer cycle spans objects: the Tenant webhook walks the parents (operators/meta/webhook.py).
    object_validations=(cel("!has(self.spec.parent) || self.spec.parent != self.metadata.name",
                            message_expression="'must not be the tenant itself: ' + self.spec.parent",
                            field_path=".spec.parent", reason="FieldValueInvalid"),),
    printer_columns=(
        PrinterColumn("Weight", ".spec.weight", "integer"),
        PrinterColumn("Share", ".status.dominantShare", description="weighted dominant share"),
        PrinterColumn("Admitted", ".status.admittedClaims", "integer"),
        PrinterColumn("Pending", ".status.pendingClaims", "integer"),
        PrinterColumn("Parent", ".spec.parent", priority=1),
        PrinterColumn("Policy", ".spec.preemptionPolicy", priority=1),
    ),
)


def resolve_tenant(namespace: str, labels: Mapping[str, str], tenants: Mapping[str, TenantSpec],
                   explicit: str | None = None) -> str:
    """The tenant a claim in ``namespace`` (with these namespace labels) is charged to.

    With ``explicit`` (spec.tenant) that tenant, which must own the namespace; otherwise the
    tenant that lists the namespace by name, else the one whose selector matches. Raises
    ValueError naming the namespace when no tenant owns it, when the explicit tenant does not,
    or when two tenants own it the same way (a webhook refuses such tenants).
    """
    if explicit is not None:
        spec = tenants.get(explicit)
        if spec is None:
            raise ValueError(f"spec.tenant: tenant {explicit} does not exist")
        if spec.owns(namespace, labels) is None:
            raise ValueError(f"spec.tenant: tenant {explicit} does not own namespace {namespace}")
        return explicit
    for how in ("name", "selector"):
        owners = sorted(name for name, spec in tenants.items() if spec.owns(namespace, labels) == how)
        if len(owners) > 1:
            raise ValueError(f"namespace {namespace} is owned by several tenants ({', '.join(owners)}) "
                             f"by {how}; set spec.tenant")
        if owners:
            return owners[0]
    raise ValueError(f"no tenant owns namespace {namespace}")


# ---------------------------------------------------------------------------------------------
# NodePool

class NodePoolSpec(Model):
    """Desired state of a NodePool: which nodes, and which taints its pods tolerate."""

    node_selector: Annotated[LabelSelector, Field(description=(
        "Nodes of the pool, by label; the empty selector takes every node."))] = LabelSelector()
    tolerations: Annotated[list[Toleration], Field(max_length=32, description=(
        "Taints the pool's pods tolerate. A node with a NoSchedule or NoExecute taint is used only by "
        "pods of a pool that tolerates it."))] = []


class NodePoolStatus(Model):
    """Observed state of a NodePool. Nothing writes it yet: the meta-controller writes only
    ServiceClaim and Tenant status; a pool's capacity shows in the claims it admits."""

    observed_generation: int | None = None
    conditions: Conditions = []


NODE_POOL = CustomResource(
    group=GROUP,
    kind="NodePool",
    plural="nodepools",
    short_names=("np",),
    scope="Cluster",
    spec=NodePoolSpec,
    status=NodePoolStatus,
)


# ---------------------------------------------------------------------------------------------
# ServiceClaim

Operator = Literal["UNIQUE", "CLUSTER", "GROUP_BY", "MAX_PER", "IS", "LIKE", "UNLIKE"]
_NEEDS_VALUE = ("GROUP_BY", "MAX_PER", "IS", "LIKE", "UNLIKE")


class Constraint(Model):
    """A Marathon placement constraint: field, operator and, for most operators, value."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel(f"!(self.operator in {_cel_list(_NEEDS_VALUE)}) || has(self.value)",
            message_expression="'operator ' + self.operator + ' needs a value'",
            field_path=".value", reason="FieldValueRequired"),
        cel("self.operator != 'UNIQUE' || !has(self.value)", "operator UNIQUE takes no value",
            field_path=".value", reason="FieldValueForbidden"),
        cel("!(self.operator in ['GROUP_BY', 'MAX_PER']) || !has(self.value) || "
            "self.value.matches('^[1-9][0-9]{0,3}$')",
            message_expression="'operator ' + self.operator + ' needs a positive integer value "
                               "(e.g. \"3\"), got: ' + self.value",
            field_path=".value", reason="FieldValueInvalid"),
        # No CEL function checks a regex; matching with an invalid one is an evaluation error, which
        # the API server reports as a rejection of this field. (The == keeps the error from being
        # absorbed, as || and && would.)
        cel("!(self.operator in ['LIKE', 'UNLIKE']) || !has(self.value) || "
            "''.matches(self.value) == ''.matches(self.value)",
            "value must be a regular expression (RE2 syntax)", field_path=".value",
            reason="FieldValueInvalid"),
    )}

    field: Annotated[str, Field(max_length=316, pattern=_FIELD, description=(
        "@hostname (the node), @zone (topology.kubernetes.io/zone), @region (topology.kubernetes.io/region) "
        "or a node label key."))]
    operator: Annotated[Operator, Field(description=(
        "UNIQUE: one pod per value. CLUSTER: every pod on value (or on one value of the field when no "
        "value is given). GROUP_BY n: pods spread evenly over n values. MAX_PER n: at most n pods per "
        "value. IS: the attribute equals value. LIKE / UNLIKE: the whole attribute matches / does not "
        "match the regular expression value. A node without the attribute satisfies only UNLIKE."))]
    value: Annotated[str | None, Field(max_length=256)] = None

    @model_validator(mode="after")
    def _check(self) -> Constraint:
        """The CEL rules above: a value where the operator needs one and none for UNIQUE, a positive
        integer for GROUP_BY and MAX_PER, a regular expression for LIKE and UNLIKE."""
        where = f"constraint {self.field} {self.operator}"
        if self.operator in _NEEDS_VALUE and self.value is None:
            raise ValueError(f"{where} needs a value")
        if self.operator == "UNIQUE" and self.value is not None:
            raise ValueError(f"{where} takes no value")
        if self.operator in ("GROUP_BY", "MAX_PER") and not re.fullmatch(r"[1-9][0-9]{0,3}", self.value):
            raise ValueError(f"operator {self.operator} needs a positive integer value (e.g. \"3\"), "
                             f"got: {self.value}")
        if self.operator in ("LIKE", "UNLIKE"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{where}: {self.value!r} is not a regular expression ({exc})") from None
        return self

    @property
    def groups(self) -> bool:
        """True for the constraints whose values are chosen for the whole pod set up front: GROUP_BY and
        value-less CLUSTER (at most one per pod set)."""
        return self.operator == "GROUP_BY" or (self.operator == "CLUSTER" and self.value is None)


_GROUPING = "c.operator == 'GROUP_BY' || (c.operator == 'CLUSTER' && !has(c.value))"


class PodSet(Model):
    """``count`` identical pods; at least ``minCount`` of them are admitted together or none."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("!has(self.minCount) || self.minCount <= self.count", "minCount must not exceed count",
            field_path=".minCount", reason="FieldValueInvalid"),
    )}

    name: Annotated[str, Field(max_length=63, pattern=DNS1123_LABEL)]
    count: Annotated[int, Field(ge=1, le=10000, description="Pods wanted.")]
    min_count: Annotated[int | None, Field(ge=1, le=10000, description=(
        "Gang minimum: fewer pods are never admitted. Default: count (all or nothing)."))] = None
    requests: PodRequests = PodRequests()
    node_pool: Annotated[str | None, Field(max_length=253, pattern=DNS1123_SUBDOMAIN, description=(
        "NodePool the pods run in; default: any node without a taint they would need to tolerate."))] = None
    constraints: Annotated[list[Constraint], Field(max_length=16, description=(
        "Marathon placement constraints, all of which hold for the admitted placement. At most one "
        "GROUP_BY or value-less CLUSTER."),
        json_schema_extra=validations(cel(
            f"self.filter(c, {_GROUPING}).size() <= 1",
            "at most one GROUP_BY or value-less CLUSTER constraint per pod set",
            reason="FieldValueInvalid")))] = []

    @model_validator(mode="after")
    def _checks(self) -> PodSet:
        """The CEL rules above: minCount within count, at most one GROUP_BY or value-less CLUSTER."""
        if self.min_count is not None and self.min_count > self.count:
            raise ValueError(f"pod set {self.name}: need 1 <= minCount ({self.min_count}) <= count ({self.count})")
        if sum(c.groups for c in self.constraints) > 1:
            raise ValueError(f"pod set {self.name}: at most one GROUP_BY or value-less CLUSTER constraint")
        return self


class ServiceClaimSpec(Model):
    """What a service asks for: pod sets, priority, whether it may be preempted, and its tenant."""

    pod_sets: Annotated[list[PodSet], Field(
        min_length=1, max_length=8, description="Pod sets; names are unique.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]
    priority: Annotated[int | None, Field(ge=-2147483648, le=1000000000, description=(
        "Higher is admitted first within the tenant; default: the tenant's priority."))] = None
    preemptible: Annotated[bool, Field(description=(
        "May be preempted to make room for another tenant's guaranteed claims (batch work). A "
        "non-preemptible claim may itself preempt while its tenant stays within its guarantee."))] = False
    tenant: Annotated[str | None, Field(max_length=253, pattern=DNS1123_SUBDOMAIN, description=(
        "Tenant to charge; it must own the namespace. Default: the tenant that owns the namespace."))] = None

    @model_validator(mode="after")
    def _unique_names(self) -> ServiceClaimSpec:
        names = [p.name for p in self.pod_sets]
        if len(names) != len(set(names)):
            raise ValueError("pod set names must be unique")
        return self


class NodeAssignment(Model):
    name: str
    count: int


class PodSetAssignment(Model):
    """Where one pod set may run: how many pods are admitted, on which nodes, and the taints of its
    NodePool that the pods must tolerate to get there (Kueue injects a flavor's tolerations likewise)."""

    name: str
    count: int
    nodes: list[NodeAssignment] = []
    tolerations: Annotated[list[Toleration] | None, Field(max_length=32, description=(
        "The pod set's NodePool tolerations, for the pods' spec.tolerations; absent outside a pool."))] = None


class ServiceClaimStatus(Model):
    """Observed state of a ServiceClaim, written only by the meta-controller."""

    # Conditions: QuotaReserved, Admitted, Preempted, Evicted. Reasons: Admitted, WaitingForQuota,
    # ExceedsLimit, Unschedulable, TenantNotFound, Preempting (this claim waits for its victims),
    # Preempted (this claim is a victim).

    observed_generation: int | None = None
    conditions: Conditions = []
    tenant: str | None = Field(default=None, description="The tenant the claim is charged to.")
    pod_sets: list[PodSetAssignment] = Field(default=[], description="Per pod set, the nodes it may use.")

    def admission(self) -> dict[str, dict[str, int]] | None:
        """The admitted placement as the allocator takes it, or None when the claim is not admitted."""
        admitted = next((c for c in self.conditions if c.type == "Admitted"), None)
        if admitted is None or admitted.status != "True":
            return None
        return {p.name: {n.name: n.count for n in p.nodes} for p in self.pod_sets}

    def preempting(self) -> bool:
        """True while the claim waits for the victims it preempted (QuotaReserved False, reason
        Preempting)."""
        reserved = next((c for c in self.conditions if c.type == "QuotaReserved"), None)
        return reserved is not None and reserved.status == "False" and reserved.reason == "Preempting"


SERVICE_CLAIM = CustomResource(
    group=GROUP,
    kind="ServiceClaim",
    plural="serviceclaims",
    short_names=("claim",),  # not sc: StorageClass's (kubectl api-resources)
    spec=ServiceClaimSpec,
    status=ServiceClaimStatus,
    printer_columns=(
        PrinterColumn("Tenant", ".status.tenant"),
        PrinterColumn("Priority", ".spec.priority", "integer"),
        PrinterColumn("Preemptible", ".spec.preemptible", "boolean"),
        PrinterColumn("Admitted", '.status.conditions[?(@.type=="Admitted")].status'),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Admitted")].reason'),
        PrinterColumn("Message", '.status.conditions[?(@.type=="Admitted")].message', priority=1),
    ),
)
