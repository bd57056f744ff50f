"""The handler's report of a closed gate: smack_gate_blocked_total{service="cassandra",reason}."""

from __future__ import annotations

from prometheus_client import REGISTRY

from operators.cassandra.gates import Blocker
from operators.cassandra.handlers import gate_held
from operators.cassandra.plans import Wait


def blocked(reason: str) -> float:
    return REGISTRY.get_sample_value("smack_gate_blocked_total", {"service": "cassandra", "reason": reason}) or 0.0


def test_a_closed_gate_counts_once_per_reason_in_the_metric():
    before = blocked("node_not_up_normal"), blocked("schema_disagreement"), blocked("other")
    gate_held(Wait("dc1-r1-0", "update plan, phase r1", (
        Blocker("dc1-r2-0 is DN, not UN", "node_not_up_normal"),
        Blocker("dc1-r3-0 is UJ, not UN", "node_not_up_normal"),
        Blocker("nodes disagree on the schema (2 versions)", "schema_disagreement"), "an unclassified sentence")))
    after = blocked("node_not_up_normal"), blocked("schema_disagreement"), blocked("other")
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
