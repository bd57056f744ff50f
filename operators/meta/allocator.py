"""The meta-controller's allocator: which pending claims are admitted, where, and who is preempted.

Pure: plain dataclasses in, plain dataclasses out, no Kubernetes calls. One call of
:func:`allocate` is one pass over a snapshot of the cluster; the handler writes the
decisions into ServiceClaim status and calls it again on the next change.

Inputs (all amounts are integers in base units: CPU in millicores, memory, ephemeral-storage
and storage in bytes, pods as a count; :func:`parse_amounts` turns quantities into them):

- :class:`Node`: allocatable, labels, taints, and ``used`` — what pods outside any claim hold
  (DaemonSets, system pods). What admitted claims hold is derived from their admission.
- :class:`Pool`: a named set of nodes by label selector, with the taints its pods tolerate.
- :class:`Tenant`: guarantee and limit per resource, weight, parent, preemption policy.
- :class:`Claim`: pod sets (count, gang minimum, per-pod requests, pool, Marathon constraints),
  priority, preemptible; ``admission`` is set for claims admitted earlier.

Output: an :class:`Allocation` — one decision per pending claim, in the order they were made
(:class:`Admit`, :class:`Pending` with a reason and a precise message, or :class:`Preempt`
naming victims), and per-tenant usage for the Tenant status.

Semantics, and where they come from:

Quota (Mesos quota guarantees and limits, docs/quota.md and the hierarchical allocator's
"headroom", src/master/allocator/mesos/hierarchical.cpp). A tenant's ``guarantee`` names
resources; usage up to it is guaranteed, the part above it is *borrowed*. A resource the
guarantee does not name is not guaranteed and is ignored when deciding whether a tenant is
within its guarantee. ``limit`` caps usage (absent: unlimited). Headroom equal to the other
tenants' unmet guarantees is kept free: a claim that makes its tenant borrow a resource is
admitted only if the free capacity left still covers the other tenants' unmet guarantees of
it; a claim within its tenant's guarantee needs only free capacity (Mesos allocates quota
guarantees first, then shares the rest while keeping their headroom). So a tenant may burst
above its guarantee up to its limit while capacity is free, and borrowing never blocks a
tenant that is under its guarantee. With ``parent``, limits are checked up the chain and a parent's
guarantee covers its children's: the headroom a subtree needs is the larger of the parent's
own unmet guarantee and the sum its children need. Headroom is aggregate, like Mesos: it
does not reserve particular nodes.

Order (weighted DRF: Ghodsi et al., "Dominant Resource Fairness", NSDI 2011; Mesos
``sorter/drf/sorter.cpp``: share = max over resources of usage / cluster capacity, divided
by weight). Tenants take turns, lowest weighted dominant share first (tie: name); a tenant
whose next claim fits within its guarantee goes before any tenant that would borrow (Mesos
allocates to quota guarantees before the fair-share stage; Kueue's classic order puts
"under nominal quota" before borrowing). Within a tenant: higher priority first, then older,
then name. A claim that cannot be admitted does not block the tenant's later claims (Kueue's
BestEffortFIFO). Ordering is flat: a parent's share counts its subtree, there is no
hierarchical DRF.

Placement (Marathon constraints, docs/docs/constraints.md and Constraints.scala). A pod set
is admitted only with an assignment of pods to nodes with room that satisfies its
constraints: ``count`` pods if possible, otherwise as many as fit but at least ``min_count``
(the gang: all or nothing). Constraint fields: ``@hostname`` (the node), ``@zone`` and
``@region`` (the ``topology.kubernetes.io`` labels) or any node label. Operators:
UNIQUE (one pod per value), CLUSTER (all pods on the given value, or on one value of the
field when no value is given), GROUP_BY n (pods spread evenly over min(n, pods) values: each
gets ⌊pods/n⌋ or ⌈pods/n⌉), MAX_PER n (at most n pods per value), IS (equal), LIKE / UNLIKE
(the value is a regular expression matched against the whole attribute). A node without the
attribute satisfies only UNLIKE. A pod set may have at most one GROUP_BY or value-less
CLUSTER: the allocator chooses that constraint's values up front (largest room first for
GROUP_BY, the smallest value that fits for CLUSTER), then fills nodes best-fit (least free
CPU first). Placement is greedy: every placement it returns satisfies the constraints, but
when constraints on different label fields cut across each other it may miss an arrangement
that exists. A node with a NoSchedule or NoExecute taint is used only by pods of a pool that
tolerates it; cordoned nodes are not used.

Preemption (YuniKorn's preemption laws, yunikorn-site docs/design/preemption.md; Kueue's
candidate order and minimisation, pkg/scheduler/preemption). A non-preemptible claim that
does not fit may preempt only while its tenant stays within its guarantee with it (and the
tenant's policy is not ``Never``). Victims are admitted, preemptible claims of other
tenants that are above their guarantee, with priority lower than (``LowerPriority``) or
lower than or equal to (``LowerOrEqualPriority``) the preemptor's; removing them must never
take a tenant (or its ancestors) from at-or-above its guarantee to below it. Choice is
greedy: one victim if a single one makes room (lowest priority, then newest, first);
otherwise victims are added in that order until the preemptor fits, then every victim whose
release is not needed is dropped again (Kueue's minimisation pass). The preemptor stays
pending until the victims are gone; its request is counted against its tenant for the rest
of the pass so that it does not trigger more preemption. In later passes the caller marks it
``preempting``, and it is decided before every other claim, so that no other claim takes the
capacity its victims released (YuniKorn reserves the node for the same reason).

Complexity of one pass, with C pending claims, T tenants, N nodes, P pods of a pod set, R
running claims and V preemption candidates: the DRF queue costs O(C log T); a quota check
O(depth of the tenant tree). Nodes are indexed per pool by free CPU: placing a pod set
without GROUP_BY/CLUSTER walks its pool's nodes that have enough CPU, least free first, and
stops when the pods are placed, O(N) at worst; with GROUP_BY/CLUSTER it scans the pool once
and tries O(log P) sizes. Free capacity only shrinks within a pass, so a pod set that found
no room is remembered, and any pod set needing as much or more per pod and as many or more
pods, in the same pool under the same constraints, is refused without a scan. A preemption
search costs O(R) to list candidates plus O(16 + log V + victims) placements. Nothing is
O(claims × nodes × pods).
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Literal

from kubernetes.utils import parse_quantity

# ---------------------------------------------------------------------------------------------
# Resources

RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage", "storage", "pods")
CPU, MEMORY, EPHEMERAL_STORAGE, STORAGE, PODS = range(5)
_R = range(len(RESOURCE_NAMES))
_ZERO = (0,) * len(RESOURCE_NAMES)
# "Not limited": what a node does not declare, a limit that is not set. Larger than any real amount.
UNLIMITED = 1 << 62

Vector = tuple[int, ...]


def to_base_units(resource: str, quantity: str | int) -> int:
    """One quantity ("500m", "16Gi", 3) as a whole number of ``resource``'s base unit, rounded up.

    CPU is counted in millicores, memory and storage in bytes, pods as a count.
    Raises ValueError for an unknown resource, a malformed or a negative quantity.
    """
    if resource not in RESOURCE_NAMES:
        raise ValueError(f"unknown resource {resource!r}; known: {', '.join(RESOURCE_NAMES)}")
    value = parse_quantity(quantity)
    if value < 0:
        raise ValueError(f"{resource}: {quantity!r} is negative")
    return math.ceil(value * 1000) if resource == "cpu" else math.ceil(value)


def parse_amounts(quantities: Mapping[str, str | int]) -> dict[str, int]:
    """``{"cpu": "500m", "memory": "1Gi"}`` -> ``{"cpu": 500, "memory": 1073741824}``; see
    :func:`to_base_units`."""
    return {name: to_base_units(name, q) for name, q in quantities.items()}


def format_amount(resource: str, value: int) -> str:
    """A base-unit amount as a quantity: CPU 4000 -> "4", 1500 -> "1500m"; 2**34 bytes -> "16Gi"."""
    if resource == "cpu":
        return str(value // 1000) if value % 1000 == 0 else f"{value}m"
    if resource != "pods" and value:
        for suffix, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
            if value % size == 0:
                return f"{value // size}{suffix}"
    return str(value)


def format_amounts(vector: Sequence[int], names: Iterable[str] = RESOURCE_NAMES) -> dict[str, str]:
    """The non-zero entries of a vector as ``{resource: quantity}``."""
    wanted = set(names)
    return {name: format_amount(name, vector[r]) for r, name in enumerate(RESOURCE_NAMES)
            if name in wanted and vector[r]}


def _label(resource: int) -> str:
    return {CPU: "CPU", EPHEMERAL_STORAGE: "ephemeral storage"}.get(resource, RESOURCE_NAMES[resource])


def describe(vector: Sequence[int], *, pods: bool = False) -> str:
    """Human words for an amount: "4 CPU, 16Gi memory" (pods only when asked)."""
    parts = [f"{format_amount(RESOURCE_NAMES[r], vector[r])} {_label(r)}"
             for r in _R if vector[r] and (pods or r != PODS)]
    return ", ".join(parts) or "nothing"


def _vector(amounts: Mapping[str, int], default: int = 0) -> Vector:
    unknown = sorted(set(amounts) - set(RESOURCE_NAMES))
    if unknown:
        raise ValueError(f"unknown resources {unknown}; known: {', '.join(RESOURCE_NAMES)}")
    return tuple(int(amounts.get(name, default)) for name in RESOURCE_NAMES)


def _named(amounts: Mapping[str, int]) -> tuple[int | None, ...]:
    _vector(amounts)  # validates the names
    return tuple(None if name not in amounts else int(amounts[name]) for name in RESOURCE_NAMES)


def _add(a: Sequence[int], b: Sequence[int], times: int = 1) -> Vector:
    return tuple(x + times * y for x, y in zip(a, b, strict=True))


def _sub(a: Sequence[int], b: Sequence[int]) -> Vector:
    return tuple(x - y for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------
# Inputs

@dataclass(frozen=True)
class Taint:
    """A node taint. Only NoSchedule and NoExecute keep pods away; PreferNoSchedule is a hint."""

    key: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    value: str = ""


@dataclass(frozen=True)
class Toleration:
    """A toleration as in a pod spec: an empty key with Exists tolerates every taint, an empty effect
    every effect."""

    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        return self.operator == "Exists" or (self.key == taint.key and self.value == taint.value)


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry of a label selector."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class Selector:
    """A Kubernetes label selector; the empty selector matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return (all(labels.get(k) == v for k, v in self.match_labels.items())
                and all(e.matches(labels) for e in self.match_expressions))


