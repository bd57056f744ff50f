"""The pass: load what is admitted, then decide every pending claim in weighted-DRF order.

Order (weighted DRF: Ghodsi et al., "Dominant Resource Fairness", NSDI 2011; Mesos
``sorter/drf/sorter.cpp``: share = max over resources of usage / cluster capacity, divided
by weight). Tenants take turns, lowest weighted dominant share first (tie: name); a tenant
whose next claim fits within its guarantee goes before any tenant that would borrow (Mesos
allocates to quota guarantees before the fair-share stage; Kueue's classic order puts
"under nominal quota" before borrowing). Within a tenant: higher priority first, then older,
then name. A claim that cannot be admitted does not block the tenant's later claims (Kueue's
BestEffortFIFO). Ordering is flat: a parent's share counts its subtree, there is no
hierarchical DRF. A claim that preempted in an earlier pass (``preempting``) is decided
before every other (:mod:`.preemption`).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence

from .model import (
    PODS,
    ZERO,
    Admit,
    Allocation,
    Claim,
    Decision,
    Node,
    Pending,
    PodSetAdmission,
    Pool,
    Preempt,
    Tenant,
    Vector,
    add,
    describe,
)
from .nodes import NodeIndex
from .placement import Shape, View, place
from .preemption import Preemption, Running
from .quota import Quota, Refusal, TenantState


class _Allocator:
    """One pass: the admitted claims loaded into the node index and the quota, the pending ones
    decided by :meth:`run`."""

    def __init__(self, nodes: Sequence[Node], pools: Sequence[Pool], tenants: Sequence[Tenant],
                 claims: Sequence[Claim], preemption: bool) -> None:
        self.pools = {p.name: p for p in pools}
        self.cluster = NodeIndex(nodes, self.pools)
        self.quota = Quota(tenants, self.cluster.capacity)
        self.running: list[Running] = []
        self.pending: list[Claim] = []
        # Per pool and constraints, pod sets that found no room in this pass: (per pod, minimum, why).
        self.unplaceable: dict[tuple, list[tuple[Vector, int, str]]] = defaultdict(list)
        for claim in claims:
            if claim.admission is None:
                self.pending.append(claim)
            else:
                self._load_admitted(claim)
        self.cluster.build_index()
        self.quota.settle()
        self.preemption = Preemption(self.quota, self.cluster, self.running) if preemption else None

    def _load_admitted(self, claim: Claim) -> None:
        per_pod = {ps.name: ps.per_pod for ps in claim.pod_sets}
        usage, holdings = ZERO, {}
        for name, nodes in claim.admission.items():
            if name not in per_pod:
                continue
            for node, pods in nodes.items():
                usage = add(usage, per_pod[name], pods)
                i = self.cluster.index.get(node)
                if i is not None:
                    self.cluster.hold(i, per_pod[name], pods)
                    holdings[i] = add(holdings.get(i, ZERO), per_pod[name], pods)
        state = self.quota.states.get(claim.tenant)
        if state is not None:
            self.quota.load(state, usage)
            state.admitted += 1
        frees = ZERO
        for i, held in holdings.items():
            frees = add(frees, tuple(x if declared else 0 for x, declared in
                                      zip(held, self.cluster.declared[i], strict=True)))
        self.running.append(Running(claim, state, usage, holdings, frees))

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

    def _decide(self, claim: Claim, state: TenantState) -> Decision:
        shapes = self._shapes(claim)
        outcome = self._admit(claim, state, shapes) if not isinstance(shapes, Refusal) else shapes
        if isinstance(outcome, Admit):
            state.admitted += 1
            return outcome
        state.pending += 1
        message = outcome.message
        if outcome.preemption_helps and self.preemption and self.preemption.may_preempt(claim, state):
            found = self.preemption.preempt(claim, state, shapes, outcome)
            if isinstance(found, Preempt):
                return found
            message = f"{message}; {found}"
        return Pending(claim.key, outcome.reason, message)

    # -- admission

    def _shapes(self, claim: Claim) -> list[Shape] | Refusal:
        shapes = []
        for ps in claim.pod_sets:
            if ps.pool is not None and ps.pool not in self.pools:
                return Refusal("Unschedulable", f"pod set {ps.name}: node pool {ps.pool} does not exist",
                                preemption_helps=False)
            shapes.append(Shape(ps, self.pools.get(ps.pool), self.cluster))
        return shapes

    def _admit(self, claim: Claim, state: TenantState, shapes: list[Shape]) -> Admit | Refusal:
        """Admit the claim if quota and placement allow, taking its pods from the nodes; else say why not."""
        minimum = claim.minimum
        over = self.quota.over_limit_alone(state, minimum)
        if over:
            return Refusal("ExceedsLimit", f"its minimum of {claim.minimum[PODS]} pods {over}",
                            preemption_helps=False)
        refused = self.quota.check(state, minimum, self.cluster.free_total)
        if refused:
            return refused
        view = View(self.cluster)
        committed = minimum
        placements: list[dict[int, int]] = []
        for shape in shapes:
            ps = shape.pod_set
            extra = self._extra_within_quota(state, committed, shape)
            placed = self._known_unplaceable(shape) if not view.overlay else None
            placed = placed or place(view, shape, ps.minimum, ps.minimum + extra)
            if isinstance(placed, str):
                if not view.overlay:  # the cluster alone refused it: valid for the rest of the pass
                    self.unplaceable[shape.cache_key].append((shape.per_pod, ps.minimum, placed))
                return Refusal("Unschedulable", f"pod set {ps.name}: {placed}", placement=True)
            view.use(placed, shape.per_pod)
            committed = add(committed, shape.per_pod, sum(placed.values()) - ps.minimum)
            placements.append(placed)
        for shape, placed in zip(shapes, placements, strict=True):
            self.cluster.commit(placed, shape.per_pod)
        self.quota.admit(state, committed)
        borrowing = not self.quota.within_guarantee(state, ZERO)
        admitted = tuple(self._admission(s, placed) for s, placed in zip(shapes, placements, strict=True))
        what = ", ".join(f"{a.name}: {a.count} pods on {len(a.nodes)} nodes" for a in admitted)
        quota = "borrowing above" if borrowing else "within"
        return Admit(claim.key, state.name, admitted, borrowing, f"admitted {what}, {quota} tenant "
                                                                f"{state.name}'s guarantee")

    def _known_unplaceable(self, shape: Shape) -> str | None:
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

    def _extra_within_quota(self, state: TenantState, committed: Vector, shape: Shape) -> int:
        """How many pods beyond the minimum quota allows for this pod set, given what is already committed."""
        ps = shape.pod_set
        room = ps.count - ps.minimum
        free = self.cluster.free_total

        def fits(extra: int) -> bool:
            return self.quota.check(state, add(committed, shape.per_pod, extra), free) is None

        if room == 0 or fits(room):
            return room
        low, high = 0, room  # fits(low), not fits(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return low

    def _admission(self, shape: Shape, placed: Mapping[int, int]) -> PodSetAdmission:
        nodes = tuple(sorted((self.cluster.nodes[i].name, pods) for i, pods in placed.items()))
        return PodSetAdmission(shape.pod_set.name, sum(placed.values()), nodes)


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
