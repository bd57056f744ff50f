"""One admission cycle, pure: listed Kubernetes objects in, the statuses to write out.

The handler lists nodes, pods, namespaces, Tenants, NodePools and ServiceClaims,
calls :func:`run`, and patches what changed. Everything between — turning objects
into the allocator's inputs, the claim lifecycle around :func:`allocator.allocate`,
and the conditions each claim shows — is here, so it is tested without a cluster.

Claim lifecycle (conditions as Kueue's Workload shows them):

* pending: ``QuotaReserved`` and ``Admitted`` False with the allocator's reason
  (WaitingForQuota, ExceedsLimit, Unschedulable, TenantNotFound) and message, or
  Preempting while its victims release their capacity;
* admitted: both True; ``status.podSets`` lists the nodes per pod set. The admission is
  sticky: later cycles keep it. A pod set whose count shrinks is trimmed (pods on nodes
  that run fewest of its pods go first). One that grows keeps what it holds and queues
  the extra pods as a *growth* claim, placed around the pods it already has: UNIQUE values
  in use are excluded, as are MAX_PER values at their cap (one partly used may take up to n
  more: a known over-approximation), a value-less CLUSTER stays on its value, and GROUP_BY
  spreads the extra pods only among themselves. While the growth waits, ``Admitted``
  stays True for what is held and ``QuotaReserved`` is False with the reason;
* preempted: ``Preempted`` True; the claim keeps its capacity until its owner has stopped
  every pod of it, then ``Evicted`` True, the admission is dropped and it queues again.

A namespace that no Tenant owns is charged to the tenant ``default`` (a Tenant of that
name configures it; otherwise it has no guarantee and no limit).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..scheduling.api import (
    NodeAssignment,
    NodePoolSpec,
    PodSetAssignment,
    ServiceClaimSpec,
    ServiceClaimStatus,
    TenantSpec,
    TenantStatus,
    resolve_tenant,
)
from ..scheduling.labels import CLAIM_LABEL, FIELD_LABELS, HOSTNAME, POD_SET_LABEL
from ..sdk.conditions import Condition, get_condition, set_condition
from ..sdk.quantities import to_base_units
from ..sdk.selectors import Taint
from . import allocator, convert

DEFAULT_TENANT = "default"
GROWTH = "+growth"  # suffix of the key of a claim's growth
_NODE_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")


@dataclass
class Event:
    """A Kubernetes Event to post about a claim."""

    key: str
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Result:
    """What a cycle decided: statuses that differ from the listed ones, and events."""

    claims: dict[str, ServiceClaimStatus] = field(default_factory=dict)
    tenants: dict[str, TenantStatus] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    allocation: allocator.Allocation | None = None


def claim_key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _pod_requests(pod: dict[str, Any]) -> Counter[str]:
    total: Counter[str] = Counter()
    for container in pod.get("spec", {}).get("containers", []):
        for name, quantity in ((container.get("resources") or {}).get("requests") or {}).items():
            if name in _NODE_RESOURCES:
                total[name] += to_base_units(name, quantity)
    total["pods"] += 1
    return total


def _active(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def nodes_from(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> list[allocator.Node]:
    """Allocator nodes; ``used`` is what bound, active pods that belong to no claim request. A node
    that is NotReady takes nothing new (as the node lifecycle controller's taints will say)."""
    healthy = healthy_nodes(nodes)
    used: dict[str, Counter[str]] = {}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if node and _active(pod) and CLAIM_LABEL not in (pod["metadata"].get("labels") or {}):
            used.setdefault(node, Counter()).update(_pod_requests(pod))
    out = []
    for node in nodes:
        meta, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
        allocatable = {name: to_base_units(name, q)
                       for name, q in (status.get("allocatable") or {}).items() if name in _NODE_RESOURCES}
        out.append(allocator.Node(
            name=meta["name"], allocatable=allocatable, labels=meta.get("labels") or {},
            taints=tuple(Taint(t["key"], t.get("effect", "NoSchedule"), t.get("value", ""))
                         for t in spec.get("taints") or []),
            used=dict(used.get(meta["name"], {})),
            unschedulable=bool(spec.get("unschedulable")) or meta["name"] not in healthy))
    return out


def healthy_nodes(nodes: list[dict[str, Any]]) -> set[str]:
    """Names of the listed nodes that are not NotReady (a node that reports no Ready condition yet counts
    as healthy); any other node an admission names is lost."""
    def ready(node: dict[str, Any]) -> bool:
        cond = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                    None)
        return cond is None or cond.get("status") == "True"
    return {n["metadata"]["name"] for n in nodes if ready(n)}


