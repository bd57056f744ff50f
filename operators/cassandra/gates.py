"""Cassandra safety gates: pure functions over the ring and the cluster information ``nodetool`` reports.

Before the operator bootstraps, restarts, decommissions or replaces a node it asks one question:
is the rest of the datacenter healthy enough? The answer is a list of blockers, one sentence each;
an empty list means go. The rules are cass-operator's and DC/OS Cassandra's
(shared/anchors/cassandra-anchors.md b): every other node up and normal (UN) and one schema version
before a restart; before a decommission also a live target and room on the remaining nodes for its data.

The gates read the frozen dataclasses below; :mod:`.nodetool` fills them from ``nodetool status`` and
``nodetool describecluster`` (or from pod readiness where no Cassandra process runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RingNode:
    """One line of ``nodetool status``: a node of the ring as another node's gossip sees it.

    ``status`` is U (up) or D (down), ``state`` N (normal), J (joining), L (leaving) or M (moving).
    ``load`` is in bytes, None when nodetool prints "?". ``pod`` is the pod name where known.
    """

    datacenter: str
    status: str
    state: str
    address: str
    load: int | None
    tokens: int
    host_id: str
    rack: str
    pod: str | None = None

    @property
    def code(self) -> str:
        """"UN", "DN", "UJ", …, as nodetool prints it."""
        return self.status + self.state

    @property
    def up_normal(self) -> bool:
        return self.code == "UN"


@dataclass(frozen=True)
class ClusterInfo:
    """``nodetool describecluster``: schema versions and the Cassandra versions, each with its node addresses."""

    name: str
    schema_versions: Mapping[str, tuple[str, ...]]
    database_versions: Mapping[str, tuple[str, ...]]
    unreachable: int


class Blocker(str):
    """One reason a gate is closed: the sentence a person reads, plus ``reason``, a short snake_case word
    for the metric ``smack_gate_blocked_total{service="cassandra",reason=...}`` (one of :data:`REASONS`)."""

    reason: str

    def __new__(cls, text: str, reason: str) -> Blocker:
        if reason not in REASONS:
            raise ValueError(f"unknown gate reason {reason!r}; one of {', '.join(REASONS)}")
        self = super().__new__(cls, text)
        self.reason = reason
        return self


# Every reason a Cassandra gate gives (the metric's label values; README "Metrics").
REASONS = ("node_missing", "node_not_up_normal", "schema_disagreement", "target_down", "no_room",
           "no_other_node", "not_admitted", "decommissioned_volume", "pod_not_ready", "probe_failed",
           "controller_lag", "not_joined")


def reason_of(blocker: str) -> str:
    """The metric reason of ``blocker``: its own for a :class:`Blocker`, else ``"other"``."""
    return blocker.reason if isinstance(blocker, Blocker) else "other"


def _name(node: RingNode) -> str:
    return node.pod or node.address


def restart_blockers(target: str | None, ring: Sequence[RingNode], expected: Iterable[str],
                     info: ClusterInfo | None = None) -> list[Blocker]:
    """Why a node may not be stopped (or a new one bootstrapped) now; empty: go.

    ``target`` is the pod to restart (None: none, e.g. before a bootstrap); ``expected`` every pod
    that should be in the ring. Every other expected node must be up and normal, and (when
    ``info`` is given) the live nodes must agree on one schema version.
    """
    by_pod = {n.pod: n for n in ring if n.pod}
    blockers = [Blocker(f"{pod} is not in the ring", "node_missing")
                for pod in expected if pod != target and pod not in by_pod]
    blockers += [Blocker(f"{_name(n)} is {n.code}, not UN", "node_not_up_normal")
                 for n in ring if n.pod != target and not n.up_normal]
    if info is not None and len(info.schema_versions) > 1:
        blockers.append(Blocker(f"nodes disagree on the schema ({len(info.schema_versions)} versions)",
                                "schema_disagreement"))
    return blockers


def decommission_blockers(target: str, ring: Sequence[RingNode], capacity: int, expected: Iterable[str],
                          info: ClusterInfo | None = None, headroom: float = 0.9) -> list[Blocker]:
    """Why ``target`` may not be decommissioned now; empty: go.

    The target must be up: ``nodetool decommission`` streams the node's own data away, so it cannot run
    on a down node (that one needs ``removenode``; real-services Finding 5b). Every other node must be up
    and normal (and agree on the schema, when ``info`` is given), and the remaining nodes must have room
    for the leaving node's data: its load spread evenly over them must keep each below ``headroom`` ×
    ``capacity`` (bytes, the volume size). cass-operator checks free space before a decommission the same way.
    """
    blockers = restart_blockers(target, ring, expected, info)
    leaving = next((n for n in ring if n.pod == target), None)
    others = [n for n in ring if n.pod != target]
    if leaving is not None and leaving.status != "U":
        blockers.append(Blocker(f"{target} is {leaving.code}: nodetool decommission runs only on a live node",
                                "target_down"))
    if leaving is None or not others:
        return blockers + ([] if others else [Blocker("no other node would hold the data", "no_other_node")])
    share = (leaving.load or 0) / len(others)
    full = [n for n in others if (n.load or 0) + share > headroom * capacity]
    if full:
        blockers.append(Blocker(f"no room for {target}'s data: {', '.join(_name(n) for n in full)} would pass "
                                f"{headroom:.0%} of {capacity} bytes", "no_room"))
    return blockers
