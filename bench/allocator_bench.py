"""Pure-code figures for the meta-controller's allocator: decisions per second and time to settle.

Scenario (deterministic, seed 42): 1,000 nodes in 3 zones (700 general 32 CPU/128Gi,
200 ssd 16 CPU/64Gi/2Ti local storage tainted for the ssd pool, 100 spot 8 CPU/32Gi
tainted), 100 tenants (40 service tenants with guarantees summing to about half the
cluster, 60 batch tenants with limits only, five of them under a parent with a limit),
10,000 pending claims: Kafka-like (UNIQUE host, GROUP_BY zone 3, ssd pool), Cassandra-like
(UNIQUE host, MAX_PER zone) and Spark-like (driver + executors, gang minimum, preemptible).

Prints:
- one pass over 10,000 pending claims on an empty cluster: wall time and decisions per second;
- settling: passes until nothing changes, with services arriving on a cluster that batch
  work filled before the service tenants had guarantees (so preemption happens);
- one steady-state pass: 100 new claims against the settled cluster.
Run: .venv/bin/python bench/allocator_bench.py [--claims N] [--nodes N] [--tenants N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

from operators.meta.allocator import (
    Admit,
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

G = 1 << 30
ZONE = "topology.kubernetes.io/zone"


def cluster(n: int, rng: random.Random) -> tuple[list[Node], list[Pool]]:
    nodes = []
    for i in range(n):
        zone = f"zone-{'abc'[i % 3]}"
        kind = rng.choices(("general", "ssd", "spot"), (70, 20, 10))[0]
        if kind == "general":
            nodes.append(Node(f"node-{i:04d}", {"cpu": 32_000, "memory": 128 * G, "pods": 110},
                              {ZONE: zone, "pool": "general"}, used={"cpu": 500, "memory": G}))
        elif kind == "ssd":
            allocatable = {"cpu": 16_000, "memory": 64 * G, "pods": 110, "storage": 2048 * G}
            nodes.append(Node(f"node-{i:04d}", allocatable,
                              {ZONE: zone, "disk": "ssd", "rack": f"r{i % 12}"},
                              (Taint("dedicated", "NoSchedule", "ssd"),), used={"cpu": 500, "memory": G}))
        else:
            nodes.append(Node(f"node-{i:04d}", {"cpu": 8_000, "memory": 32 * G, "pods": 110},
                              {ZONE: zone, "lifecycle": "spot"}, (Taint("spot", "NoSchedule", "true"),)))
    pools = [Pool("ssd", Selector({"disk": "ssd"}), (Toleration("dedicated", "Equal", "ssd", "NoSchedule"),)),
             Pool("spot", Selector({"lifecycle": "spot"}), (Toleration("spot", "Exists"),)),
             Pool("general", Selector({"pool": "general"}))]
    return nodes, pools


def tenants(n: int, nodes: list[Node], rng: random.Random, *, guarantees: bool = True) -> list[Tenant]:
    cpu = sum(node.allocatable["cpu"] for node in nodes)
    memory = sum(node.allocatable["memory"] for node in nodes)
    services = max(1, n * 2 // 5)
    out = [Tenant(f"org-{k}", limit={"cpu": cpu // 10}) for k in range(5)]
    for i in range(n - len(out)):
        if i < services:
            share = rng.uniform(0.5, 1.5) / services / 2  # about half the cluster in all
            guarantee = {"cpu": int(cpu * share), "memory": int(memory * share), "pods": 400,
                         "storage": 4096 * G} if guarantees else {}
            out.append(Tenant(f"svc-{i:02d}", guarantee, {}, rng.randint(1, 4)))
        else:
            parent = f"org-{i % 5}" if i % 7 == 0 else None
            out.append(Tenant(f"batch-{i:02d}", {}, {"cpu": cpu // 8}, rng.randint(1, 4), parent))
    return out


def claim(i: int, tenant_names: dict[str, list[str]], rng: random.Random, created: str) -> Claim:
    kind = rng.choices(("kafka", "cassandra", "spark"), (20, 20, 60))[0]
    if kind == "kafka":
        brokers = rng.choice((3, 3, 6))
        pod_sets = (
            PodSet("controller", 3, {"cpu": 1000, "memory": 4 * G, "storage": 20 * G}, pool="ssd",
                   constraints=(Constraint("@hostname", "UNIQUE"),)),
            PodSet("broker", brokers, {"cpu": rng.choice((2000, 4000)), "memory": rng.choice((8, 16)) * G,
                                       "storage": rng.choice((100, 500)) * G}, pool="ssd",
                   constraints=(Constraint("@hostname", "UNIQUE"), Constraint("@zone", "GROUP_BY", "3"))),
        )
        return Claim(f"kafka/{i}", rng.choice(tenant_names["svc"]), pod_sets, 100, False, created)
    if kind == "cassandra":
        size = rng.choice((3, 6, 9))
        requests = {"cpu": rng.choice((2000, 4000)), "memory": 16 * G, "storage": 200 * G}
        pod_sets = (PodSet("rack", size, requests,
                           pool=rng.choice(("ssd", "general")),
                           constraints=(Constraint("@hostname", "UNIQUE"),
                                        Constraint("@zone", "MAX_PER", str(size // 3)))),)
        return Claim(f"cassandra/{i}", rng.choice(tenant_names["svc"]), pod_sets, 100, False, created)
    executors = rng.randint(2, 40)
    pod_sets = (PodSet("driver", 1, {"cpu": 1000, "memory": 4 * G}, pool="general"),
                PodSet("executor", executors,
                       {"cpu": rng.choice((500, 1000, 2000)), "memory": rng.choice((2, 4, 8)) * G},
                       min_count=max(1, executors // 4), pool=rng.choice(("general", "spot")),
                       constraints=(Constraint("@hostname", "MAX_PER", "8"),)))
    return Claim(f"spark/{i}", rng.choice(tenant_names["batch"]), pod_sets, rng.randint(0, 50), True, created)


def claims(n: int, tenant_list: list[Tenant], rng: random.Random, start: int = 0) -> list[Claim]:
    names = {"svc": [t.name for t in tenant_list if t.name.startswith("svc")],
             "batch": [t.name for t in tenant_list if t.name.startswith("batch")]}
    def created(k: int) -> str:
        return f"2024-01-01T{k // 3600 % 24:02d}:{k // 60 % 60:02d}:{k % 60:02d}Z"
    return [claim(start + i, names, rng, created(start + i)) for i in range(n)]


def admitted(c: Claim, d: Admit) -> Claim:
    return Claim(c.key, c.tenant, c.pod_sets, c.priority, c.preemptible, c.created,
                 {p.name: dict(p.nodes) for p in d.pod_sets})


def pending(c: Claim) -> Claim:
    return Claim(c.key, c.tenant, c.pod_sets, c.priority, c.preemptible, c.created)


def apply(claims_now: list[Claim], decisions: list) -> tuple[list[Claim], int, int]:
    """The next snapshot: admitted claims run, victims are evicted and requeued as pending, preemptors
    are marked as waiting for their victims (what the handler reads back from their status)."""
    by_key = {c.key: c for c in claims_now}
    admits = preempts = 0
    for d in decisions:
        if isinstance(d, Admit):
            by_key[d.claim] = admitted(by_key[d.claim], d)
            admits += 1
        elif isinstance(d, Preempt):
            preempts += 1
            c = by_key[d.claim]
            by_key[d.claim] = Claim(c.key, c.tenant, c.pod_sets, c.priority, c.preemptible, c.created,
                                    preempting=True)
            for victim in d.victims:
                by_key[victim] = pending(by_key[victim])
    return list(by_key.values()), admits, preempts


def settle(nodes, pools, tenant_list, snapshot: list[Claim], max_passes: int = 20):
    passes, total_decisions, started = [], 0, time.perf_counter()
    for _ in range(max_passes):
        t0 = time.perf_counter()
        result = allocate(nodes, tenant_list, snapshot, pools)
        took = time.perf_counter() - t0
        snapshot, admits, preempts = apply(snapshot, result.decisions)
        victims = sum(len(d.victims) for d in result.decisions if isinstance(d, Preempt))
        passes.append((took, len(result.decisions), admits, preempts, victims))
        total_decisions += len(result.decisions)
        if not admits and not preempts:
            break
    return snapshot, passes, total_decisions, time.perf_counter() - started


def outcome(result) -> str:
    kinds = Counter(type(d).__name__ if not isinstance(d, Pending) else d.reason for d in result.decisions)
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    nodes, pools = cluster(args.nodes, rng)
    tenant_list = tenants(args.tenants, nodes, rng)
    work = claims(args.claims, tenant_list, rng)
    print(f"{args.nodes} nodes, {args.tenants} tenants, {args.claims} pending claims (seed {args.seed})")

    t0 = time.perf_counter()
    result = allocate(nodes, tenant_list, work, pools)
    took = time.perf_counter() - t0
    print(f"\none pass from empty: {took:.2f} s, {len(result.decisions) / took:,.0f} decisions/s")
    print(f"  {outcome(result)}")

    print("\nsettling: batch fills the cluster first, then service tenants get guarantees and claims arrive")
    rng = random.Random(args.seed)
    no_guarantees = tenants(args.tenants, nodes, rng, guarantees=False)
    batch = [c for c in work if c.preemptible]
    services = [c for c in work if not c.preemptible]
    snapshot, passes, decisions, wall = settle(nodes, pools, no_guarantees, batch)
    print(f"  batch alone: {len(passes)} passes, {wall:.2f} s")
    snapshot, passes, decisions, wall = settle(nodes, pools, tenant_list, snapshot + services)
    print(f"  {'pass':>4} {'seconds':>8} {'decisions':>10} {'admitted':>9} {'preemptors':>11} {'victims':>8}")
    for i, (secs, made, admits, preempts, victims) in enumerate(passes, 1):
        print(f"  {i:>4} {secs:>8.2f} {made:>10} {admits:>9} {preempts:>11} {victims:>8}")
    print(f"  settled {args.claims} claims in {len(passes)} passes, {wall:.2f} s wall, "
          f"{decisions / wall:,.0f} decisions/s")
    running = sum(c.admission is not None for c in snapshot)
    print(f"  {running} claims admitted, {len(snapshot) - running} pending")

    extra = claims(100, tenant_list, random.Random(args.seed + 1), start=args.claims)
    t0 = time.perf_counter()
    steady = allocate(nodes, tenant_list, snapshot + extra, pools)
    took = time.perf_counter() - t0
    print(f"\nsteady state: 100 new claims on the settled cluster ({len(steady.decisions)} pending in all): "
          f"{took:.2f} s")


if __name__ == "__main__":
    main()
