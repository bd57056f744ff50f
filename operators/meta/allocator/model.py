"""The allocator's inputs and outputs, plain frozen dataclasses with amounts in base units.

Inputs (all amounts are integers in base units: CPU in millicores, memory, ephemeral-storage
and storage in bytes, pods as a count; :func:`operators.sdk.quantities.parse_amounts` turns
quantities into them):

- :class:`Node`: allocatable, labels, taints, and ``used`` — what pods outside any claim hold
  (DaemonSets, system pods). What admitted claims hold is derived from their admission.
- :class:`Pool`: a named set of nodes by label selector, with the taints its pods tolerate.
- :class:`Tenant`: guarantee and limit per resource, weight, parent, preemption policy.
- :class:`Claim`: pod sets (count, gang minimum, per-pod requests, pool, Marathon constraints),
  priority, preemptible; ``admission`` is set for claims admitted earlier.

Output: an :class:`Allocation` — one decision per pending claim, in the order they were made
(:class:`Admit`, :class:`Pending` with a reason and a precise message, or :class:`Preempt`
naming victims), and per-tenant usage for the Tenant status.

Inside the allocator an amount is a :data:`Vector`, one integer per resource in the order of
:data:`operators.sdk.quantities.RESOURCE_NAMES`. The dataclasses check their own invariants
and raise ValueError: a second guard behind the wire models' validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from ...sdk.quantities import RESOURCE_NAMES, format_amount
from ...sdk.selectors import Selector, Taint, Toleration

# ---------------------------------------------------------------------------------------------
# Resources as vectors

CPU, MEMORY, EPHEMERAL_STORAGE, STORAGE, PODS = range(5)
RESOURCES = range(len(RESOURCE_NAMES))
ZERO = (0,) * len(RESOURCE_NAMES)
# "Not limited": what a node does not declare, a limit that is not set. Larger than any real amount.
UNLIMITED = 1 << 62

Vector = tuple[int, ...]


def resource_word(resource: int) -> str:
    """The word for a resource index in messages: "CPU", "memory", "ephemeral storage", …"""
    return {CPU: "CPU", EPHEMERAL_STORAGE: "ephemeral storage"}.get(resource, RESOURCE_NAMES[resource])


def describe(vector: Sequence[int], *, pods: bool = False) -> str:
    """Human words for an amount: "4 CPU, 16Gi memory" (pods only when asked)."""
    parts = [f"{format_amount(RESOURCE_NAMES[r], vector[r])} {resource_word(r)}"
             for r in RESOURCES if vector[r] and (pods or r != PODS)]
    return ", ".join(parts) or "nothing"


def to_vector(amounts: Mapping[str, int], default: int = 0) -> Vector:
    """``{resource: amount}`` as a vector, ``default`` where a resource is absent; ValueError for an
    unknown resource name."""
    unknown = sorted(set(amounts) - set(RESOURCE_NAMES))
    if unknown:
        raise ValueError(f"unknown resources {unknown}; known: {', '.join(RESOURCE_NAMES)}")
    return tuple(int(amounts.get(name, default)) for name in RESOURCE_NAMES)


def to_named(amounts: Mapping[str, int]) -> tuple[int | None, ...]:
    """Like :func:`to_vector`, with None where a resource is not named (not guaranteed, not limited)."""
    to_vector(amounts)  # validates the names
    return tuple(None if name not in amounts else int(amounts[name]) for name in RESOURCE_NAMES)


def add(a: Sequence[int], b: Sequence[int], times: int = 1) -> Vector:
    """``a + times × b``, per resource."""
    return tuple(x + times * y for x, y in zip(a, b, strict=True))


def sub(a: Sequence[int], b: Sequence[int]) -> Vector:
    """``a - b``, per resource."""
    return tuple(x - y for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------
# Inputs

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
        to_vector(self.requests)
        if sum(c.groups for c in self.constraints) > 1:
            raise ValueError(f"pod set {self.name}: at most one GROUP_BY or value-less CLUSTER constraint")

    @property
    def minimum(self) -> int:
        return self.count if self.min_count is None else self.min_count

    @cached_property
    def per_pod(self) -> Vector:
        """The per-pod request vector, with the implied pod."""
        return add(to_vector(self.requests), (0, 0, 0, 0, 1))


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
        total = ZERO
        for ps in self.pod_sets:
            total = add(total, ps.per_pod, ps.minimum)
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
