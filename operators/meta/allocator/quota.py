"""Quota: guarantees, limits, headroom and the weighted dominant share of each tenant.

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

The dominant share (Ghodsi et al., "Dominant Resource Fairness", NSDI 2011; Mesos
``sorter/drf/sorter.cpp``) is max over resources of the subtree's usage / cluster capacity,
divided by the tenant's weight; :mod:`.allocate` orders tenants by it.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ...sdk.quantities import RESOURCE_NAMES, format_amount
from .model import RESOURCES, ZERO, PendingReason, Tenant, TenantUsage, Vector, add, resource_word, sub, to_named


@dataclass(frozen=True)
class Refusal:
    """Why a claim is not admitted now; ``preemption_helps`` when releasing other tenants' claims
    could change it."""

    reason: PendingReason
    message: str
    preemption_helps: bool = True
    placement: bool = False  # refused by placement on nodes, not by quota or aggregate capacity


class TenantState:
    __slots__ = ("name", "spec", "parent", "children", "depth", "guarantee", "limit", "weight",
                 "subtree", "nominated", "reserved", "child_reserved", "admitted", "pending")

    def __init__(self, spec: Tenant) -> None:
        if spec.weight < 1:
            raise ValueError(f"tenant {spec.name}: weight must be >= 1, got {spec.weight}")
        self.name = spec.name
        self.spec = spec
        self.parent: TenantState | None = None
        self.children: list[TenantState] = []
        self.depth = 0
        self.guarantee = to_named(spec.guarantee)
        self.limit = to_named(spec.limit)
        self.weight = spec.weight
        self.subtree: Vector = ZERO        # usage of the tenant and its descendants
        self.nominated: Vector = ZERO      # requests of its preemptors, counted until they are admitted
        self.reserved: Vector = ZERO       # headroom the subtree needs for unmet guarantees
        self.child_reserved: Vector = ZERO
        self.admitted = 0
        self.pending = 0

    @property
    def has_guarantee(self) -> bool:
        return any(g is not None for g in self.guarantee)

    def chain(self) -> Iterator[TenantState]:
        node: TenantState | None = self
        while node is not None:
            yield node
            node = node.parent

    def unmet(self, subtree: Sequence[int]) -> Vector:
        return tuple(0 if g is None else max(0, g - u) for g, u in zip(self.guarantee, subtree, strict=True))


class Quota:
    """Tenant usage, the headroom unmet guarantees need, and the checks an admission must pass."""

    def __init__(self, tenants: Sequence[Tenant], capacity: Vector) -> None:
        self.capacity = capacity
        self.states: dict[str, TenantState] = {}
        for spec in tenants:
            if spec.name in self.states:
                raise ValueError(f"tenant {spec.name} is given twice")
            self.states[spec.name] = TenantState(spec)
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
        self.headroom: Vector = ZERO

    def load(self, state: TenantState, amount: Vector) -> None:
        """Count an earlier admission (before :meth:`settle`)."""
        for a in state.chain():
            a.subtree = add(a.subtree, amount)

    def settle(self) -> None:
        """Compute reserved headroom bottom-up once the earlier admissions are loaded."""
        self.headroom = self._propagate({s: s.subtree for s in self.states.values()}, write=True)

    # -- reading

    def share(self, state: TenantState) -> tuple[float, str | None]:
        """Weighted dominant share of the tenant's subtree and its dominant resource."""
        best, resource = 0.0, None
        for r in RESOURCES:
            if self.capacity[r] > 0 and state.subtree[r]:
                share = state.subtree[r] / self.capacity[r]
                if share > best:
                    best, resource = share, RESOURCE_NAMES[r]
        return best / state.weight, resource

    def within_guarantee(self, state: TenantState, amount: Vector) -> bool:
        """True when the tenant has a guarantee and stays within it, on every resource it names,
        after ``amount``."""
        return state.has_guarantee and all(
            g is None or u + x <= g for g, u, x in zip(state.guarantee, state.subtree, amount, strict=True))

    def losses(self, released: Mapping[TenantState, Vector]) -> dict[TenantState, Vector]:
        """What each tenant's subtree loses when ``released`` (per tenant) is given back."""
        out: dict[TenantState, Vector] = {}
        for state, amount in released.items():
            for a in state.chain():
                out[a] = add(out.get(a, ZERO), amount)
        return out

    def above_guarantee(self, state: TenantState, doomed: Mapping[TenantState, Vector]) -> bool:
        """True when some of the tenant's usage, less its ``doomed`` losses, is borrowed; all of it is
        without a guarantee."""
        usage = sub(state.subtree, doomed.get(state, ZERO))
        return not state.has_guarantee or any(
            g is not None and u > g for g, u in zip(state.guarantee, usage, strict=True))

    def keeps_guarantee(self, state: TenantState, amount: Vector, doomed: Mapping[TenantState, Vector],
                        chosen: Mapping[TenantState, Vector]) -> bool:
        """True when releasing ``amount`` from the tenant, after the ``chosen`` losses and on top of the
        ``doomed`` ones (victims of earlier preemptors), takes neither it nor an ancestor from
        at-or-above its guarantee to below it."""
        for a in state.chain():
            gone, more = doomed.get(a, ZERO), chosen.get(a, ZERO)
            for r in RESOURCES:
                g = a.guarantee[r]
                if g is not None:
                    start = a.subtree[r] - gone[r]
                    if start >= g > start - more[r] - amount[r]:
                        return False
        return True

    def over_limit_alone(self, state: TenantState, amount: Vector) -> str | None:
        """A message when ``amount`` alone exceeds the tenant's or an ancestor's limit, whatever the usage."""
        for a in state.chain():
            over = [r for r in RESOURCES if a.limit[r] is not None and amount[r] > a.limit[r]]
            if over:
                whose = f"tenant {a.name}'s" if a is state else f"ancestor tenant {a.name}'s"
                return "; ".join(
                    f"needs {format_amount(RESOURCE_NAMES[r], amount[r])} {resource_word(r)}, more than {whose} "
                    f"limit of {format_amount(RESOURCE_NAMES[r], a.limit[r])} {resource_word(r)}" for r in over)
        return None

    def check(self, state: TenantState, amount: Vector, free: Sequence[int],
              released: Mapping[TenantState, Vector] | None = None) -> Refusal | None:
        """Why ``amount`` cannot be admitted for the tenant now, or None when it can.

        Limits hold for the tenant and its ancestors. On a resource where the tenant stays
        within its guarantee the claim needs only free capacity; where it borrows, the free
        capacity left must still cover other tenants' unmet guarantees (Mesos: quota
        guarantees are allocated first, fair-share allocation keeps their headroom).
        ``free`` is the cluster's free capacity per resource; ``released`` is usage that
        preempted victims would give back (per tenant), already added to ``free``.
        """
        deltas = {s: tuple(-x for x in v) for s, v in (released or {}).items()}
        deltas[state] = add(deltas.get(state, ZERO), amount)
        after = self._subtree_after(deltas)
        for a in state.chain():
            for r in RESOURCES:
                if a.limit[r] is not None and after[a][r] > a.limit[r]:
                    name = RESOURCE_NAMES[r]
                    whose = f"tenant {a.name}" if a is state else f"ancestor tenant {a.name}"
                    used, limit = format_amount(name, a.subtree[r]), format_amount(name, a.limit[r])
                    return Refusal("WaitingForQuota", (
                        f"{whose} uses {used} of its {limit} {resource_word(r)} limit; the claim needs "
                        f"{format_amount(name, amount[r])} more"), preemption_helps=False)
        headroom = self._propagate(after, write=False, claimant=state)
        for r in RESOURCES:
            if self.capacity[r] <= 0:
                continue
            name = RESOURCE_NAMES[r]
            if free[r] < amount[r]:
                return Refusal("Unschedulable", (
                    f"the cluster has {format_amount(name, max(free[r], 0))} {resource_word(r)} free; "
                    f"the claim needs {format_amount(name, amount[r])} {resource_word(r)}"))
            borrows = state.guarantee[r] is None or after[state][r] > state.guarantee[r]
            if borrows and free[r] - amount[r] < headroom[r]:
                whose = self._unmet_text(state, r)
                kept = f"{format_amount(name, headroom[r])} for unmet guarantees ({whose})"
                return Refusal("WaitingForQuota", (
                    f"the cluster has {format_amount(name, free[r])} {resource_word(r)} free and keeps {kept}; "
                    f"the claim needs {format_amount(name, amount[r])} {resource_word(r)}"))
        return None

    def _unmet_text(self, state: TenantState, r: int) -> str:
        own = set(state.chain())
        unmet = [(s.guarantee[r] - s.subtree[r], s.name) for s in self.states.values()
                 if s not in own and s.guarantee[r] is not None and s.guarantee[r] > s.subtree[r]]
        shown = [f"{name}: {format_amount(RESOURCE_NAMES[r], amount)}"
                 for amount, name in heapq.nsmallest(3, unmet, key=lambda p: (-p[0], p[1]))]
        return ", ".join(shown) or "none besides this tenant's"

    # -- writing

    def admit(self, state: TenantState, amount: Vector, *, nominated: bool = False) -> None:
        """Count an admission (or a preemptor's nomination) against the tenant and its ancestors."""
        after = self._subtree_after({state: amount})
        for s, usage in after.items():
            s.subtree = usage
        self.headroom = self._propagate(after, write=True)
        if nominated:
            state.nominated = add(state.nominated, amount)

    # -- propagation up the tree

    def _subtree_after(self, deltas: Mapping[TenantState, Vector]) -> dict[TenantState, Vector]:
        after: dict[TenantState, Vector] = {}
        for state, delta in deltas.items():
            for a in state.chain():
                after[a] = add(after.get(a, a.subtree), delta)
        return after

    def _propagate(self, subtree: Mapping[TenantState, Vector], *, write: bool,
                   claimant: TenantState | None = None) -> Vector:
        """The headroom total once the tenants in ``subtree`` (closed under parents) have that usage.

        A subtree reserves the larger of its own unmet guarantee and what its children reserve.
        With ``claimant``, the own guarantees of the claimant and its ancestors are left out: a
        tenant is never kept from what is kept for itself.
        """
        own = set(claimant.chain()) if claimant is not None else set()
        child_delta: dict[TenantState, list[int]] = defaultdict(lambda: [0] * len(RESOURCES))
        total = list(self.headroom)
        for state in sorted(subtree, key=lambda s: -s.depth):
            children = add(state.child_reserved, child_delta.get(state, ZERO))
            unmet = ZERO if state in own else state.unmet(subtree[state])
            reserved = tuple(max(u, c) for u, c in zip(unmet, children, strict=True))
            change = sub(reserved, state.reserved)
            if write:
                state.child_reserved, state.reserved = children, reserved
            target = child_delta[state.parent] if state.parent is not None else total
            for r in RESOURCES:
                target[r] += change[r]
        return tuple(total)

    def usage_report(self, state: TenantState) -> TenantUsage:
        usage = sub(state.subtree, state.nominated)
        share, resource = self.share(state)
        named = [(name, usage[r], g) for r, name in enumerate(RESOURCE_NAMES)
                 if (g := state.guarantee[r]) is not None]
        return TenantUsage(
            usage={name: usage[r] for r, name in enumerate(RESOURCE_NAMES) if usage[r]},
            guaranteed={name: min(used, g) for name, used, g in named},
            borrowed={name: max(0, used - g) for name, used, g in named},
            dominant_share=share, dominant_resource=resource,
            admitted=state.admitted, pending=state.pending)
