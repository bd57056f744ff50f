"""Pure-code figures for the Kafka operator: how long building the desired state takes.

Prints, for clusters of several sizes, the time to validate a spec and build
every child object (what each reconcile pass does before talking to the API
server), and the time to compare an unchanged intent with its live object.
Run: make bench   (or .venv/bin/python bench/reconcile_bench.py)
"""

from __future__ import annotations

import copy
import statistics
import time

from operators.kafka.api import KafkaClusterSpec
from operators.kafka.resources import Cluster, build
from operators.scheduling.claims import Grant
from operators.sdk.apply import contains

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    print(f"{'brokers':>8} {'objects':>8} {'build ms (median)':>18} {'p95 ms':>8} {'compare ms':>11}")
    for brokers in (3, 12, 50, 200):
        body = {"brokers": {"replicas": brokers}, "config": {"num.partitions": 12, "compression.type": "zstd"}}

        hosts = tuple(f"node-{i}" for i in range(brokers))
        grants = {"broker": Grant(brokers, hosts), "controller": Grant(3, hosts[:3])}

        def once(body=body, grants=grants):
            return build(Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate(body)), grants)

        objs = once()
        samples = timed(once, 50)
        live = [copy.deepcopy(o) for o in objs]
        compare = timed(lambda objs=objs, live=live: all(contains(lv, o) for lv, o in zip(live, objs, strict=True)),
                        50)
        print(f"{brokers:>8} {len(objs):>8} {statistics.median(samples) * 1e3:>18.2f} "
              f"{statistics.quantiles(samples, n=20)[-1] * 1e3:>8.2f} {statistics.median(compare) * 1e3:>11.3f}")


if __name__ == "__main__":
    main()
