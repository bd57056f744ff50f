"""Nodes: free capacity per node, indexed per pool by free CPU, and which nodes a pod set may use.

A node with a NoSchedule or NoExecute taint is used only by pods of a pool that tolerates it
(PreferNoSchedule is a hint and ignored); cordoned nodes are not used. A constraint's field
is read per node (Marathon, docs/docs/constraints.md): ``@hostname`` is the node's name,
``@zone`` and ``@region`` the ``topology.kubernetes.io`` labels, any other field a node
label; a node without the attribute satisfies only UNLIKE.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from ...scheduling.labels import FIELD_LABELS, HOSTNAME
from ...sdk.quantities import RESOURCE_NAMES
from .model import CPU, RESOURCES, UNLIMITED, Constraint, Node, Pool, Vector, sub, to_vector


class NodeIndex:
    """Free capacity per node, indexed per pool by free CPU: a pod set scans only its pool's nodes
    with enough CPU."""

    def __init__(self, nodes: Sequence[Node], pools: Mapping[str, Pool]) -> None:
        self.nodes = list(nodes)
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        if len(self.index) != len(self.nodes):
            raise ValueError("node names must be unique")
        self.declared = [tuple(name in n.allocatable for name in RESOURCE_NAMES) for n in self.nodes]
        self.free = [list(sub(to_vector(n.allocatable, UNLIMITED), to_vector(n.used))) for n in self.nodes]
        self.capacity: Vector = tuple(
            sum(n.allocatable.get(name, 0) for n in self.nodes) for name in RESOURCE_NAMES)
        self.free_total = [sum(free[r] for free, declared in zip(self.free, self.declared, strict=True)
                               if declared[r]) for r in RESOURCES]
        self.pools = pools
        self.by_cpu: dict[str | None, list[tuple[int, int]]] = {}  # pool (None: no pool) -> (free CPU, node)
        self.member_of: list[list[str | None]] = [[] for _ in self.nodes]
        self._attributes: dict[str, list[str | None]] = {}
        self._masks: dict[tuple, tuple[bytearray, int]] = {}

    def hold(self, i: int, per_pod: Vector, pods: int) -> None:
        """Take ``pods`` × ``per_pod`` from node ``i`` (directly before :meth:`build_index`, then
        through :meth:`commit`)."""
        free, declared = self.free[i], self.declared[i]
        for r in RESOURCES:
            free[r] -= pods * per_pod[r]
            if declared[r]:
                self.free_total[r] -= pods * per_pod[r]

    def build_index(self) -> None:
        for key in (None, *self.pools):
            pool = self.pools.get(key) if key is not None else None
            members = [i for i, n in enumerate(self.nodes) if not n.unschedulable and in_pool(n, pool)]
            self.by_cpu[key] = sorted((self.free[i][CPU], i) for i in members)
            for i in members:
                self.member_of[i].append(key)

    def commit(self, placed: Mapping[int, int], per_pod: Vector) -> None:
        """Take admitted pods from their nodes, keeping the free-CPU indexes sorted."""
        for i, pods in placed.items():
            for key in self.member_of[i]:
                index = self.by_cpu[key]
                del index[bisect.bisect_left(index, (self.free[i][CPU], i))]
            self.hold(i, per_pod, pods)
            for key in self.member_of[i]:
                bisect.insort(self.by_cpu[key], (self.free[i][CPU], i))

    def attribute(self, name: str) -> list[str | None]:
        """Each node's value of a constraint field (@hostname, @zone, @region or a label key)."""
        if name not in self._attributes:
            if name == HOSTNAME:
                self._attributes[name] = [n.name for n in self.nodes]
            else:
                label = FIELD_LABELS.get(name, name)
                self._attributes[name] = [n.labels.get(label) for n in self.nodes]
        return self._attributes[name]

    def mask(self, pool: Pool | None, constraints: tuple[Constraint, ...]) -> tuple[bytearray, int]:
        """Which nodes a pod set may use at all (pool, taints, cordon, attribute constraints), and how
        many."""
        key = (pool.name if pool else None, constraints)
        if key not in self._masks:
            allowed = bytearray(len(self.nodes))
            for i, node in enumerate(self.nodes):
                allowed[i] = (not node.unschedulable and in_pool(node, pool)
                              and all(admits(c, self.attribute(c.field)[i]) for c in constraints))
            self._masks[key] = (allowed, sum(allowed))
        return self._masks[key]


def in_pool(node: Node, pool: Pool | None) -> bool:
    """Whether pods of ``pool`` (None: no pool) may use the node: its selector matches and every taint
    that keeps pods away is tolerated."""
    tolerations = pool.tolerations if pool else ()
    if pool is not None and not pool.selector.matches(node.labels):
        return False
    return all(taint.effect == "PreferNoSchedule" or any(t.tolerates(taint) for t in tolerations)
               for taint in node.taints)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def admits(constraint: Constraint, value: str | None) -> bool:
    """Whether a node with this attribute value may hold a pod at all (Marathon: a missing attribute
    satisfies UNLIKE only)."""
    op = constraint.operator
    if op == "UNLIKE":
        return value is None or not _regex(constraint.value).fullmatch(value)
    if value is None:
        return False
    if op == "LIKE":
        return bool(_regex(constraint.value).fullmatch(value))
    if op == "IS" or (op == "CLUSTER" and constraint.value is not None):
        return value == constraint.value
    return True  # UNIQUE, MAX_PER, GROUP_BY, CLUSTER: decided by counting pods per value