@dataclass(frozen=True)
class Pool:
    """A NodePool: the nodes its selector matches, and the taints its pods tolerate."""

    name: str
    selector: Selector = field(default_factory=Selector)
    tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True)
class Node:
    """A node. ``allocatable`` and ``used`` map resource names to base units.

    A resource the node does not list in ``allocatable`` does not limit pods on it (for
    example ``storage`` served by network volumes) and is not part of cluster capacity.
    ``used`` is what pods outside any claim hold; admitted claims' pods are counted from
    their admissions, so they must not be in ``used``.
    """

    name: str
    allocatable: Mapping[str, int]
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    used: Mapping[str, int] = field(default_factory=dict)
    unschedulable: bool = False


OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "MAX_PER", "IS", "LIKE", "UNLIKE")
Operator = Literal["UNIQUE", "CLUSTER", "GROUP_BY", "MAX_PER", "IS", "LIKE", "UNLIKE"]
HOSTNAME, ZONE, REGION = "@hostname", "@zone", "@region"
# Marathon's @-fields on Kubernetes nodes; @hostname is the node's name.
FIELD_LABELS = {ZONE: "topology.kubernetes.io/zone", REGION: "topology.kubernetes.io/region"}
_NEEDS_VALUE = frozenset({"GROUP_BY", "MAX_PER", "IS", "LIKE", "UNLIKE"})
_INTEGER_VALUE = frozenset({"GROUP_BY", "MAX_PER"})


@dataclass(frozen=True)
class Constraint:
    """A Marathon placement constraint ``[field, operator, value]``.

    Raises ValueError when the operator is unknown, a value is missing or not allowed, an
    integer operator's value is not a positive integer, or a LIKE/UNLIKE value is not a regex.
    """

    field: str
    operator: Operator
    value: str | None = None

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"constraint operator {self.operator!r} is not one of {', '.join(OPERATORS)}")
        if self.operator in _NEEDS_VALUE and self.value is None:
            raise ValueError(f"constraint {self.field} {self.operator} needs a value")
        if self.operator == "UNIQUE" and self.value is not None:
            raise ValueError(f"constraint {self.field} UNIQUE takes no value")
        if self.operator in _INTEGER_VALUE and not (self.value.isdigit() and int(self.value) >= 1):
            raise ValueError(f"constraint {self.field} {self.operator} needs a positive integer, "
                             f"got {self.value!r}")
        if self.operator in ("LIKE", "UNLIKE"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"constraint {self.field} {self.operator}: {self.value!r} is not a "
                                 f"regular expression ({exc})") from None

    @property
    def number(self) -> int:
        """The integer value of GROUP_BY and MAX_PER."""
        return int(self.value or 0)

    @property
    def groups(self) -> bool:
        """True for the constraints that choose values up front: GROUP_BY and value-less CLUSTER."""
        return self.operator == "GROUP_BY" or (self.operator == "CLUSTER" and self.value is None)

    def __str__(self) -> str:
        return f"{self.field} {self.operator}" + (f" {self.value}" if self.value is not None else "")


@dataclass(frozen=True)
class PodSet:
    """``count`` identical pods, each requesting ``requests`` (base units; one ``pods`` is implied).

    ``min_count`` (default ``count``) is the gang: fewer pods are never admitted.
    Raises ValueError on bad counts, a ``pods`` request or more than one GROUP_BY/CLUSTER-without-value.
    """

    name: str
    count: int
    requests: Mapping[str, int] = field(default_factory=dict)
    min_count: int | None = None
    pool: str | None = None
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.minimum <= self.count:
            raise ValueError(f"pod set {self.name}: need 1 <= minCount ({self.min_count}) "
                             f"<= count ({self.count})")
        if "pods" in self.requests:
            raise ValueError(f"pod set {self.name}: 'pods' is counted by the allocator, one per pod")
        _vector(self.requests)
        if sum(c.groups for c in self.constraints) > 1:
            raise ValueError(f"pod set {self.name}: at most one GROUP_BY or value-less CLUSTER constraint")

    @property
    def minimum(self) -> int:
        return self.count if self.min_count is None else self.min_count

    @cached_property
    def per_pod(self) -> Vector:
        """The per-pod request vector, with the implied pod."""
        return _add(_vector(self.requests), (0, 0, 0, 0, 1))


