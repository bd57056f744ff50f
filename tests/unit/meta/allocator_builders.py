"""Small clusters for the allocator's tests: nodes, pod sets and claims with readable defaults, and
readers of an Allocation. Amounts are given in cores and GiB."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from operators.meta.allocator import (
    Admit,
    Allocation,
    Claim,
    Constraint,
    Node,
    PodSet,
    Preempt,
    Taint,
)

G = 1 << 30
ZONE = "topology.kubernetes.io/zone"


def node(name: str, cpu: float = 8, memory: int = 32, pods: int = 110, zone: str | None = None,
         labels: Mapping[str, str] | None = None, taints: Sequence[Taint] = (),
         used: Mapping[str, int] | None = None, unschedulable: bool = False) -> Node:
    all_labels = dict(labels or {})
    if zone:
        all_labels[ZONE] = zone
    return Node(name, {"cpu": int(cpu * 1000), "memory": memory * G, "pods": pods}, all_labels,
                tuple(taints), dict(used or {}), unschedulable)


def pod_set(count: int = 1, cpu: float = 1, memory: float = 1, *, name: str = "main",
            min_count: int | None = None, pool: str | None = None,
            constraints: Sequence[tuple[str, ...]] = ()) -> PodSet:
    return PodSet(name, count, {"cpu": int(cpu * 1000), "memory": int(memory * G)}, min_count, pool,
                  tuple(Constraint(*c) for c in constraints))


_order = iter(range(10**6))


def claim(key: str, tenant: str = "a", *pod_sets: PodSet, priority: int = 0, preemptible: bool = False,
          created: str | None = None, admission: Mapping[str, Mapping[str, int]] | None = None) -> Claim:
    created = created or f"2024-01-01T00:{next(_order) // 60 % 60:02d}:{next(_order) % 60:02d}Z"
    return Claim(key, tenant, tuple(pod_sets) or (pod_set(),), priority, preemptible, created, admission)


def cores(n: float) -> int:
    return int(n * 1000)


def decision(result: Allocation, key: str):
    found = result.for_claim(key)
    assert found is not None, f"no decision for {key}"
    return found


def admitted_pods(result: Allocation, key: str) -> dict[str, int]:
    d = decision(result, key)
    assert isinstance(d, Admit), d
    return {p.name: p.count for p in d.pod_sets}


def nodes_of(result: Allocation, key: str, pod_set_name: str = "main") -> dict[str, int]:
    d = decision(result, key)
    assert isinstance(d, Admit), d
    return dict(next(p for p in d.pod_sets if p.name == pod_set_name).nodes)


def as_admitted(c: Claim, d: Admit) -> Claim:
    return Claim(c.key, c.tenant, c.pod_sets, c.priority, c.preemptible, c.created,
                 {p.name: dict(p.nodes) for p in d.pod_sets})


def next_snapshot(claims: Sequence[Claim], result: Allocation) -> list[Claim]:
    """What the handler does with a pass: admitted claims run, victims are evicted and requeued,
    preemptors are marked as waiting for their victims."""
    by_key = {c.key: c for c in claims}
    for d in result.decisions:
        c = by_key[d.claim]
        if isinstance(d, Admit):
            by_key[d.claim] = as_admitted(c, d)
        elif isinstance(d, Preempt):
            by_key[d.claim] = dataclasses.replace(c, preempting=True)
            for v in d.victims:
                by_key[v] = dataclasses.replace(by_key[v], admission=None)
    return list(by_key.values())
