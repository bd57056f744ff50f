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

Fault isolation (DESIGN.md, habit 8): no listed object can fail the cycle or take another's admission.

* A Tenant the cycle cannot use — its spec does not parse, its parent does not exist, its parents
  form a cycle, or an ancestor is such a tenant — gets ``Invalid=True`` with the reason and a Warning
  event. It is detached from its parents; its admitted claims keep their admissions, its pending ones
  wait with ``InvalidTenant``; every other tenant is served as usual.
* Admissions are sticky against ownership problems too: when the tenant of an admitted claim can no
  longer be resolved (two Tenants own its namespace the same way, its ``spec.tenant`` no longer owns
  the namespace), it stays admitted and charged to the tenant that admitted it (``status.tenant``).
  Each Tenant involved in an ambiguity gets ``NamespaceConflict=True`` naming the namespace and the
  other Tenants; only claims not yet admitted there wait (``TenantNotFound``).
* A claim whose spec does not parse or convert gets ``Invalid=True`` (``InvalidSpec``) and is otherwise
  left as it is: an admission it holds stays.
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
    Toleration,
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
    """A Kubernetes Event to post about a claim (``key`` "namespace/name") or, with ``tenant`` set, about
    the Tenant named ``key``."""

    key: str
    type: str  # Normal | Warning
    reason: str
    message: str
    tenant: bool = False


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
    the listed ones. An object the cycle cannot use is skipped and reported on its own status (see
    the module docstring). Never raises for bad user input.
    """
    parsed = _tenants(tenants)
    parsed.conflicts = namespace_conflicts(namespaces, parsed.specs)
    snapshot = _snapshot(nodes=nodes, pods=pods, namespaces=namespaces, tenants=parsed, pools=pools, claims=claims)
    allocation = allocator.allocate(snapshot.nodes, snapshot.tenants, snapshot.claims, snapshot.pools)
    result = Result(allocation=allocation)
    _claim_statuses(snapshot, allocation, at, result)
    _tenant_statuses(tenants, parsed, allocation, at, result)
    return result


@dataclass
class _Claim:
    """A listed claim as the status phase needs it: the object, its current status, the tenant it is
    charged to (None when no tenant may own it, with ``unowned`` saying why and ``unowned_reason`` the
    condition reason), and the admission the allocator counted for it after the lifecycle rules (None
    when pending)."""

    obj: dict[str, Any]
    status: ServiceClaimStatus
    tenant: str | None
    unowned: str | None = None
    admission: dict[str, dict[str, int]] | None = None
    unowned_reason: str = "TenantNotFound"
    invalid: str | None = None  # why its spec cannot be used: the status keeps everything else


@dataclass
class _Snapshot:
    """The allocator's inputs for one cycle, and the listed claims by key ("namespace/name")."""

    nodes: list[allocator.Node]
    tenants: list[allocator.Tenant]
    pools: list[allocator.Pool]
    claims: list[allocator.Claim]
    listed: dict[str, _Claim]
    pool_tolerations: dict[str, list[Toleration]]


def tenant_problems(specs: dict[str, TenantSpec]) -> dict[str, str]:
    """Why each tenant that cannot be placed in the tenant tree cannot, by name: a parent that does not
    exist, parents that form a cycle (``a → b → a``), or an ancestor that has either problem.

    The allocator needs a tree (:class:`allocator.quota.Quota` raises otherwise); these tenants are
    detached so that the rest of the tree is served.
    """
    problems: dict[str, str] = {}
    for name in specs:
        chain = [name]
        while (parent := specs[chain[-1]].parent) is not None:
            if parent not in specs:
                problems[name] = (f"spec.parent: tenant {parent} does not exist" if len(chain) == 1 else
                                  f"spec.parent: its ancestor {chain[-1]} names parent {parent}, which does not "
                                  f"exist")
                break
            if parent in chain:
                loop = " → ".join(chain[chain.index(parent):] + [parent])
                problems[name] = (f"spec.parent: the parents form a cycle ({loop})" if parent == name else
                                  f"spec.parent: its ancestors form a cycle ({loop})")
                break
            chain.append(parent)
    return problems


@dataclass
class _Tenants:
    """The listed Tenants: parsed specs by name, why some cannot be used (by name), and the
    namespace conflicts each is involved in (messages by tenant name)."""

    specs: dict[str, TenantSpec]
    invalid: dict[str, str]
    conflicts: dict[str, list[str]] = field(default_factory=dict)