@dataclass(frozen=True)
class Claim:
    """A ServiceClaim. ``key`` is "namespace/name"; ``created`` is its RFC 3339 creation time.

    ``admission`` is set for a claim admitted earlier: ``{pod set name: {node name: pods}}``.
    What it holds is computed from its current pod set requests; pod sets or nodes that no
    longer exist hold nothing. ``preempting`` marks a pending claim that preempted victims in
    an earlier pass and waits for them: it is decided before every other claim, so that the
    capacity its victims release is not taken by another (Kueue orders such workloads first).
    """

    key: str
    tenant: str
    pod_sets: tuple[PodSet, ...]
    priority: int = 0
    preemptible: bool = False
    created: str = ""
    admission: Mapping[str, Mapping[str, int]] | None = None
    preempting: bool = False

    @cached_property
    def minimum(self) -> Vector:
        """The gang request: every pod set's minimum count of pods, as a vector with the pods."""
        total = _ZERO
        for ps in self.pod_sets:
            total = _add(total, ps.per_pod, ps.minimum)
        return total


PreemptionPolicy = Literal["Never", "LowerPriority", "LowerOrEqualPriority"]


@dataclass(frozen=True)
class Tenant:
    """A Tenant: ``guarantee`` and ``limit`` map resource names to base units.

    ``weight`` divides the dominant share (a tenant with weight 2 is entitled to twice the
    share). ``preemption_policy`` says which claims its non-preemptible claims may preempt:
    ``Never``, ``LowerPriority`` or ``LowerOrEqualPriority`` (the default; equal priority lets
    tenants rebalance towards their guarantees, YuniKorn law 6).
    """

    name: str
    guarantee: Mapping[str, int] = field(default_factory=dict)
    limit: Mapping[str, int] = field(default_factory=dict)
    weight: int = 1
    parent: str | None = None
    preemption_policy: PreemptionPolicy = "LowerOrEqualPriority"


# ---------------------------------------------------------------------------------------------
# Outputs

@dataclass(frozen=True)
class PodSetAdmission:
    """Where one pod set may run: ``nodes`` is ((node name, pods), ...) sorted by node name."""

    name: str
    count: int
    nodes: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Admit:
    """The claim is admitted with these placements; ``borrowing`` when its tenant is now above its
    guarantee."""

    claim: str
    tenant: str
    pod_sets: tuple[PodSetAdmission, ...]
    borrowing: bool
    message: str


PendingReason = Literal["WaitingForQuota", "ExceedsLimit", "Unschedulable", "TenantNotFound"]


@dataclass(frozen=True)
class Pending:
    """The claim stays pending.

    Reasons: ``ExceedsLimit`` — its minimum alone is above its tenant's (or an ancestor's)
    limit, it can never be admitted as it is; ``WaitingForQuota`` — its tenant's usage is at
    its limit, or the free capacity is kept for other tenants' unmet guarantees;
    ``Unschedulable`` — no placement on nodes with room satisfies its pool and constraints, or
    the cluster lacks the free capacity; ``TenantNotFound`` — its tenant does not exist.
    """

    claim: str
    reason: PendingReason
    message: str


@dataclass(frozen=True)
class Preempt:
    """``claim`` preempts ``victims`` (claim keys) and stays pending until they have released their
    capacity."""

    claim: str
    victims: tuple[str, ...]
    message: str


Decision = Admit | Pending | Preempt


@dataclass(frozen=True)
class TenantUsage:
    """A tenant's standing after the pass (amounts in base units, over its subtree).

    ``guaranteed`` is the part of usage within the guarantee and ``borrowed`` the part above
    it, for the resources the guarantee names. ``dominant_share`` is weighted (divided by the
    weight). ``admitted`` and ``pending`` count the tenant's own claims.
    """

    usage: dict[str, int]
    guaranteed: dict[str, int]
    borrowed: dict[str, int]
    dominant_share: float
    dominant_resource: str | None
    admitted: int
    pending: int


@dataclass
class Allocation:
    """The result of :func:`allocate`: decisions in the order they were made, and tenant usage."""

    decisions: list[Decision]
    tenants: dict[str, TenantUsage]

    def for_claim(self, key: str) -> Decision | None:
        """The decision about one claim (the preemptor's for a Preempt), or None."""
        return next((d for d in self.decisions if d.claim == key), None)

    @property
    def victims(self) -> set[str]:
        return {v for d in self.decisions if isinstance(d, Preempt) for v in d.victims}


# ---------------------------------------------------------------------------------------------
# Quota: guarantees, limits, headroom and dominant share

@dataclass(frozen=True)
class _Refusal:
    """Why a claim is not admitted now; ``preemption_helps`` when releasing other tenants' claims
    could change it."""

    reason: PendingReason
    message: str
    preemption_helps: bool = True
    placement: bool = False  # refused by placement on nodes, not by quota or aggregate capacity


class _TenantState:
    __slots__ = ("name", "spec", "parent", "children", "depth", "guarantee", "limit", "weight",
                 "subtree", "nominated", "reserved", "child_reserved", "admitted", "pending")

    def __init__(self, spec: Tenant) -> None:
        if spec.weight < 1:
            raise ValueError(f"tenant {spec.name}: weight must be >= 1, got {spec.weight}")
        self.name = spec.name
        self.spec = spec
        self.parent: _TenantState | None = None
        self.children: list[_TenantState] = []
        self.depth = 0
        self.guarantee = _named(spec.guarantee)
        self.limit = _named(spec.limit)
        self.weight = spec.weight
        self.subtree: Vector = _ZERO        # usage of the tenant and its descendants
        self.nominated: Vector = _ZERO      # requests of its preemptors, counted until they are admitted
        self.reserved: Vector = _ZERO       # headroom the subtree needs for unmet guarantees
        self.child_reserved: Vector = _ZERO
        self.admitted = 0
        self.pending = 0

    @property
    def has_guarantee(self) -> bool:
        return any(g is not None for g in self.guarantee)

    def chain(self) -> Iterator[_TenantState]:
        node: _TenantState | None = self
        while node is not None:
            yield node
            node = node.parent

    def unmet(self, subtree: Sequence[int]) -> Vector:
        return tuple(0 if g is None else max(0, g - u) for g, u in zip(self.guarantee, subtree, strict=True))


