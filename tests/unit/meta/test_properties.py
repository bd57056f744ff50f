"""Property tests of the allocator on random clusters, with an independent checker (not the
allocator's own code) of what it promises."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.meta.allocator import (
    FIELD_LABELS,
    RESOURCE_NAMES,
    Admit,
    Allocation,
    Claim,
    Constraint,
    Node,
    Pending,
    PodSet,
    Pool,
    Preempt,
    Selector,
    Taint,
    Tenant,
    Toleration,
    allocate,
)
from tests.unit.meta.allocator_builders import (
    ZONE,
    G,
    as_admitted,
    next_snapshot,
)

# ---------------------------------------------------------------------------------------------
# Property tests: an independent checker of what the allocator promises

def attribute(n: Node, field: str) -> str | None:
    return n.name if field == "@hostname" else n.labels.get(FIELD_LABELS.get(field, field))


def check_placement(ps: PodSet, placed: Mapping[str, int], nodes: Mapping[str, Node],
                    pools: Mapping[str, Pool]) -> None:
    total = sum(placed.values())
    assert ps.minimum <= total <= ps.count, (ps, placed)
    for name, pods in placed.items():
        n = nodes[name]
        assert pods > 0 and not n.unschedulable
        tolerations = pools[ps.pool].tolerations if ps.pool else ()
        if ps.pool:
            assert pools[ps.pool].selector.matches(n.labels)
        for taint in n.taints:
            if taint.effect != "PreferNoSchedule":
                assert any(t.tolerates(taint) for t in tolerations), (name, taint)
    for c in ps.constraints:
        per_value: Counter = Counter()
        for name, pods in placed.items():
            per_value[attribute(nodes[name], c.field)] += pods
        values = set(per_value)
        if c.operator == "UNLIKE":
            assert all(v is None or not re.fullmatch(c.value, v) for v in values), (c, per_value)
            continue
        assert None not in values, (c, per_value)
        if c.operator == "UNIQUE":
            assert max(per_value.values()) == 1, (c, per_value)
        elif c.operator == "MAX_PER":
            assert max(per_value.values()) <= int(c.value), (c, per_value)
        elif c.operator == "GROUP_BY":
            assert len(per_value) == min(int(c.value), total), (c, per_value)
            assert max(per_value.values()) - min(per_value.values()) <= 1, (c, per_value)
        elif c.operator == "CLUSTER":
            assert len(values) == 1 and (c.value is None or values == {c.value}), (c, per_value)
        elif c.operator == "IS":
            assert values == {c.value}, (c, per_value)
        elif c.operator == "LIKE":
            assert all(re.fullmatch(c.value, v) for v in values), (c, per_value)


def per_pod(ps: PodSet) -> list[int]:
    return [ps.requests.get(r, 0) if r != "pods" else 1 for r in RESOURCE_NAMES]


def claim_usage(c: Claim, placements: Mapping[str, Mapping[str, int]]) -> list[int]:
    total = [0] * len(RESOURCE_NAMES)
    for ps in c.pod_sets:
        pods = sum(placements.get(ps.name, {}).values())
        total = [t + pods * x for t, x in zip(total, per_pod(ps), strict=True)]
    return total


def ancestors(tenants: Mapping[str, Tenant], name: str) -> list[str]:
    chain = []
    while name is not None:
        chain.append(name)
        name = tenants[name].parent
    return chain


def subtree_usage(tenants: Mapping[str, Tenant], claims: Sequence[Claim],
                  placements: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, list[int]]:
    usage = {name: [0] * len(RESOURCE_NAMES) for name in tenants}
    for c in claims:
        if c.key in placements and c.tenant in tenants:
            for a in ancestors(tenants, c.tenant):
                usage[a] = [u + x for u, x in zip(usage[a], claim_usage(c, placements[c.key]), strict=True)]
    return usage


def check_allocation(nodes: Sequence[Node], pools: Sequence[Pool], tenants: Sequence[Tenant],
                     claims: Sequence[Claim], result: Allocation) -> None:
    """Every promise of :func:`allocate` that holds whatever the input (given a consistent start)."""
    by_node = {n.name: n for n in nodes}
    by_pool = {p.name: p for p in pools}
    by_tenant = {t.name: t for t in tenants}
    by_claim = {c.key: c for c in claims}
    pending = [c.key for c in claims if c.admission is None]
    assert sorted(d.claim for d in result.decisions) == sorted(pending)

    placements = {c.key: c.admission for c in claims if c.admission is not None}
    for d in result.decisions:
        if isinstance(d, Admit):
            c = by_claim[d.claim]
            assert d.tenant == c.tenant
            for ps in c.pod_sets:
                placed = dict(next(p for p in d.pod_sets if p.name == ps.name).nodes)
                check_placement(ps, placed, by_node, by_pool)
            placements[d.claim] = {p.name: dict(p.nodes) for p in d.pod_sets}

    # No node over-committed.
    held = {n.name: [n.used.get(r, 0) for r in RESOURCE_NAMES] for n in nodes}
    for key, placement in placements.items():
        for ps in by_claim[key].pod_sets:
            for name, pods in placement.get(ps.name, {}).items():
                held[name] = [h + pods * x for h, x in zip(held[name], per_pod(ps), strict=True)]
    for n in nodes:
        for r, resource in enumerate(RESOURCE_NAMES):
            if resource in n.allocatable:
                assert held[n.name][r] <= n.allocatable[resource], (n.name, resource)

    # Never over a tenant limit (for the tenant and every ancestor).
    usage = subtree_usage(by_tenant, claims, placements)
    for name, t in by_tenant.items():
        for r, resource in enumerate(RESOURCE_NAMES):
            if resource in t.limit:
                assert usage[name][r] <= t.limit[resource], (name, resource)

    check_preemptions(by_tenant, by_claim, claims, result)


def check_preemptions(tenants: Mapping[str, Tenant], by_claim: Mapping[str, Claim], claims: Sequence[Claim],
                      result: Allocation) -> None:
    """Victims are preemptible claims of lower (or equal) priority from other tenants above their guarantee,
    and never take a tenant or ancestor from at-or-above its guarantee to below it.

    Walks the decisions in order, as the allocator made them: usage counts what ran before the pass,
    admissions and preemptors' requests so far; what earlier victims will release is taken off.
    """
    usage = subtree_usage(tenants, claims, {c.key: c.admission for c in claims if c.admission})
    doomed: set[str] = set()

    def effective(extra: set[str]) -> dict[str, list[int]]:
        out = {name: list(u) for name, u in usage.items()}
        for key in doomed | extra:
            v = by_claim[key]
            for a in ancestors(tenants, v.tenant):
                out[a] = [u - x for u, x in zip(out[a], claim_usage(v, v.admission), strict=True)]
        return out

    def add(tenant: str, amount: Sequence[int]) -> None:
        for a in ancestors(tenants, tenant):
            usage[a] = [u + x for u, x in zip(usage[a], amount, strict=True)]

    for d in result.decisions:
        c = by_claim[d.claim]
        if isinstance(d, Admit):
            add(c.tenant, claim_usage(c, {p.name: dict(p.nodes) for p in d.pod_sets}))
        if not isinstance(d, Preempt):
            continue
        t = tenants[c.tenant]
        assert not c.preemptible and t.preemption_policy != "Never"
        before = effective(set())
        for key in d.victims:
            victim = by_claim[key]
            assert key not in doomed and victim.admission is not None, key
            assert victim.preemptible and victim.tenant != c.tenant, key
            if t.preemption_policy == "LowerPriority":
                assert victim.priority < c.priority
            else:
                assert victim.priority <= c.priority
            vt = tenants[victim.tenant]
            assert not vt.guarantee or any(
                before[vt.name][r] > vt.guarantee[name] for r, name in enumerate(RESOURCE_NAMES)
                if name in vt.guarantee), f"{key}: tenant {vt.name} is not above its guarantee"
        after = effective(set(d.victims))
        for name, tenant in tenants.items():
            for r, resource in enumerate(RESOURCE_NAMES):
                g = tenant.guarantee.get(resource)
                if g is not None and before[name][r] >= g:
                    assert after[name][r] >= g, (d, name, resource)
        doomed.update(d.victims)
        add(c.tenant, minimum_of(c))


def minimum_of(c: Claim) -> list[int]:
    total = [0] * len(RESOURCE_NAMES)
    for ps in c.pod_sets:
        total = [t + ps.minimum * x for t, x in zip(total, per_pod(ps), strict=True)]
    return total


ZONES = ("a", "b", "c")
TAINT = Taint("dedicated", "NoSchedule", "ssd")
POOLS = [Pool("ssd", Selector({"disk": "ssd"}), (Toleration("dedicated", "Equal", "ssd"),)),
         Pool("zone-a", Selector({ZONE: "a"}))]
CONSTRAINTS = [("@hostname", "UNIQUE"), ("@zone", "GROUP_BY", "2"), ("@zone", "GROUP_BY", "3"),
               ("@zone", "MAX_PER", "2"), ("@hostname", "MAX_PER", "2"), ("@zone", "CLUSTER"),
               ("@zone", "CLUSTER", "b"), ("disk", "IS", "ssd"), ("disk", "LIKE", "s+d"),
               ("disk", "UNLIKE", "ssd"), ("@zone", "UNIQUE"), ("rack", "MAX_PER", "1")]


@st.composite
def nodes_strategy(draw, most: int = 8) -> list[Node]:
    nodes = []
    for i in range(draw(st.integers(1, most))):
        labels = {}
        zone = draw(st.sampled_from((*ZONES, None)))
        if zone:
            labels[ZONE] = zone
        disk = draw(st.sampled_from(("ssd", "hdd", None)))
        if disk:
            labels["disk"] = disk
        if draw(st.booleans()):
            labels["rack"] = f"r{draw(st.integers(0, 2))}"
        taints = (TAINT,) if disk == "ssd" and draw(st.booleans()) else ()
        allocatable = {"cpu": draw(st.integers(1, 16)) * 1000, "memory": draw(st.integers(2, 32)) * G,
                       "pods": draw(st.integers(1, 12))}
        nodes.append(Node(f"n{i}", allocatable,
                          labels, taints, {"cpu": draw(st.sampled_from((0, 0, 500)))},
                          unschedulable=draw(st.integers(0, 9)) == 0))
    return nodes


@st.composite
def tenants_strategy(draw) -> list[Tenant]:
    tenants = []
    for i in range(draw(st.integers(1, 4))):
        guarantee, limit = {}, {}
        for resource, unit, top in (("cpu", 1000, 24), ("memory", G, 64), ("pods", 1, 20)):
            g = draw(st.one_of(st.none(), st.integers(0, top)))
            if g is not None:
                guarantee[resource] = g * unit
            lim = draw(st.one_of(st.none(), st.integers(g or 0, top * 2)))
            if lim is not None:
                limit[resource] = lim * unit
        parent = "t0" if i > 0 and draw(st.integers(0, 3)) == 0 else None
        tenants.append(Tenant(f"t{i}", guarantee, limit, draw(st.integers(1, 3)), parent,
                              draw(st.sampled_from(("Never", "LowerPriority", "LowerOrEqualPriority")))))
    return tenants


@st.composite
def claims_strategy(draw, tenants: Sequence[Tenant], prefix: str,
                    count: tuple[int, int] = (1, 10)) -> list[Claim]:
    claims = []
    for i in range(draw(st.integers(*count))):
        pod_sets = []
        for j in range(draw(st.integers(1, 2))):
            n = draw(st.integers(1, 5))
            drawn = draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=2))
            constraints = tuple(Constraint(*c) for c in drawn)
            if sum(c.groups for c in constraints) > 1:
                constraints = constraints[:1]
            requests = {"cpu": draw(st.integers(1, 8)) * 250, "memory": draw(st.integers(1, 8)) * G // 2}
            pool = draw(st.sampled_from((None, None, "ssd", "zone-a")))
            pod_sets.append(PodSet(f"p{j}", n, requests, draw(st.integers(1, n)), pool, constraints))
        tenant = draw(st.sampled_from([t.name for t in tenants]))
        claims.append(Claim(f"{prefix}/{i}", tenant, tuple(pod_sets), draw(st.integers(0, 3)),
                            draw(st.booleans()), f"2024-01-01T00:00:{i:02d}Z"))
    return claims


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.data())
def test_property_every_admission_is_feasible_within_limits_and_every_preemption_is_allowed(data):
    nodes = data.draw(nodes_strategy())
    tenants = data.draw(tenants_strategy())
    first_claims = data.draw(claims_strategy(tenants, "first"))
    first = allocate(nodes, tenants, first_claims, POOLS)
    check_allocation(nodes, POOLS, tenants, first_claims, first)
    # Second pass: what was admitted runs; guarantees may have grown (up to the limit), new claims arrive.
    grown = []
    for t in tenants:
        guarantee = dict(t.guarantee)
        if data.draw(st.booleans()):
            guarantee["cpu"] = min(guarantee.get("cpu", 0) + data.draw(st.integers(0, 8)) * 1000,
                                   t.limit.get("cpu", 1 << 40))
            guarantee.setdefault("pods", t.limit.get("pods", 20))
            guarantee.setdefault("memory", t.limit.get("memory", 64 * G))
        grown.append(Tenant(t.name, guarantee, t.limit, t.weight, t.parent, t.preemption_policy))
    running = [as_admitted(c, d) for c in first_claims if isinstance(d := first.for_claim(c.key), Admit)]
    second_claims = running + data.draw(claims_strategy(grown, "second"))
    second = allocate(nodes, grown, second_claims, POOLS)
    check_allocation(nodes, POOLS, grown, second_claims, second)


def one_big_node() -> list[Node]:
    return [Node("big", {"cpu": 24_000, "memory": 96 * G, "pods": 1000})]


@st.composite
def guaranteed_scenario(draw):
    """Tenants whose guarantees name every resource claims use and fit the cluster together."""
    tenants = []
    left_cpu, left_memory, left_pods = 24, 96, 1000
    for i in range(draw(st.integers(2, 4))):
        cpu, memory, pods = (draw(st.integers(0, left_cpu // 2)), draw(st.integers(0, left_memory // 2)),
                             draw(st.integers(0, 40)))
        left_cpu, left_memory, left_pods = left_cpu - cpu, left_memory - memory, left_pods - pods
        limit = {"cpu": (cpu + draw(st.integers(0, 64))) * 1000} if draw(st.booleans()) else {}
        tenants.append(Tenant(f"t{i}", {"cpu": cpu * 1000, "memory": memory * G, "pods": pods}, limit,
                              draw(st.integers(1, 3))))
    claims = []
    for i in range(draw(st.integers(1, 25))):
        n = draw(st.integers(1, 6))
        requests = {"cpu": draw(st.integers(1, 8)) * 500, "memory": draw(st.integers(1, 16)) * G}
        claims.append(Claim(f"c/{i}", draw(st.sampled_from([t.name for t in tenants])),
                            (PodSet("p", n, requests, draw(st.integers(1, n))),),
                            draw(st.integers(0, 2)), draw(st.booleans()), f"2024-01-01T00:00:{i:02d}Z"))
    return tenants, claims


def within_guarantee(t: Tenant, usage: Sequence[int], request: Sequence[int]) -> bool:
    return all(u + x <= t.guarantee[r] for r, u, x in zip(RESOURCE_NAMES, usage, request, strict=True)
               if r in t.guarantee)


@PROPERTY
@given(guaranteed_scenario(), st.integers(0, 10))
def test_property_a_tenant_under_its_guarantee_is_never_blocked_by_others_borrowing(scenario, split):
    tenants, claims = scenario
    nodes = one_big_node()
    # Two passes: the first claims run, then the rest arrive; borrowing in pass one must not block pass two.
    first_claims, later = claims[:split], claims[split:]
    first = allocate(nodes, tenants, first_claims)
    running = [as_admitted(c, d) for c in first_claims if isinstance(d := first.for_claim(c.key), Admit)]
    second = allocate(nodes, tenants, running + later)
    for result, batch in ((first, first_claims), (second, running + later)):
        placements = {c.key: c.admission for c in batch if c.admission}
        placements.update({d.claim: {p.name: dict(p.nodes) for p in d.pod_sets}
                           for d in result.decisions if isinstance(d, Admit)})
        usage = subtree_usage({t.name: t for t in tenants}, batch, placements)
        by_claim = {c.key: c for c in batch}
        for d in result.decisions:
            if isinstance(d, Pending):
                c = by_claim[d.claim]
                t = next(t for t in tenants if t.name == c.tenant)
                assert not within_guarantee(t, usage[t.name], minimum_of(c)), (d, usage[t.name], t.guarantee)


@st.composite
def drf_scenario(draw, same_request: bool):
    tenants = [Tenant(f"t{i}", weight=draw(st.integers(1, 4))) for i in range(draw(st.integers(2, 5)))]
    claims = []
    shared = {"cpu": draw(st.integers(1, 8)) * 500, "memory": draw(st.integers(1, 16)) * G}
    for t in tenants:
        request = shared if same_request else {"cpu": draw(st.integers(1, 8)) * 500,
                                               "memory": draw(st.integers(1, 16)) * G}
        for i in range(draw(st.integers(1, 30))):
            claims.append(Claim(f"{t.name}/{i}", t.name, (PodSet("p", 1, request),),
                                created=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z"))
    capacity = {"cpu": draw(st.integers(4, 64)) * 1000, "memory": draw(st.integers(8, 256)) * G, "pods": 1000}
    return tenants, claims, [Node("big", capacity)]


def replay_shares(tenants: Sequence[Tenant], claims: Sequence[Claim], nodes: Sequence[Node],
                  result: Allocation):
    """Yield (decision, weighted dominant share of every tenant just before it), from the decisions."""
    capacity = nodes[0].allocatable
    weight = {t.name: t.weight for t in tenants}
    usage = {t.name: Counter() for t in tenants}
    by_claim = {c.key: c for c in claims}
    for d in result.decisions:
        shares = {name: max(usage[name][r] / capacity[r] for r in capacity) / weight[name] for name in usage}
        yield d, shares
        if isinstance(d, Admit):
            usage[by_claim[d.claim].tenant].update({**by_claim[d.claim].pod_sets[0].requests, "pods": 1})


@PROPERTY
@given(drf_scenario(same_request=False))
def test_property_each_claim_is_decided_when_its_tenant_has_the_lowest_weighted_dominant_share(scenario):
    tenants, claims, nodes = scenario
    result = allocate(nodes, tenants, claims)
    tenant_of = {c.key: c.tenant for c in claims}
    last = {tenant_of[d.claim]: i for i, d in enumerate(result.decisions)}
    for i, (d, shares) in enumerate(replay_shares(tenants, claims, nodes, result)):
        a = tenant_of[d.claim]
        waiting = [b for b in shares if b != a and last.get(b, -1) > i]  # tenants with claims still undecided
        for b in waiting:
            assert shares[a] <= shares[b] + 1e-9, (i, a, shares[a], b, shares[b])


@PROPERTY
@given(drf_scenario(same_request=True))
def test_property_with_equal_requests_every_waiting_tenant_got_at_least_the_others_share(scenario):
    """Progressive filling: a tenant left waiting has a weighted share no lower than any other tenant
    had before its last admission."""
    tenants, claims, nodes = scenario
    result = allocate(nodes, tenants, claims)
    tenant_of = {c.key: c.tenant for c in claims}
    before_last: dict[str, float] = {}
    final: dict[str, float] = {}
    for d, shares in replay_shares(tenants, claims, nodes, result):
        final = shares
        if isinstance(d, Admit):
            before_last[tenant_of[d.claim]] = shares[tenant_of[d.claim]]
    *_, (last, final) = replay_shares(tenants, claims, nodes, result) if result.decisions else [(None, {})]
    if isinstance(last, Admit):  # the share after the very last decision
        capacity = nodes[0].allocatable
        t = next(t for t in tenants if t.name == tenant_of[last.claim])
        request = {**claims[0].pod_sets[0].requests, "pods": 1}
        final = dict(final)
        final[t.name] = max((final[t.name] * t.weight * capacity[r] + request.get(r, 0)) / capacity[r]
                            for r in capacity) / t.weight
    waiting = {tenant_of[d.claim] for d in result.decisions if isinstance(d, Pending)}
    for b in waiting:
        for a, share in before_last.items():
            assert share <= final[b] + 1e-9, (a, share, b, final[b])


@st.composite
def preemption_scenario(draw):
    """A cluster filled by borrowers (mostly t0's, mostly preemptible); then the other tenants get
    guarantees and ask for capacity within them."""
    nodes = [Node(f"n{i}", {"cpu": draw(st.integers(2, 8)) * 1000, "memory": 16 * G, "pods": 20},
                  {ZONE: ZONES[i % 3], "rack": f"r{i % 2}"}) for i in range(draw(st.integers(1, 4)))]
    names = [f"t{i}" for i in range(draw(st.integers(2, 4)))]
    policies = st.sampled_from(("LowerPriority", "LowerOrEqualPriority", "LowerOrEqualPriority", "Never"))
    parents = {name: ("t0" if name != "t0" and draw(st.integers(0, 4)) == 0 else None) for name in names}
    before = [Tenant(name, parent=parents[name], preemption_policy=draw(policies)) for name in names]
    fill = []
    for i in range(draw(st.integers(4, 16))):
        count = draw(st.integers(1, 4))
        pod_sets = (PodSet("p", count, {"cpu": draw(st.integers(1, 6)) * 250, "memory": G // 2},
                           draw(st.integers(1, count))),)
        fill.append(Claim(f"fill/{i}", draw(st.sampled_from(["t0"] * 4 + names[1:])), pod_sets,
                          draw(st.integers(0, 2)), draw(st.integers(0, 4)) > 0, f"2024-01-01T00:00:{i:02d}Z"))
    after = []
    for t in before:
        guarantee = {}
        if t.name == "t0" and draw(st.booleans()):  # the main borrower, sometimes with a small guarantee
            guarantee = {"cpu": draw(st.integers(1, 4)) * 1000}
        elif t.name != "t0" and draw(st.integers(0, 3)) > 0:
            guarantee = {"cpu": draw(st.integers(2, 8)) * 1000, "memory": draw(st.integers(2, 16)) * G,
                         "pods": draw(st.integers(3, 10))}
        after.append(Tenant(t.name, guarantee, {}, draw(st.integers(1, 3)), t.parent, t.preemption_policy))
    services = []
    for i in range(draw(st.integers(1, 6))):
        count = draw(st.integers(1, 3))
        constraints = draw(st.sampled_from(((), (), (Constraint("@hostname", "UNIQUE"),),
                                            (Constraint("@zone", "MAX_PER", "1"),),
                                            (Constraint("rack", "IS", "r0"),))))
        pod_sets = (PodSet("p", count, {"cpu": draw(st.integers(1, 4)) * 250, "memory": G // 2}, None, None,
                           constraints),)
        services.append(Claim(f"svc/{i}", draw(st.sampled_from(names)), pod_sets, draw(st.integers(0, 4)),
                              draw(st.integers(0, 4)) == 0, f"2024-01-02T00:00:{i:02d}Z"))
    return nodes, before, fill, after, services


@PROPERTY
@given(preemption_scenario())
def test_property_preemption_takes_only_allowed_victims(scenario):
    nodes, before, fill, after, services = scenario
    first = allocate(nodes, before, fill, POOLS)
    running = [as_admitted(c, d) for c in fill if isinstance(d := first.for_claim(c.key), Admit)]
    claims = running + services
    result = allocate(nodes, after, claims, POOLS)
    check_allocation(nodes, POOLS, after, claims, result)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preemption_scenario())
def test_property_repeated_passes_settle_without_ping_pong(scenario):
    nodes, before, fill, after, services = scenario
    first = allocate(nodes, before, fill, POOLS)
    claims = next_snapshot(fill, first) + services
    for _ in range(8):
        result = allocate(nodes, after, claims, POOLS)
        check_allocation(nodes, POOLS, after, claims, result)
        if not any(isinstance(d, Admit | Preempt) for d in result.decisions):
            return
        claims = next_snapshot(claims, result)
    raise AssertionError("no fixpoint after 8 passes: " + ", ".join(
        f"{d.claim}->{d.victims}" for d in result.decisions if isinstance(d, Preempt)))