def _pods_per_node(pods: list[dict[str, Any]], namespace: str, claim: str, pod_set: str) -> Counter[str]:
    return Counter(p["spec"]["nodeName"] for p in pods
                   if p["metadata"]["namespace"] == namespace and p.get("spec", {}).get("nodeName")
                   and (p["metadata"].get("labels") or {}).get(CLAIM_LABEL) == claim
                   and (p["metadata"].get("labels") or {}).get(POD_SET_LABEL) == pod_set)


def trim(admission: dict[str, int], count: int, running: Counter[str]) -> dict[str, int]:
    """Shrink a pod set's admission ``{node: pods}`` to ``count`` pods.

    Admitted slots with no running pod go first, then pods on the nodes that run
    fewest of the pod set's pods: the pods a scale-down stops are the ones released.
    """
    slots = []
    for node, admitted in admission.items():
        started = min(running.get(node, 0), admitted)
        slots += [(1, running.get(node, 0), node)] * started + [(0, 0, node)] * (admitted - started)
    slots.sort(reverse=True)
    return dict(sorted(Counter(node for _, _, node in slots[:count]).items()))


def _attribute(node: allocator.Node | None, field_: str) -> str | None:
    if node is None:
        return None
    if field_ == HOSTNAME:
        return node.name
    return node.labels.get(FIELD_LABELS.get(field_, field_))


def growth_pod_set(pod_set: allocator.PodSet, held: dict[str, int],
                   nodes: dict[str, allocator.Node]) -> allocator.PodSet:
    """The extra pods of a grown pod set, constrained around the ``held`` pods ``{node: pods}``."""
    extra = pod_set.count - sum(held.values())
    constraints = []
    for c in pod_set.constraints:
        used = Counter(v for n, pods in held.items() if (v := _attribute(nodes.get(n), c.field)) is not None
                       for _ in range(pods))
        if c.operator in ("UNIQUE", "MAX_PER"):
            cap = 1 if c.operator == "UNIQUE" else c.number
            full = sorted(v for v, pods in used.items() if pods >= cap)
            if full:
                constraints.append(allocator.Constraint(c.field, "UNLIKE", "|".join(map(re.escape, full))))
            constraints.append(c)  # and among the extra pods themselves
            continue
        if c.operator == "CLUSTER" and c.value is None and len(used) == 1:
            constraints.append(allocator.Constraint(c.field, "CLUSTER", next(iter(used))))
            continue
        constraints.append(c)
    return dataclasses.replace(pod_set, count=extra, min_count=extra, constraints=tuple(constraints))


def _cond(type_: str, status: str, reason: str, message: str, generation: int | None) -> Condition:
    return Condition(type=type_, status=status, reason=reason, message=message, observed_generation=generation)


def run(*, nodes: list[dict[str, Any]], pods: list[dict[str, Any]], namespaces: list[dict[str, Any]],
        tenants: list[dict[str, Any]], pools: list[dict[str, Any]], claims: list[dict[str, Any]],
        at: str | None = None) -> Result:
    """One admission cycle over listed objects (dicts as the API server lists them); see the module
    docstring.

    Four phases: the listed objects become the allocator's inputs (:func:`_snapshot`), the
    allocator decides (:func:`allocator.allocate`), each claim's status follows from its decision
    (:func:`_claim_statuses`), and each Tenant's from its usage (:func:`_tenant_statuses`). ``at``
    is the RFC 3339 time stamped on changed conditions. Returns only statuses that differ from
    the listed ones. Objects whose spec does not parse are skipped (the CRD schema keeps them
    out; this only guards against older stored versions). Never raises for bad user input.
    """
    snapshot = _snapshot(nodes=nodes, pods=pods, namespaces=namespaces, tenants=tenants, pools=pools, claims=claims)
    allocation = allocator.allocate(snapshot.nodes, snapshot.tenants, snapshot.claims, snapshot.pools)
    result = Result(allocation=allocation)
    _claim_statuses(snapshot, allocation, at, result)
    _tenant_statuses(tenants, allocation, at, result)
    return result