class _Quota:
    """Tenant usage, the headroom unmet guarantees need, and the checks an admission must pass."""

    def __init__(self, tenants: Sequence[Tenant], capacity: Vector) -> None:
        self.capacity = capacity
        self.states: dict[str, _TenantState] = {}
        for spec in tenants:
            if spec.name in self.states:
                raise ValueError(f"tenant {spec.name} is given twice")
            self.states[spec.name] = _TenantState(spec)
        for state in self.states.values():
            parent = state.spec.parent
            if parent is not None:
                if parent not in self.states:
                    raise ValueError(f"tenant {state.name}: parent {parent} does not exist")
                state.parent = self.states[parent]
                state.parent.children.append(state)
        for state in self.states.values():
            seen = set()
            for ancestor in state.chain():
                if ancestor.name in seen:
                    raise ValueError(f"tenant {state.name}: its parents form a cycle through {ancestor.name}")
                seen.add(ancestor.name)
            state.depth = len(seen) - 1
        self.headroom: Vector = _ZERO

    def load(self, state: _TenantState, amount: Vector) -> None:
        """Count an earlier admission (before :meth:`settle`)."""
        for a in state.chain():
            a.subtree = _add(a.subtree, amount)

    def settle(self) -> None:
        """Compute reserved headroom bottom-up once the earlier admissions are loaded."""
        self.headroom = self._propagate({s: s.subtree for s in self.states.values()}, write=True)

    # -- reading

    def share(self, state: _TenantState) -> tuple[float, str | None]:
        """Weighted dominant share of the tenant's subtree and its dominant resource."""
        best, resource = 0.0, None
        for r in _R:
            if self.capacity[r] > 0 and state.subtree[r]:
                share = state.subtree[r] / self.capacity[r]
                if share > best:
                    best, resource = share, RESOURCE_NAMES[r]
        return best / state.weight, resource

    def within_guarantee(self, state: _TenantState, amount: Vector) -> bool:
        """True when the tenant has a guarantee and stays within it, on every resource it names,
        after ``amount``."""
        return state.has_guarantee and all(
            g is None or u + x <= g for g, u, x in zip(state.guarantee, state.subtree, amount, strict=True))

    def losses(self, released: Mapping[_TenantState, Vector]) -> dict[_TenantState, Vector]:
        """What each tenant's subtree loses when ``released`` (per tenant) is given back."""
        out: dict[_TenantState, Vector] = {}
        for state, amount in released.items():
            for a in state.chain():
                out[a] = _add(out.get(a, _ZERO), amount)
        return out

    def above_guarantee(self, state: _TenantState, doomed: Mapping[_TenantState, Vector]) -> bool:
        """True when some of the tenant's usage, less its ``doomed`` losses, is borrowed; all of it is
        without a guarantee."""
        usage = _sub(state.subtree, doomed.get(state, _ZERO))
        return not state.has_guarantee or any(
            g is not None and u > g for g, u in zip(state.guarantee, usage, strict=True))

    def keeps_guarantee(self, state: _TenantState, amount: Vector, doomed: Mapping[_TenantState, Vector],
                        chosen: Mapping[_TenantState, Vector]) -> bool:
        """True when releasing ``amount`` from the tenant, after the ``chosen`` losses and on top of the
        ``doomed`` ones (victims of earlier preemptors), takes neither it nor an ancestor from
        at-or-above its guarantee to below it."""
        for a in state.chain():
            gone, more = doomed.get(a, _ZERO), chosen.get(a, _ZERO)
            for r in _R:
                g = a.guarantee[r]
                if g is not None:
                    start = a.subtree[r] - gone[r]
                    if start >= g > start - more[r] - amount[r]:
                        return False
        return True

    def over_limit_alone(self, state: _TenantState, amount: Vector) -> str | None:
        """A message when ``amount`` alone exceeds the tenant's or an ancestor's limit, whatever the usage."""
        for a in state.chain():
            over = [r for r in _R if a.limit[r] is not None and amount[r] > a.limit[r]]
            if over:
                whose = f"tenant {a.name}'s" if a is state else f"ancestor tenant {a.name}'s"
                return "; ".join(
                    f"needs {format_amount(RESOURCE_NAMES[r], amount[r])} {_label(r)}, more than {whose} "
                    f"limit of {format_amount(RESOURCE_NAMES[r], a.limit[r])} {_label(r)}" for r in over)
        return None

    def check(self, state: _TenantState, amount: Vector, free: Sequence[int],
              released: Mapping[_TenantState, Vector] | None = None) -> _Refusal | None:
        """Why ``amount`` cannot be admitted for the tenant now, or None when it can.

        Limits hold for the tenant and its ancestors. On a resource where the tenant stays
        within its guarantee the claim needs only free capacity; where it borrows, the free
        capacity left must still cover other tenants' unmet guarantees (Mesos: quota
        guarantees are allocated first, fair-share allocation keeps their headroom).
        ``free`` is the cluster's free capacity per resource; ``released`` is usage that
        preempted victims would give back (per tenant), already added to ``free``.
        """
        deltas = {s: tuple(-x for x in v) for s, v in (released or {}).items()}
        deltas[state] = _add(deltas.get(state, _ZERO), amount)
        after = self._subtree_after(deltas)
        for a in state.chain():
            for r in _R:
                if a.limit[r] is not None and after[a][r] > a.limit[r]:
                    name = RESOURCE_NAMES[r]
                    whose = f"tenant {a.name}" if a is state else f"ancestor tenant {a.name}"
                    used, limit = format_amount(name, a.subtree[r]), format_amount(name, a.limit[r])
                    return _Refusal("WaitingForQuota", (
                        f"{whose} uses {used} of its {limit} {_label(r)} limit; the claim needs "
                        f"{format_amount(name, amount[r])} more"), preemption_helps=False)
        headroom = self._propagate(after, write=False, claimant=state)
        for r in _R:
            if self.capacity[r] <= 0:
                continue
            name = RESOURCE_NAMES[r]
            if free[r] < amount[r]:
                return _Refusal("Unschedulable", (
                    f"the cluster has {format_amount(name, max(free[r], 0))} {_label(r)} free; "
                    f"the claim needs {format_amount(name, amount[r])} {_label(r)}"))
            borrows = state.guarantee[r] is None or after[state][r] > state.guarantee[r]
            if borrows and free[r] - amount[r] < headroom[r]:
                whose = self._unmet_text(state, r)
                kept = f"{format_amount(name, headroom[r])} for unmet guarantees ({whose})"
                return _Refusal("WaitingForQuota", (
                    f"the cluster has {format_amount(name, free[r])} {_label(r)} free and keeps {kept}; "
                    f"the claim needs {format_amount(name, amount[r])} {_label(r)}"))
        return None

    def _unmet_text(self, state: _TenantState, r: int) -> str:
        own = set(state.chain())
        unmet = [(s.guarantee[r] - s.subtree[r], s.name) for s in self.states.values()
                 if s not in own and s.guarantee[r] is not None and s.guarantee[r] > s.subtree[r]]
        shown = [f"{name}: {format_amount(RESOURCE_NAMES[r], amount)}"
                 for amount, name in heapq.nsmallest(3, unmet, key=lambda p: (-p[0], p[1]))]
        return ", ".join(shown) or "none besides this tenant's"

    # -- writing

    def admit(self, state: _TenantState, amount: Vector, *, nominated: bool = False) -> None:
        """Count an admission (or a preemptor's nomination) against the tenant and its ancestors."""
        after = self._subtree_after({state: amount})
        for s, usage in after.items():
            s.subtree = usage
        self.headroom = self._propagate(after, write=True)
        if nominated:
            state.nominated = _add(state.nominated, amount)

    # -- propagation up the tree

    def _subtree_after(self, deltas: Mapping[_TenantState, Vector]) -> dict[_TenantState, Vector]:
        after: dict[_TenantState, Vector] = {}
        for state, delta in deltas.items():
            for a in state.chain():
                after[a] = _add(after.get(a, a.subtree), delta)
        return after

    def _propagate(self, subtree: Mapping[_TenantState, Vector], *, write: bool,
                   claimant: _TenantState | None = None) -> Vector:
        """The headroom total once the tenants in ``subtree`` (closed under parents) have that usage.

        A subtree reserves the larger of its own unmet guarantee and what its children reserve.
        With ``claimant``, the own guarantees of the claimant and its ancestors are left out: a
        tenant is never kept from what is kept for itself.
        """
        own = set(claimant.chain()) if claimant is not None else set()
        child_delta: dict[_TenantState, list[int]] = defaultdict(lambda: [0] * len(_R))
        total = list(self.headroom)
        for state in sorted(subtree, key=lambda s: -s.depth):
            children = _add(state.child_reserved, child_delta.get(state, _ZERO))
            unmet = _ZERO if state in own else state.unmet(subtree[state])
            reserved = tuple(max(u, c) for u, c in zip(unmet, children, strict=True))
            change = _sub(reserved, state.reserved)
            if write:
                state.child_reserved, state.reserved = children, reserved
            target = child_delta[state.parent] if state.parent is not None else total
            for r in _R:
                target[r] += change[r]
        return tuple(total)

    def usage_report(self, state: _TenantState) -> TenantUsage:
        usage = _sub(state.subtree, state.nominated)
        share, resource = self.share(state)
        named = [(name, usage[r], g) for r, name in enumerate(RESOURCE_NAMES)
                 if (g := state.guarantee[r]) is not None]
        return TenantUsage(
            usage={name: usage[r] for r, name in enumerate(RESOURCE_NAMES) if usage[r]},
            guaranteed={name: min(used, g) for name, used, g in named},
            borrowed={name: max(0, used - g) for name, used, g in named},
            dominant_share=share, dominant_resource=resource,
            admitted=state.admitted, pending=state.pending)