def _tenants(tenants: list[dict[str, Any]]) -> _Tenants:
    specs, invalid = {}, {}
    for t in tenants:
        name = t["metadata"]["name"]
        try:
            specs[name] = TenantSpec.model_validate(t.get("spec") or {})
        except ValidationError as exc:
            invalid[name] = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    invalid |= tenant_problems(specs)
    return _Tenants(specs, invalid)


def namespace_conflicts(namespaces: list[dict[str, Any]], specs: dict[str, TenantSpec]) -> dict[str, list[str]]:
    """For each tenant that owns a listed namespace the same way (by name, or by selector) as another
    tenant, one message per such namespace, naming the others."""
    out: dict[str, list[str]] = {}
    for n in namespaces:
        name, labels = n["metadata"]["name"], n["metadata"].get("labels") or {}
        for how in ("name", "selector"):
            owners = sorted(t for t, spec in specs.items() if spec.owns(name, labels) == how)
            if len(owners) > 1:
                for t in owners:
                    others = ", ".join(o for o in owners if o != t)
                    out.setdefault(t, []).append(f"namespace {name} is also owned by tenant {others} (by {how})")
                break
            if owners:
                break
    return out


def _snapshot(*, nodes: list[dict[str, Any]], pods: list[dict[str, Any]], namespaces: list[dict[str, Any]],
              tenants: _Tenants, pools: list[dict[str, Any]], claims: list[dict[str, Any]]) -> _Snapshot:
    """The listed objects as allocator inputs: tenants (with the implicit default; invalid ones detached),
    pools, nodes, and per claim the claim itself plus, for a grown admitted claim, its growth (key +
    :data:`GROWTH`). See the module docstring for what is skipped."""
    tenant_specs = tenants.specs
    alloc_tenants = [convert.tenant(name, spec.model_copy(update={"parent": None}) if name in tenants.invalid
                                    else spec) for name, spec in tenant_specs.items()]
    if DEFAULT_TENANT not in tenant_specs:
        alloc_tenants.append(allocator.Tenant(DEFAULT_TENANT))
    alloc_pools, pool_tolerations = [], {}
    for p in pools:
        try:
            pool_spec = NodePoolSpec.model_validate(p.get("spec") or {})
        except ValidationError:
            continue
        alloc_pools.append(convert.pool(p["metadata"]["name"], pool_spec))
        pool_tolerations[p["metadata"]["name"]] = pool_spec.tolerations
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
            status = ServiceClaimStatus.model_validate(obj.get("status") or {})
        except ValidationError:
            status = ServiceClaimStatus()
        try:
            spec = ServiceClaimSpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            listed[key] = _Claim(obj, status, status.tenant, invalid="; ".join(
                f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
            continue
        admitted = status.admission() is not None
        try:
            tenant = resolve_tenant(meta["namespace"], ns_labels.get(meta["namespace"], {}), tenant_specs,
                                    spec.tenant)
        except ValueError as exc:
            if admitted and status.tenant is not None:
                # Sticky: an ownership problem that arose after the admission never revokes it.
                tenant = status.tenant if status.tenant in tenant_specs else DEFAULT_TENANT
            elif spec.tenant is not None or "several tenants" in str(exc):
                listed[key] = _Claim(obj, status, None, unowned=str(exc))
                continue
            else:
                tenant = DEFAULT_TENANT
        if tenant in tenants.invalid and not admitted:
            listed[key] = _Claim(obj, status, tenant, unowned=f"tenant {tenant} is invalid: {tenants.invalid[tenant]}",
                                 unowned_reason="InvalidTenant")
            continue
        try:
            admission = _current_admission(obj, spec, status, pods, healthy)
            tenant_spec = tenant_specs.get(tenant)
            claim = convert.claim(
                spec, key, tenant, created=meta.get("creationTimestamp", ""), admission=admission,
                default_priority=tenant_spec.priority if tenant_spec else 0,
                preempting=admission is None and status.preempting())
            grown = [growth_pod_set(ps, admission[ps.name], node_index) for ps in claim.pod_sets
                     if admission is not None and ps.count > sum(admission[ps.name].values())]
        except (ValueError, KeyError, TypeError) as exc:  # a spec the schema let through but no model can use
            listed[key] = _Claim(obj, status, status.tenant, invalid=f"{type(exc).__name__}: {exc}")
            continue
        listed[key] = _Claim(obj, status, tenant, admission=admission)
        alloc_claims.append(claim)
        if grown and tenant not in tenants.invalid:
            alloc_claims.append(dataclasses.replace(claim, key=key + GROWTH, pod_sets=tuple(grown), admission=None,
                                                    preempting=status.preempting()))
    return _Snapshot(alloc_nodes, alloc_tenants, alloc_pools, alloc_claims, listed, pool_tolerations)


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
        if listed.invalid is not None:
            new.tenant = status.tenant
            was = get_condition(conds, "Invalid")
            new.conditions = set_condition(conds, _cond("Invalid", "True", "InvalidSpec", listed.invalid, generation),
                                           at=at)
            if was is None or was.status != "True" or was.message != listed.invalid:
                result.events.append(Event(key, "Warning", "InvalidSpec", listed.invalid))
            if new.wire() != status.wire():
                result.claims[key] = new
            continue
        if _is_true(conds, "Invalid"):
            conds = set_condition(conds, _cond("Invalid", "False", "ValidSpec", "the spec is usable again",
                                               generation), at=at)
        if listed.unowned is not None:
            conds = _pending(conds, listed.unowned_reason, listed.unowned, generation, at)
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
        _tolerate_pools(new.pod_sets, status.pod_sets, listed.obj, snapshot.pool_tolerations)
        if new.wire() != status.wire():
            result.claims[key] = new


def _tolerate_pools(pod_sets: list[PodSetAssignment], was: list[PodSetAssignment], claim: dict[str, Any],
                    pool_tolerations: dict[str, list[Toleration]]) -> None:
    """Give each assigned pod set the tolerations of the NodePool its spec names (none without one),
    so the service puts them on its pods: the pool's tainted nodes admit only pods that tolerate them.
    A pool that is no longer listed leaves them as they were (admissions are sticky)."""
    pools = {p.get("name"): p.get("nodePool") for p in (claim.get("spec") or {}).get("podSets") or []}
    before = {p.name: p.tolerations for p in was}
    for pod_set in pod_sets:
        pool = pools.get(pod_set.name)
        tolerations = None if pool is None else pool_tolerations.get(pool, before.get(pod_set.name))
        pod_set.tolerations = list(tolerations) if tolerations else None


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


def _tenant_statuses(tenants: list[dict[str, Any]], parsed: _Tenants, allocation: allocator.Allocation,
                     at: str | None, result: Result) -> None:
    """Each listed Tenant's new status (into ``result.tenants`` when it changed): usage and Borrowing, and
    ``Invalid`` / ``NamespaceConflict`` while it has such a problem (False once it is gone), with a Warning
    event when one appears or changes."""
    for body in tenants:
        name = body["metadata"]["name"]
        previous = TenantStatus.model_validate(body.get("status") or {})
        generation = body["metadata"].get("generation")
        usage = allocation.tenants.get(name)
        if usage is None:  # a spec that does not parse: only its problem can be reported
            new = previous.model_copy(deep=True)
            new.observed_generation = generation
        else:
            new = convert.tenant_status(usage, generation=generation)
            borrowing = any(v > 0 for v in usage.borrowed.values())
            new.conditions = set_condition(previous.conditions, _cond(
                "Borrowing", "True" if borrowing else "False", "AboveGuarantee" if borrowing else "WithinGuarantee",
                f"borrowed: {', '.join(f'{k}={v}' for k, v in new.borrowed.items() if usage.borrowed[k]) or 'nothing'}",
                generation), at=at)
        invalid = parsed.invalid.get(name)
        problems = {
            "Invalid": (invalid, "ParentCycle" if invalid and "cycle" in invalid else
                        "ParentNotFound" if invalid and "does not exist" in invalid else "InvalidSpec",
                        "its pending claims wait; admitted ones keep their admissions"),
            "NamespaceConflict": ("; ".join(parsed.conflicts.get(name, [])) or None, "NamespaceOwnedTwice",
                                  "admitted claims there keep their admissions; new ones wait until one tenant "
                                  "owns it (remove it from all but one)"),
        }
        for type_, (message, reason, consequence) in problems.items():
            was = get_condition(new.conditions, type_)
            if message is not None:
                text = f"{message}; {consequence}"
                new.conditions = set_condition(new.conditions, _cond(type_, "True", reason, text, generation), at=at)
                if was is None or was.status != "True" or was.message != text:
                    result.events.append(Event(name, "Warning", reason, text, tenant=True))
            elif was is not None and was.status == "True":
                new.conditions = set_condition(new.conditions, _cond(type_, "False", "Resolved", "no longer",
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