@dataclass
class _Claim:
    """A listed claim as the status phase needs it: the object, its current status, the tenant it is
    charged to (None when no tenant may own it, with ``unowned`` saying why), and the admission the
    allocator counted for it after the lifecycle rules (None when pending)."""

    obj: dict[str, Any]
    status: ServiceClaimStatus
    tenant: str | None
    unowned: str | None = None
    admission: dict[str, dict[str, int]] | None = None


@dataclass
class _Snapshot:
    """The allocator's inputs for one cycle, and the listed claims by key ("namespace/name")."""

    nodes: list[allocator.Node]
    tenants: list[allocator.Tenant]
    pools: list[allocator.Pool]
    claims: list[allocator.Claim]
    listed: dict[str, _Claim]


def _snapshot(*, nodes: list[dict[str, Any]], pods: list[dict[str, Any]], namespaces: list[dict[str, Any]],
              tenants: list[dict[str, Any]], pools: list[dict[str, Any]], claims: list[dict[str, Any]]) -> _Snapshot:
    """The listed objects as allocator inputs: tenants (with the implicit default), pools, nodes, and
    per claim the claim itself plus, for a grown admitted claim, its growth (key + :data:`GROWTH`)."""
    tenant_specs: dict[str, TenantSpec] = {}
    for t in tenants:
        try:
            tenant_specs[t["metadata"]["name"]] = TenantSpec.model_validate(t.get("spec") or {})
        except ValidationError:
            continue
    alloc_tenants = [convert.tenant(name, spec) for name, spec in tenant_specs.items()]
    if DEFAULT_TENANT not in tenant_specs:
        alloc_tenants.append(allocator.Tenant(DEFAULT_TENANT))
    alloc_pools = []
    for p in pools:
        try:
            alloc_pools.append(convert.pool(p["metadata"]["name"], NodePoolSpec.model_validate(p.get("spec") or {})))
        except ValidationError:
            continue
    ns_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in namespaces}

    alloc_nodes = nodes_from(nodes, pods)
    node_index = {n.name: n for n in alloc_nodes}
    healthy = healthy_nodes(nodes)
    listed: dict[str, _Claim] = {}
    alloc_claims: list[allocator.Claim] = []
    for obj in claims:
        key = claim_key(obj)
        meta = obj["metadata"]
        try:
            spec = ServiceClaimSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            continue
        status = ServiceClaimStatus.model_validate(obj.get("status") or {})
        try:
            tenant = resolve_tenant(meta["namespace"], ns_labels.get(meta["namespace"], {}), tenant_specs,
                                    spec.tenant)
        except ValueError as exc:
            if spec.tenant is not None or "several tenants" in str(exc):
                listed[key] = _Claim(obj, status, None, unowned=str(exc))
                continue
            tenant = DEFAULT_TENANT
        admission = _current_admission(obj, spec, status, pods, healthy)
        listed[key] = _Claim(obj, status, tenant, admission=admission)
        tenant_spec = tenant_specs.get(tenant)
        claim = convert.claim(
            spec, key, tenant, created=meta.get("creationTimestamp", ""), admission=admission,
            default_priority=tenant_spec.priority if tenant_spec else 0,
            preempting=admission is None and status.preempting())
        alloc_claims.append(claim)
        grown = [growth_pod_set(ps, admission[ps.name], node_index) for ps in claim.pod_sets
                 if admission is not None and ps.count > sum(admission[ps.name].values())]
        if grown:
            alloc_claims.append(dataclasses.replace(claim, key=key + GROWTH, pod_sets=tuple(grown), admission=None,
                                                    preempting=status.preempting()))
    return _Snapshot(alloc_nodes, alloc_tenants, alloc_pools, alloc_claims, listed)