# ---------------------------------------------------------------------------------------------
# Nodes: free capacity, indexed by free CPU

class _Cluster:
    """Free capacity per node, indexed per pool by free CPU: a pod set scans only its pool's nodes
    with enough CPU."""

    def __init__(self, nodes: Sequence[Node], pools: Mapping[str, Pool]) -> None:
        self.nodes = list(nodes)
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        if len(self.index) != len(self.nodes):
            raise ValueError("node names must be unique")
        self.declared = [tuple(name in n.allocatable for name in RESOURCE_NAMES) for n in self.nodes]
        self.free = [list(_sub(_vector(n.allocatable, UNLIMITED), _vector(n.used))) for n in self.nodes]
        self.capacity: Vector = tuple(
            sum(n.allocatable.get(name, 0) for n in self.nodes) for name in RESOURCE_NAMES)
        self.free_total = [sum(free[r] for free, declared in zip(self.free, self.declared, strict=True)
                               if declared[r]) for r in _R]
        self.pools = pools
        self.by_cpu: dict[str | None, list[tuple[int, int]]] = {}  # pool (None: no pool) -> (free CPU, node)
        self.member_of: list[list[str | None]] = [[] for _ in self.nodes]
        self._attributes: dict[str, list[str | None]] = {}
        self._masks: dict[tuple, tuple[bytearray, int]] = {}

    def hold(self, i: int, per_pod: Vector, pods: int) -> None:
        """Take ``pods`` × ``per_pod`` from node ``i`` (directly before :meth:`build_index`, then
        through :meth:`commit`)."""
        free, declared = self.free[i], self.declared[i]
        for r in _R:
            free[r] -= pods * per_pod[r]
            if declared[r]:
                self.free_total[r] -= pods * per_pod[r]

    def build_index(self) -> None:
        for key in (None, *self.pools):
            pool = self.pools.get(key) if key is not None else None
            members = [i for i, n in enumerate(self.nodes) if not n.unschedulable and _in_pool(n, pool)]
            self.by_cpu[key] = sorted((self.free[i][CPU], i) for i in members)
            for i in members:
                self.member_of[i].append(key)

    def commit(self, placed: Mapping[int, int], per_pod: Vector) -> None:
        """Take admitted pods from their nodes, keeping the free-CPU indexes sorted."""
        for i, pods in placed.items():
            for key in self.member_of[i]:
                index = self.by_cpu[key]
                del index[bisect.bisect_left(index, (self.free[i][CPU], i))]
            self.hold(i, per_pod, pods)
            for key in self.member_of[i]:
                bisect.insort(self.by_cpu[key], (self.free[i][CPU], i))

    def attribute(self, name: str) -> list[str | None]:
        """Each node's value of a constraint field (@hostname, @zone, @region or a label key)."""
        if name not in self._attributes:
            if name == HOSTNAME:
                self._attributes[name] = [n.name for n in self.nodes]
            else:
                label = FIELD_LABELS.get(name, name)
                self._attributes[name] = [n.labels.get(label) for n in self.nodes]
        return self._attributes[name]

    def mask(self, pool: Pool | None, constraints: tuple[Constraint, ...]) -> tuple[bytearray, int]:
        """Which nodes a pod set may use at all (pool, taints, cordon, attribute constraints), and how
        many."""
        key = (pool.name if pool else None, constraints)
        if key not in self._masks:
            allowed = bytearray(len(self.nodes))
            for i, node in enumerate(self.nodes):
                allowed[i] = (not node.unschedulable and _in_pool(node, pool)
                              and all(_admits(c, self.attribute(c.field)[i]) for c in constraints))
            self._masks[key] = (allowed, sum(allowed))
        return self._masks[key]


def _in_pool(node: Node, pool: Pool | None) -> bool:
    tolerations = pool.tolerations if pool else ()
    if pool is not None and not pool.selector.matches(node.labels):
        return False
    return all(taint.effect == "PreferNoSchedule" or any(t.tolerates(taint) for t in tolerations)
               for taint in node.taints)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _admits(constraint: Constraint, value: str | None) -> bool:
    """Whether a node with this attribute value may hold a pod at all (Marathon: a missing attribute
    satisfies UNLIKE only)."""
    op = constraint.operator
    if op == "UNLIKE":
        return value is None or not _regex(constraint.value).fullmatch(value)
    if value is None:
        return False
    if op == "LIKE":
        return bool(_regex(constraint.value).fullmatch(value))
    if op == "IS" or (op == "CLUSTER" and constraint.value is not None):
        return value == constraint.value
    return True  # UNIQUE, MAX_PER, GROUP_BY, CLUSTER: decided by counting pods per value


# ---------------------------------------------------------------------------------------------
# Placement

class _Shape:
    """A pod set compiled against the cluster: per-pod vector, allowed nodes and per-value caps."""

    __slots__ = ("pod_set", "per_pod", "needed", "allowed", "allowed_count", "node_cap", "caps",
                 "grouping", "group_values", "where", "cache_key")

    def __init__(self, pod_set: PodSet, pool: Pool | None, cluster: _Cluster) -> None:
        self.pod_set = pod_set
        self.per_pod = pod_set.per_pod
        self.needed = tuple(r for r in _R if self.per_pod[r] > 0)
        constraints = tuple(sorted(set(pod_set.constraints), key=str))
        self.allowed, self.allowed_count = cluster.mask(pool, constraints)
        self.node_cap = UNLIMITED
        per_value: dict[str, int] = {}
        self.grouping: Constraint | None = None
        for c in pod_set.constraints:
            cap = 1 if c.operator == "UNIQUE" else c.number if c.operator == "MAX_PER" else None
            if cap is not None and c.field == HOSTNAME:
                self.node_cap = min(self.node_cap, cap)
            elif cap is not None:
                per_value[c.field] = min(per_value.get(c.field, UNLIMITED), cap)
            elif c.groups:
                self.grouping = c
        self.caps = [(cluster.attribute(f), cap, f) for f, cap in sorted(per_value.items())]
        self.group_values = cluster.attribute(self.grouping.field) if self.grouping else None
        self.where = f" in pool {pool.name}" if pool else ""
        self.cache_key = (pod_set.pool, constraints)


