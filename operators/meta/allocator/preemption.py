"""Preemption: the victims a guaranteed claim that does not fit may evict, fewest first.

YuniKorn's preemption laws (yunikorn-site docs/design/preemption.md) and Kueue's candidate
order and minimisation (pkg/scheduler/preemption). A non-preemptible claim that does not fit
may preempt only while its tenant stays within its guarantee with it (and the tenant's
policy is not ``Never``). Victims are admitted, preemptible claims of other tenants that are
above their guarantee, with priority lower than (``LowerPriority``) or lower than or equal
to (``LowerOrEqualPriority``) the preemptor's; removing them must never take a tenant (or
its ancestors) from at-or-above its guarantee to below it. Choice is greedy: one victim if a
single one makes room (lowest priority, then newest, first); otherwise victims are added in
that order until the preemptor fits, then every victim whose release is not needed is
dropped again (Kueue's minimisation pass). The preemptor stays pending until the victims are
gone; for the rest of the pass its minimum is booked twice: against its tenant's quota (so it
does not trigger more preemption) and on the nodes it will use, the room its victims hold plus
any free room it counted on (Kueue's scheduler reserves a preempting workload's quota and
topology usage in the cycle's snapshot, ``resourcesToReserve`` in pkg/scheduler/scheduler.go;
YuniKorn reserves the node). Without the node booking a claim decided later in the pass could
take that free room, the preemptor would not fit once its victims were gone, preempt the
newcomer, and the first victim would come back into the room: a ping-pong that never
settles. In later passes the caller marks the preemptor ``preempting``, and it is decided
before every other claim, so that no other claim takes the capacity its victims released.
A victim can never preempt back: victims are preemptible and preemptible claims never preempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import ZERO, Claim, Preempt, Vector, add, sub
from .nodes import NodeIndex
from .placement import Shape, View, place
from .quota import Quota, Refusal, TenantState

# Single victims tried before the greedy prefix search (bounds the work for one preemptor).
_SINGLE_VICTIM_TRIES = 16


@dataclass
class Running:
    """An admitted claim: what it holds, per tenant and per node, and what it would free in the cluster."""

    claim: Claim
    tenant: TenantState | None
    usage: Vector
    holdings: dict[int, Vector]
    frees: Vector  # the part of ``usage`` on nodes that declare each resource



class Preemption:
    """The preemption search of one pass: the running preemptible claims in victim preference order
    (lowest priority, then newest, then key), and the victims already chosen in this pass."""

    def __init__(self, quota: Quota, cluster: NodeIndex, running: Sequence[Running]) -> None:
        self.quota = quota
        self.cluster = cluster
        self.preemptible = [r for r in running if r.claim.preemptible and r.tenant is not None]
        self.preemptible.sort(key=lambda r: r.claim.key)
        self.preemptible.sort(key=lambda r: r.claim.created, reverse=True)  # newest first
        self.preemptible.sort(key=lambda r: r.claim.priority)  # lowest priority first (the sorts are stable)
        self.taken: set[str] = set()             # victims already chosen in this pass
        self.doomed: dict[TenantState, Vector] = {}  # what those victims will release, per tenant

    def may_preempt(self, claim: Claim, state: TenantState) -> bool:
        """Whether the claim may preempt at all: it is not preemptible itself, its tenant's policy is not
        Never, and the tenant stays within its guarantee with it."""
        return (not claim.preemptible and state.spec.preemption_policy != "Never"
                and self.quota.within_guarantee(state, claim.minimum))

    def candidates(self, claim: Claim, state: TenantState) -> list[Running]:
        """Eligible victims in preference order, together keeping their tenants at or above their
        guarantees."""
        equal_ok = state.spec.preemption_policy == "LowerOrEqualPriority"
        ceiling = claim.priority if equal_ok else claim.priority - 1
        doomed = self.quota.losses(self.doomed)
        above: dict[TenantState, bool] = {}
        chosen: list[Running] = []
        losses: dict[TenantState, Vector] = {}
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
                    losses[a] = add(losses.get(a, ZERO), r.usage)
        return chosen

    def room_without(self, claim: Claim, state: TenantState, shapes: list[Shape],
                     victims: Sequence[Running]) -> list[dict[int, int]] | None:
        """Where the claim's minimum would be placed (per shape, node index -> pods) once ``victims``
        release what they hold, or None when quota or placement would still refuse it."""
        released: dict[TenantState, Vector] = {}
        free = self.cluster.free_total
        for v in victims:
            released[v.tenant] = add(released.get(v.tenant, ZERO), v.usage)
            free = add(free, v.frees)
        if self.quota.check(state, claim.minimum, free, released):
            return None
        overlay: dict[int, Vector] = {}
        for v in victims:
            for i, held in v.holdings.items():
                overlay[i] = sub(overlay.get(i, ZERO), held)
        view = View(self.cluster, overlay)
        placements = []
        for shape in shapes:
            placed = place(view, shape, shape.pod_set.minimum, shape.pod_set.minimum)
            if isinstance(placed, str):
                return None
            view.use(placed, shape.per_pod)
            placements.append(placed)
        return placements

    def fits_without(self, claim: Claim, state: TenantState, shapes: list[Shape],
                     victims: Sequence[Running]) -> bool:
        """Whether the claim's minimum would be admitted once ``victims`` release what they hold."""
        return self.room_without(claim, state, shapes, victims) is not None

    def preempt(self, claim: Claim, state: TenantState, shapes: list[Shape],
                 refusal: Refusal) -> Preempt | str:
        """Choose victims for the claim and nominate it, or say why there are none."""
        candidates = self.candidates(claim, state)
        if refusal.placement:  # only capacity on nodes the claim may use can help
            candidates = [v for v in candidates if any(s.allowed[i] for s in shapes for i in v.holdings)]
        if not candidates:
            than = "<" if state.spec.preemption_policy == "LowerPriority" else "<="
            where = " holds capacity on the nodes it may use" if refusal.placement else " can be preempted"
            return (f"no preemptible claim of priority {than} {claim.priority} from a tenant above its "
                    f"guarantee{where}")
        if not self.fits_without(claim, state, shapes, candidates):
            return f"preempting all {len(candidates)} eligible claims would not make room"
        victims = self.fewest_victims(claim, state, shapes, candidates)
        room = self.room_without(claim, state, shapes, victims)
        for v in victims:
            self.taken.add(v.claim.key)
            self.doomed[v.tenant] = add(self.doomed.get(v.tenant, ZERO), v.usage)
        self.quota.admit(state, claim.minimum, nominated=True)
        # Book the nodes too: the victims still hold their part in this pass, so those nodes go below
        # zero free, and no claim decided later in the pass takes the room the preemptor counts on.
        for shape, placed in zip(shapes, room, strict=True):
            self.cluster.commit(placed, shape.per_pod)
        names = tuple(v.claim.key for v in victims)
        return Preempt(claim.key, names, f"preempting {', '.join(names)} to make room within tenant "
                                         f"{state.name}'s guarantee")

    def fewest_victims(self, claim: Claim, state: TenantState, shapes: list[Shape],
                        candidates: list[Running]) -> list[Running]:
        """A small victim set that makes room: one victim if one suffices, else the shortest sufficient
        prefix of ``candidates`` with every victim that is not needed dropped again."""
        for single in candidates[:_SINGLE_VICTIM_TRIES]:
            if self.fits_without(claim, state, shapes, [single]):
                return [single]
        fits, fails = len(candidates), 1  # the whole list makes room, the first one alone does not
        while fits - fails > 1:
            middle = (fits + fails) // 2
            if self.fits_without(claim, state, shapes, candidates[:middle]):
                fits = middle
            else:
                fails = middle
        chosen = candidates[:fits]
        for victim in reversed(chosen[:-1]):
            rest = [v for v in chosen if v is not victim]
            if self.fits_without(claim, state, shapes, rest):
                chosen = rest
        return chosen