def _claim_statuses(snapshot: _Snapshot, allocation: allocator.Allocation, at: str | None, result: Result) -> None:
    """Each listed claim's new status (into ``result.claims`` when it changed) and its events."""
    victims = allocation.victims
    decisions = {d.claim: d for d in allocation.decisions}
    for key, listed in snapshot.listed.items():
        status, generation = listed.status, listed.obj["metadata"].get("generation")
        new = status.model_copy(deep=True)
        new.observed_generation = generation
        new.tenant = listed.tenant
        conds = new.conditions
        if listed.unowned is not None:
            conds = _pending(conds, "TenantNotFound", listed.unowned, generation, at)
            new.pod_sets = []
        elif key in victims and not _is_true(conds, "Preempted"):
            preemptor = next(d.claim for d in allocation.decisions
                             if isinstance(d, allocator.Preempt) and key in d.victims).removesuffix(GROWTH)
            msg = f"preempted to make room for {preemptor}; stop the work to release the capacity"
            conds = set_condition(conds, _cond("Preempted", "True", "Preempted", msg, generation), at=at)
            result.events.append(Event(key, "Warning", "Preempted", msg))
        elif (d := decisions.get(key)) is not None:
            conds, new = _decided(key, d, conds, new, generation, at, result)
        elif listed.admission is not None:  # admitted earlier: trimmed, and maybe growing
            conds, new.pod_sets = _held(key, listed.admission, decisions.get(key + GROWTH), conds, generation, at,
                                        result)
        new.conditions = conds
        if new.wire() != status.wire():
            result.claims[key] = new


def _held(key: str, held: dict[str, dict[str, int]], growth: allocator.Decision | None, conds: list[Condition],
          generation: int | None, at: str | None, result: Result) -> tuple[list[Condition], list[PodSetAssignment]]:
    """The conditions and pod sets of a claim admitted earlier, given the decision on its growth (None
    when it did not grow)."""
    if isinstance(growth, allocator.Admit):
        for p in growth.pod_sets:
            held[p.name] = dict(Counter(held[p.name]) + Counter(dict(p.nodes)))
        conds = set_condition(conds, _cond("QuotaReserved", "True", "Admitted", growth.message, generation), at=at)
        conds = set_condition(conds, _cond("Admitted", "True", "Admitted", growth.message, generation), at=at)
        result.events.append(Event(key, "Normal", "Admitted", f"scale-up admitted: {growth.message}"))
    elif growth is not None:
        reason = "Preempting" if isinstance(growth, allocator.Preempt) else growth.reason
        was = get_condition(conds, "QuotaReserved")
        conds = set_condition(conds, _cond("QuotaReserved", "False", reason, growth.message, generation), at=at)
        if was is None or was.reason != reason:
            result.events.append(Event(key, "Normal", reason, f"scale-up waits: {growth.message}"))
    else:
        reserved = get_condition(conds, "QuotaReserved")
        if reserved is not None and reserved.status != "True":  # a growth that was dropped
            conds = set_condition(conds, _cond("QuotaReserved", "True", "Admitted", reserved.message, generation),
                                  at=at)
    pod_sets = [PodSetAssignment(name=name, count=sum(nodes.values()), nodes=[
        NodeAssignment(name=n, count=c) for n, c in sorted(nodes.items())]) for name, nodes in held.items()]
    return conds, pod_sets


def _tenant_statuses(tenants: list[dict[str, Any]], allocation: allocator.Allocation, at: str | None,
                     result: Result) -> None:
    """Each listed Tenant's new status (into ``result.tenants`` when it changed): usage and Borrowing."""
    bodies = {t["metadata"]["name"]: t for t in tenants}
    for name, usage in allocation.tenants.items():
        body = bodies.get(name)
        if body is None:
            continue  # the implicit default tenant has no object to write to
        previous = TenantStatus.model_validate(body.get("status") or {})
        generation = body["metadata"].get("generation")
        new = convert.tenant_status(usage, generation=generation)
        borrowing = any(v > 0 for v in usage.borrowed.values())
        new.conditions = set_condition(previous.conditions, _cond(
            "Borrowing", "True" if borrowing else "False", "AboveGuarantee" if borrowing else "WithinGuarantee",
            f"borrowed: {', '.join(f'{k}={v}' for k, v in new.borrowed.items() if usage.borrowed[k]) or 'nothing'}",
            generation), at=at)
        if new.wire() != previous.wire():
            result.tenants[name] = new