class _View:
    """Free capacity as one claim's evaluation sees it: the cluster's, minus pods placed tentatively,
    plus what preempted victims would release (negative entries in the overlay)."""

    def __init__(self, cluster: _Cluster, overlay: Mapping[int, Vector] | None = None) -> None:
        self.cluster = cluster
        self.overlay: dict[int, Vector] = dict(overlay or {})

    def fit(self, i: int, shape: _Shape) -> int:
        """How many more pods of the shape node ``i`` has room for."""
        free, extra = self.cluster.free[i], self.overlay.get(i)
        per_pod, best = shape.per_pod, UNLIMITED
        for r in shape.needed:
            room = (free[r] - extra[r]) if extra is not None else free[r]
            pods = room // per_pod[r]
            if pods < best:
                best = pods
        return best

    def nodes_by_free_cpu(self, shape: _Shape) -> Iterator[int]:
        """The shape's pool nodes that may have its CPU free, least free first; then nodes that only
        victims' release makes so. Callers still check ``shape.allowed``."""
        by_cpu, cpu = self.cluster.by_cpu[shape.pod_set.pool], shape.per_pod[CPU]
        for pos in range(bisect.bisect_left(by_cpu, (cpu, -1)), len(by_cpu)):
            yield by_cpu[pos][1]
        free = self.cluster.free
        for i, extra in self.overlay.items():
            if extra[CPU] < 0 and free[i][CPU] < cpu:
                yield i

    def use(self, placed: Mapping[int, int], per_pod: Vector) -> None:
        for i, pods in placed.items():
            self.overlay[i] = _add(self.overlay.get(i, _ZERO), per_pod, pods)


def _fill(view: _View, shape: _Shape, nodes: Iterable[int], target: int,
          counts: list[Counter]) -> tuple[dict[int, int], int]:
    """Place up to ``target`` pods on ``nodes`` in order, within node room and per-value caps.

    ``counts`` (pods per value, one Counter per cap) is updated in place.
    """
    placed: dict[int, int] = {}
    total = 0
    allowed, caps = shape.allowed, shape.caps
    for i in nodes:
        if not allowed[i]:
            continue
        pods = min(view.fit(i, shape), shape.node_cap, target - total)
        for (values, cap, _), count in zip(caps, counts, strict=True):
            pods = min(pods, cap - count[values[i]])
        if pods <= 0:
            continue
        placed[i] = pods
        total += pods
        for (values, _, _), count in zip(caps, counts, strict=True):
            count[values[i]] += pods
        if total >= target:
            break
    return placed, total


class _Groups:
    """The values of a pod set's GROUP_BY / CLUSTER field, each with its nodes and an upper bound of
    its room."""

    def __init__(self, view: _View, shape: _Shape) -> None:
        self.members: dict[str, list[int]] = defaultdict(list)
        self.room: Counter = Counter()
        for i in view.nodes_by_free_cpu(shape):
            if shape.allowed[i]:
                pods = min(view.fit(i, shape), shape.node_cap)
                if pods > 0:
                    value = shape.group_values[i]
                    self.members[value].append(i)
                    self.room[value] += pods
        for _, cap, name in shape.caps:
            if name == shape.grouping.field:
                for value in self.room:
                    self.room[value] = min(self.room[value], cap)


def _place_grouped(view: _View, shape: _Shape, groups: _Groups, pods: int) -> dict[int, int] | None:
    """Place exactly ``pods`` pods honouring the pod set's GROUP_BY or value-less CLUSTER, or None."""
    grouping = shape.grouping
    if grouping.operator == "CLUSTER":
        for value in sorted(groups.room, key=lambda v: (groups.room[v], v)):  # smallest value that fits
            if groups.room[value] >= pods:
                counts = [Counter() for _ in shape.caps]
                placed, total = _fill(view, shape, groups.members[value], pods, counts)
                if total == pods:
                    return placed
        return None
    spread = min(grouping.number, pods)
    each, extra = divmod(pods, spread)
    need = {each + 1: extra, each: spread - extra}
    placed_all: dict[int, int] = {}
    counts = [Counter() for _ in shape.caps]
    for value in sorted(groups.room, key=lambda v: (-groups.room[v], v)):  # most room first
        for want in (each + 1, each):
            if need.get(want) and groups.room[value] >= want:
                trial = [Counter(c) for c in counts]
                placed, total = _fill(view, shape, groups.members[value], want, trial)
                if total == want:
                    placed_all.update(placed)
                    counts = trial
                    need[want] -= 1
                    break
        if not any(need.values()):
            return placed_all
    return None


def _place(view: _View, shape: _Shape, low: int, high: int) -> dict[int, int] | str:
    """Place between ``low`` and ``high`` pods of the shape (as many as fit), or say why not.

    Returns ``{node index: pods}`` or the failure message.
    """
    if shape.allowed_count == 0:
        return f"no schedulable node{shape.where} satisfies {_constraints_text(shape) or 'the pool'}"
    if shape.grouping is None:
        placed, total = _fill(view, shape, view.nodes_by_free_cpu(shape), high,
                              [Counter() for _ in shape.caps])
        return placed if total >= low else _no_room_message(view, shape, low, placed, total)
    groups = _Groups(view, shape)
    best = _place_grouped(view, shape, groups, high)
    if best is not None:
        return best
    best = _place_grouped(view, shape, groups, low) if low < high else None
    if best is None:
        return _no_group_message(shape, groups, low)
    fits, fails = low, high
    while fails - fits > 1:
        middle = (fits + fails) // 2
        placed = _place_grouped(view, shape, groups, middle)
        if placed is None:
            fails = middle
        else:
            fits, best = middle, placed
    return best


def _constraints_text(shape: _Shape) -> str:
    return ", ".join(str(c) for c in shape.pod_set.constraints)


def _names(view: _View, nodes: Iterable[int], limit: int = 5) -> str:
    names = sorted(view.cluster.nodes[i].name for i in nodes)
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _no_room_message(view: _View, shape: _Shape, pods: int, placed: Mapping[int, int], total: int) -> str:
    request = describe(shape.per_pod)
    if shape.node_cap == 1 and not shape.caps:
        found = f" ({_names(view, placed)})" if placed else ""
        return f"needs {pods} distinct hosts with {request} free{shape.where}; {total} available{found}"
    rules = _constraints_text(shape)
    rules = f" ({rules})" if rules else ""
    where = f" on {len(placed)} nodes ({_names(view, placed)})" if placed else ""
    return f"needs room for {pods} pods of {request}{shape.where}{rules}; room for {total}{where}"