def _is_true(conds: list[Condition], type_: str) -> bool:
    cond = get_condition(conds, type_)
    return cond is not None and cond.status == "True"


def _current_admission(obj: dict[str, Any], spec: ServiceClaimSpec, status: ServiceClaimStatus,
                       pods: list[dict[str, Any]], healthy: set[str]) -> dict[str, dict[str, int]] | None:
    """The admission the allocator should count for this claim, after the lifecycle rules.

    Slots on lost nodes (not in ``healthy``) that no pod uses are released (:func:`release_lost`); shrunk pod sets
    are trimmed; grown ones keep what they hold (see :func:`growth_pod_set`).
    """
    admission = status.admission()
    if admission is None:
        return None
    meta = obj["metadata"]
    if _is_true(status.conditions, "Preempted"):
        still_running = any(_pods_per_node(pods, meta["namespace"], meta["name"], p.name) for p in spec.pod_sets)
        return admission if still_running else None  # evicted: it queues again
    wanted = {p.name: p.count for p in spec.pod_sets}
    if set(admission) != set(wanted):
        return None  # a pod set was added or removed: admit the claim afresh
    out = {}
    for name, nodes in admission.items():
        running = _pods_per_node(pods, meta["namespace"], meta["name"], name)
        out[name] = trim(release_lost(nodes, running, healthy), wanted[name], running)
    return out


def release_lost(admission: dict[str, int], running: Counter[str], healthy: set[str]) -> dict[str, int]:
    """Drop the admitted slots ``{node: pods}`` on lost nodes (not in ``healthy``: NotReady or deleted)
    that no pod uses.

    A pod still bound there keeps its slot: the service decides when to give up on it (e.g. Kafka's
    ``spec.recovery.nodeFailureTimeoutSeconds``). Once it is deleted, the slot goes and the pod set's
    missing pod queues as a growth, placed on a healthy node.
    """
    return {node: kept for node, pods in admission.items()
            if (kept := pods if node in healthy else min(pods, running.get(node, 0)))}


def _pending(conds: list[Condition], reason: str, message: str, generation: int | None,
             at: str | None) -> list[Condition]:
    for type_ in ("QuotaReserved", "Admitted"):
        conds = set_condition(conds, _cond(type_, "False", reason, message, generation), at=at)
    return conds


def _decided(key: str, d: allocator.Decision, conds: list[Condition], new: ServiceClaimStatus, generation: int | None,
             at: str | None, result: Result) -> tuple[list[Condition], ServiceClaimStatus]:
    if _is_true(conds, "Preempted"):
        msg = "every pod stopped; the claim released its capacity and queues again"
        conds = set_condition(conds, _cond("Evicted", "True", "Preempted", msg, generation), at=at)
        conds = set_condition(conds, _cond("Preempted", "False", "Evicted", msg, generation), at=at)
        result.events.append(Event(key, "Normal", "Evicted", msg))
    if isinstance(d, allocator.Admit):
        was = get_condition(conds, "Admitted")
        for type_ in ("QuotaReserved", "Admitted"):
            conds = set_condition(conds, _cond(type_, "True", "Admitted", d.message, generation), at=at)
        new.pod_sets = convert.pod_set_assignments(d)
        if was is None or was.status != "True":
            result.events.append(Event(d.claim, "Normal", "Admitted", d.message))
    elif isinstance(d, allocator.Preempt):
        conds = _pending(conds, "Preempting", d.message, generation, at)
        new.pod_sets = []
    else:
        was = get_condition(conds, "Admitted")
        conds = _pending(conds, d.reason, d.message, generation, at)
        new.pod_sets = []
        if was is None or was.reason != d.reason:
            result.events.append(Event(d.claim, "Warning" if d.reason != "WaitingForQuota" else "Normal",
                                       d.reason, d.message))
    return conds, new