def _no_group_message(shape: _Shape, groups: _Groups, pods: int) -> str:
    grouping, request = shape.grouping, describe(shape.per_pod)
    rooms = sorted(groups.room.items(), key=lambda kv: (-kv[1], kv[0]))
    room_text = ", ".join(f"{v}: {n}" for v, n in rooms[:6]) or "no value has room"
    if grouping.operator == "CLUSTER":
        return (f"needs {pods} pods of {request} on one value of {grouping.field}{shape.where}; "
                f"room per value: {room_text}")
    spread = min(grouping.number, pods)
    each, extra = divmod(pods, spread)
    share = f"{each}" if not extra else f"{each} or {each + 1}"
    return (f"needs {pods} pods of {request} spread over {spread} values of {grouping.field} ({share} each)"
            f"{shape.where}; {len(rooms)} values have room: {room_text}")


# ---------------------------------------------------------------------------------------------
# The pass

@dataclass
class _Running:
    """An admitted claim: what it holds, per tenant and per node, and what it would free in the cluster."""

    claim: Claim
    tenant: _TenantState | None
    usage: Vector
    holdings: dict[int, Vector]
    frees: Vector  # the part of ``usage`` on nodes that declare each resource


class _Allocator:
    def __init__(self, nodes: Sequence[Node], pools: Sequence[Pool], tenants: Sequence[Tenant],
                 claims: Sequence[Claim], preemption: bool) -> None:
        self.pools = {p.name: p for p in pools}
        self.cluster = _Cluster(nodes, self.pools)
        self.quota = _Quota(tenants, self.cluster.capacity)
        self.preemption = preemption
        self.running: list[_Running] = []
        self.preemptible: list[_Running] = []   # running preemptible claims, in victim preference order
        self.pending: list[Claim] = []
        self.taken: set[str] = set()             # victims already chosen in this pass
        self.doomed: dict[_TenantState, Vector] = {}  # what those victims will release, per tenant
        # Per pool and constraints, pod sets that found no room in this pass: (per pod, minimum, why).
        self.unplaceable: dict[tuple, list[tuple[Vector, int, str]]] = defaultdict(list)
        for claim in claims:
            if claim.admission is None:
                self.pending.append(claim)
            else:
                self._load_admitted(claim)
        self.cluster.build_index()
        self.quota.settle()
        self.preemptible = [r for r in self.running if r.claim.preemptible and r.tenant is not None]
        self.preemptible.sort(key=lambda r: r.claim.key)
        self.preemptible.sort(key=lambda r: r.claim.created, reverse=True)  # newest first
        self.preemptible.sort(key=lambda r: r.claim.priority)  # lowest priority first (the sorts are stable)

    def _load_admitted(self, claim: Claim) -> None:
        per_pod = {ps.name: ps.per_pod for ps in claim.pod_sets}
        usage, holdings = _ZERO, {}
        for name, nodes in claim.admission.items():
            if name not in per_pod:
                continue
            for node, pods in nodes.items():
                usage = _add(usage, per_pod[name], pods)
                i = self.cluster.index.get(node)
                if i is not None:
                    self.cluster.hold(i, per_pod[name], pods)
                    holdings[i] = _add(holdings.get(i, _ZERO), per_pod[name], pods)
        state = self.quota.states.get(claim.tenant)
        if state is not None:
            self.quota.load(state, usage)
            state.admitted += 1
        frees = _ZERO
        for i, held in holdings.items():
            frees = _add(frees, tuple(x if declared else 0 for x, declared in
                                      zip(held, self.cluster.declared[i], strict=True)))
        self.running.append(_Running(claim, state, usage, holdings, frees))

    # -- the DRF loop

    def run(self) -> Allocation:
        decisions: list[Decision] = []
        queues: dict[str, list[Claim]] = defaultdict(list)
        for claim in sorted(self.pending, key=lambda c: (-c.priority, c.created, c.key)):
            if claim.tenant not in self.quota.states:
                why = f"tenant {claim.tenant} does not exist"
                decisions.append(Pending(claim.key, "TenantNotFound", why))
            elif claim.preempting:  # waiting for its victims: first pick of what they released
                decisions.append(self._decide(claim, self.quota.states[claim.tenant]))
            else:
                queues[claim.tenant].append(claim)
        for queue in queues.values():
            queue.reverse()  # pop() from the end takes the head
        heap = [(self._turn(name, queue[-1]), name) for name, queue in queues.items()]
        heapq.heapify(heap)
        while heap:
            _, name = heapq.heappop(heap)
            queue = queues[name]
            decisions.append(self._decide(queue.pop(), self.quota.states[name]))
            if queue:
                heapq.heappush(heap, (self._turn(name, queue[-1]), name))
        tenants = {name: self.quota.usage_report(s) for name, s in self.quota.states.items()}
        return Allocation(decisions, tenants)

    def _turn(self, name: str, head: Claim) -> tuple[int, float]:
        """A tenant's place in the queue: next claim within guarantee first, then lowest weighted
        dominant share."""
        state = self.quota.states[name]
        within = self.quota.within_guarantee(state, head.minimum)
        return (0 if within else 1, self.quota.share(state)[0])

    def _decide(self, claim: Claim, state: _TenantState) -> Decision:
        shapes = self._shapes(claim)
        outcome = self._admit(claim, state, shapes) if not isinstance(shapes, _Refusal) else shapes
        if isinstance(outcome, Admit):
            state.admitted += 1
            return outcome
        state.pending += 1
        message = outcome.message
        if outcome.preemption_helps and self._may_preempt(claim, state):
            found = self._preempt(claim, state, shapes, outcome)
            if isinstance(found, Preempt):
                return found
            message = f"{message}; {found}"
        return Pending(claim.key, outcome.reason, message)

    # -- admission

    def _shapes(self, claim: Claim) -> list[_Shape] | _Refusal:
        shapes = []
        for ps in claim.pod_sets:
            if ps.pool is not None and ps.pool not in self.pools:
                return _Refusal("Unschedulable", f"pod set {ps.name}: node pool {ps.pool} does not exist",
                                preemption_helps=False)
            shapes.append(_Shape(ps, self.pools.get(ps.pool), self.cluster))
        return shapes

    def _admit(self, claim: Claim, state: _TenantState, shapes: list[_Shape]) -> Admit | _Refusal:
        """Admit the claim if quota and placement allow, taking its pods from the nodes; else say why not."""
        minimum = claim.minimum
        over = self.quota.over_limit_alone(state, minimum)
        if over:
            return _Refusal("ExceedsLimit", f"its minimum of {claim.minimum[PODS]} pods {over}",
                            preemption_helps=False)
        refused = self.quota.check(state, minimum, self.cluster.free_total)
        if refused:
            return refused
        view = _View(self.cluster)
        committed = minimum
        placements: list[dict[int, int]] = []
        for shape in shapes:
            ps = shape.pod_set
            extra = self._extra_within_quota(state, committed, shape)
            placed = self._known_unplaceable(shape) if not view.overlay else None
            placed = placed or _place(view, shape, ps.minimum, ps.minimum + extra)
            if isinstance(placed, str):
                if not view.overlay:  # the cluster alone refused it: valid for the rest of the pass
                    self.unplaceable[shape.cache_key].append((shape.per_pod, ps.minimum, placed))
                return _Refusal("Unschedulable", f"pod set {ps.name}: {placed}", placement=True)
            view.use(placed, shape.per_pod)
            committed = _add(committed, shape.per_pod, sum(placed.values()) - ps.minimum)
            placements.append(placed)
        for shape, placed in zip(shapes, placements, strict=True):
            self.cluster.commit(placed, shape.per_pod)
        self.quota.admit(state, committed)
        borrowing = not self.quota.within_guarantee(state, _ZERO)
        admitted = tuple(self._admission(s, placed) for s, placed in zip(shapes, placements, strict=True))
        what = ", ".join(f"{a.name}: {a.count} pods on {len(a.nodes)} nodes" for a in admitted)
        quota = "borrowing above" if borrowing else "within"
        return Admit(claim.key, state.name, admitted, borrowing, f"admitted {what}, {quota} tenant "
                                                                f"{state.name}'s guarantee")

    def _known_unplaceable(self, shape: _Shape) -> str | None:
        """Why the shape cannot be placed, if one no larger already failed in this pass.

        Free capacity only shrinks within a pass, and a pod set that needs at least as much per
        pod and at least as many pods, in the same pool under the same constraints, cannot fit
        where a smaller one did not.
        """
        minimum = shape.pod_set.minimum
        for per_pod, failed_minimum, why in self.unplaceable.get(shape.cache_key, ()):
            if failed_minimum <= minimum and all(a <= b for a, b in zip(per_pod, shape.per_pod, strict=True)):
                if failed_minimum == minimum and per_pod == shape.per_pod:
                    return why
                return (f"needs {minimum} pods of {describe(shape.per_pod)}{shape.where}; a pod set "
                        f"needing no more found no room in this pass ({why})")
        return None

    def _extra_within_quota(self, state: _TenantState, committed: Vector, shape: _Shape) -> int:
        """How many pods beyond the minimum quota allows for this pod set, given what is already committed."""
        ps = shape.pod_set
        room = ps.count - ps.minimum
        free = self.cluster.free_total

        def fits(extra: int) -> bool:
            return self.quota.check(state, _add(committed, shape.per_pod, extra), free) is None

        if room == 0 or fits(room):
            return room
        low, high = 0, room  # fits(low), not fits(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return low

    def _admission(self, shape: _Shape, placed: Mapping[int, int]) -> PodSetAdmission:
        nodes = tuple(sorted((self.cluster.nodes[i].name, pods) for i, pods in placed.items()))
        return PodSetAdmission(shape.pod_set.name, sum(placed.values()), nodes)

    # -- preemption

    def _may_preempt(self, claim: Claim, state: _TenantState) -> bool:
        return (self.preemption and not claim.preemptible and state.spec.preemption_policy != "Never"
                and self.quota.within_guarantee(state, claim.minimum))

    def _candidates(self, claim: Claim, state: _TenantState) -> list[_Running]:
        """Eligible victims in preference order, together keeping their tenants at or above their
        guarantees."""
        equal_ok = state.spec.preemption_policy == "LowerOrEqualPriority"
        ceiling = claim.priority if equal_ok else claim.priority - 1
        doomed = self.quota.losses(self.doomed)
        above: dict[_TenantState, bool] = {}
        chosen: list[_Running] = []
        losses: dict[_TenantState, Vector] = {}
        for r in self.preemptible:
            if r.claim.priority > ceiling:
                break
            if r.tenant is state or r.claim.key in self.taken:
                continue
            if r.tenant not in above:
                above[r.tenant] = self.quota.above_guarantee(r.tenant, doomed)
            if above[r.tenant] and self.quota.keeps_guarantee(r.tenant, r.usage, doomed, losses):
                chosen.append(r)
                for a in r.tenant.chain():
                    losses[a] = _add(losses.get(a, _ZERO), r.usage)
        return chosen

    def _fits_without(self, claim: Claim, state: _TenantState, shapes: list[_Shape],
                      victims: Sequence[_Running]) -> bool:
        """Whether the claim's minimum would be admitted once ``victims`` release what they hold."""
        released: dict[_TenantState, Vector] = {}
        free = self.cluster.free_total
        for v in victims:
            released[v.tenant] = _add(released.get(v.tenant, _ZERO), v.usage)
            free = _add(free, v.frees)
        if self.quota.check(state, claim.minimum, free, released):
            return False
        overlay: dict[int, Vector] = {}
        for v in victims:
            for i, held in v.holdings.items():
                overlay[i] = _sub(overlay.get(i, _ZERO), held)
        view = _View(self.cluster, overlay)
        for shape in shapes:
            placed = _place(view, shape, shape.pod_set.minimum, shape.pod_set.minimum)
            if isinstance(placed, str):
                return False
            view.use(placed, shape.per_pod)
        return True

    def _preempt(self, claim: Claim, state: _TenantState, shapes: list[_Shape],
                 refusal: _Refusal) -> Preempt | str:
        """Choose victims for the claim and nominate it, or say why there are none."""
        candidates = self._candidates(claim, state)
        if refusal.placement:  # only capacity on nodes the claim may use can help
            candidates = [v for v in candidates if any(s.allowed[i] for s in shapes for i in v.holdings)]
        if not candidates:
            than = "<" if state.spec.preemption_policy == "LowerPriority" else "<="
            where = " holds capacity on the nodes it may use" if refusal.placement else " can be preempted"
            return (f"no preemptible claim of priority {than} {claim.priority} from a tenant above its "
                    f"guarantee{where}")
        if not self._fits_without(claim, state, shapes, candidates):
            return f"preempting all {len(candidates)} eligible claims would not make room"
        victims = self._fewest_victims(claim, state, shapes, candidates)
        for v in victims:
            self.taken.add(v.claim.key)
            self.doomed[v.tenant] = _add(self.doomed.get(v.tenant, _ZERO), v.usage)
        self.quota.admit(state, claim.minimum, nominated=True)
        names = tuple(v.claim.key for v in victims)
        return Preempt(claim.key, names, f"preempting {', '.join(names)} to make room within tenant "
                                         f"{state.name}'s guarantee")

    def _fewest_victims(self, claim: Claim, state: _TenantState, shapes: list[_Shape],
                        candidates: list[_Running]) -> list[_Running]:
        """A small victim set that makes room: one victim if one suffices, else the shortest sufficient
        prefix of ``candidates`` with every victim that is not needed dropped again."""
        for single in candidates[:_SINGLE_VICTIM_TRIES]:
            if self._fits_without(claim, state, shapes, [single]):
                return [single]
        fits, fails = len(candidates), 1  # the whole list makes room, the first one alone does not
        while fits - fails > 1:
            middle = (fits + fails) // 2
            if self._fits_without(claim, state, shapes, candidates[:middle]):
                fits = middle
            else:
                fails = middle
        chosen = candidates[:fits]
        for victim in reversed(chosen[:-1]):
            rest = [v for v in chosen if v is not victim]
            if self._fits_without(claim, state, shapes, rest):
                chosen = rest
        return chosen


# Single victims tried before the greedy prefix search (bounds the work for one preemptor).
_SINGLE_VICTIM_TRIES = 16


def allocate(nodes: Sequence[Node], tenants: Sequence[Tenant], claims: Sequence[Claim],
             pools: Sequence[Pool] = (), *, preemption: bool = True) -> Allocation:
    """Decide every pending claim (``admission is None``) given the admitted ones; see the module docstring.

    ``claims`` holds both: admitted claims count against their tenants and nodes, pending
    ones are decided in weighted-DRF order. Returns an :class:`Allocation` whose decisions
    are in the order they were made. ``preemption=False`` never proposes victims.

    Raises ValueError for inconsistent input: duplicate node or tenant names, an unknown or
    cyclic tenant parent, an unknown resource name, a weight below 1.
    """
    return _Allocator(nodes, pools, tenants, claims, preemption).run()
