"""Placement: an assignment of a pod set's pods to nodes with room that satisfies its constraints.

Marathon constraints (docs/docs/constraints.md and Constraints.scala). A pod set is admitted
only with an assignment of pods to nodes with room that satisfies its constraints: ``count``
pods if possible, otherwise as many as fit but at least ``min_count`` (the gang: all or
nothing). Operators: UNIQUE (one pod per value), CLUSTER (all pods on the given value, or on
one value of the field when no value is given), GROUP_BY n (pods spread evenly over min(n,
pods) values: each gets ⌊pods/n⌋ or ⌈pods/n⌉), MAX_PER n (at most n pods per value), IS
(equal), LIKE / UNLIKE (the value is a regular expression matched against the whole
attribute). A pod set may have at most one GROUP_BY or value-less CLUSTER: the allocator
chooses that constraint's values up front (largest room first for GROUP_BY, the smallest
value that fits for CLUSTER), then fills nodes best-fit (least free CPU first). Placement is
greedy: every placement it returns satisfies the constraints, but when constraints on
different label fields cut across each other it may miss an arrangement that exists.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping

from ...scheduling.labels import HOSTNAME
from .model import CPU, RESOURCES, UNLIMITED, ZERO, Constraint, PodSet, Pool, Vector, add, describe
from .nodes import NodeIndex


class Shape:
    """A pod set compiled against the cluster: per-pod vector, allowed nodes and per-value caps."""

    __slots__ = ("pod_set", "per_pod", "needed", "allowed", "allowed_count", "node_cap", "caps",
                 "grouping", "group_values", "where", "cache_key")

    def __init__(self, pod_set: PodSet, pool: Pool | None, cluster: NodeIndex) -> None:
        self.pod_set = pod_set
        self.per_pod = pod_set.per_pod
        self.needed = tuple(r for r in RESOURCES if self.per_pod[r] > 0)
        constraints = tuple(sorted(set(pod_set.constraints), key=str))
        self.allowed, self.allowed_count = cluster.mask(pool, constraints)
        self.node_cap = UNLIMITED
        per_value: dict[str, int] = {}
        self.grouping: Constraint | None = None
        for c in pod_set.constraints:
            cap = 1 if c.operator == "UNIQUE" else c.number if c.operator == "MAX_PER" else None
            if cap is not None and c.field == HOSTNAME:
                self.node_cap = min(self.node_cap, cap)
            elif cap is not None:
                per_value[c.field] = min(per_value.get(c.field, UNLIMITED), cap)
            elif c.groups:
                self.grouping = c
        self.caps = [(cluster.attribute(f), cap, f) for f, cap in sorted(per_value.items())]
        self.group_values = cluster.attribute(self.grouping.field) if self.grouping else None
        self.where = f" in pool {pool.name}" if pool else ""
        self.cache_key = (pod_set.pool, constraints)


class View:
    """Free capacity as one claim's evaluation sees it: the cluster's, minus pods placed tentatively,
    plus what preempted victims would release (negative entries in the overlay)."""

    def __init__(self, cluster: NodeIndex, overlay: Mapping[int, Vector] | None = None) -> None:
        self.cluster = cluster
        self.overlay: dict[int, Vector] = dict(overlay or {})

    def fit(self, i: int, shape: Shape) -> int:
        """How many more pods of the shape node ``i`` has room for."""
        free, extra = self.cluster.free[i], self.overlay.get(i)
        per_pod, best = shape.per_pod, UNLIMITED
        for r in shape.needed:
            room = (free[r] - extra[r]) if extra is not None else free[r]
            pods = room // per_pod[r]
            if pods < best:
                best = pods
        return best

    def nodes_by_free_cpu(self, shape: Shape) -> Iterator[int]:
        """The shape's pool nodes that may have its CPU free, least free first; then nodes that only
        victims' release makes so. Callers still check ``shape.allowed``."""
        by_cpu, cpu = self.cluster.by_cpu[shape.pod_set.pool], shape.per_pod[CPU]
        for pos in range(bisect.bisect_left(by_cpu, (cpu, -1)), len(by_cpu)):
            yield by_cpu[pos][1]
        free = self.cluster.free
        for i, extra in self.overlay.items():
            if extra[CPU] < 0 and free[i][CPU] < cpu:
                yield i

    def use(self, placed: Mapping[int, int], per_pod: Vector) -> None:
        for i, pods in placed.items():
            self.overlay[i] = add(self.overlay.get(i, ZERO), per_pod, pods)


def _fill(view: View, shape: Shape, nodes: Iterable[int], target: int,
          counts: list[Counter]) -> tuple[dict[int, int], int]:
    """Place up to ``target`` pods on ``nodes`` in order, within node room and per-value caps.

    ``counts`` (pods per value, one Counter per cap) is updated in place.
    """
    placed: dict[int, int] = {}
    total = 0
    allowed, caps = shape.allowed, shape.caps
    for i in nodes:
        if not allowed[i]:
            continue
        pods = min(view.fit(i, shape), shape.node_cap, target - total)
        for (values, cap, _), count in zip(caps, counts, strict=True):
            pods = min(pods, cap - count[values[i]])
        if pods <= 0:
            continue
        placed[i] = pods
        total += pods
        for (values, _, _), count in zip(caps, counts, strict=True):
            count[values[i]] += pods
        if total >= target:
            break
    return placed, total


class _Groups:
    """The values of a pod set's GROUP_BY / CLUSTER field, each with its nodes and an upper bound of
    its room."""

    def __init__(self, view: View, shape: Shape) -> None:
        self.members: dict[str, list[int]] = defaultdict(list)
        self.room: Counter = Counter()
        for i in view.nodes_by_free_cpu(shape):
            if shape.allowed[i]:
                pods = min(view.fit(i, shape), shape.node_cap)
                if pods > 0:
                    value = shape.group_values[i]
                    self.members[value].append(i)
                    self.room[value] += pods
        for _, cap, name in shape.caps:
            if name == shape.grouping.field:
                for value in self.room:
                    self.room[value] = min(self.room[value], cap)


def _place_grouped(view: View, shape: Shape, groups: _Groups, pods: int) -> dict[int, int] | None:
    """Place exactly ``pods`` pods honouring the pod set's GROUP_BY or value-less CLUSTER, or None."""
    grouping = shape.grouping
    if grouping.operator == "CLUSTER":
        for value in sorted(groups.room, key=lambda v: (groups.room[v], v)):  # smallest value that fits
            if groups.room[value] >= pods:
                counts = [Counter() for _ in shape.caps]
                placed, total = _fill(view, shape, groups.members[value], pods, counts)
                if total == pods:
                    return placed
        return None
    spread = min(grouping.number, pods)
    each, extra = divmod(pods, spread)
    need = {each + 1: extra, each: spread - extra}
    placed_all: dict[int, int] = {}
    counts = [Counter() for _ in shape.caps]
    for value in sorted(groups.room, key=lambda v: (-groups.room[v], v)):  # most room first
        for want in (each + 1, each):
            if need.get(want) and groups.room[value] >= want:
                trial = [Counter(c) for c in counts]
                placed, total = _fill(view, shape, groups.members[value], want, trial)
                if total == want:
                    placed_all.update(placed)
                    counts = trial
                    need[want] -= 1
                    break
        if not any(need.values()):
            return placed_all
    return None


def place(view: View, shape: Shape, low: int, high: int) -> dict[int, int] | str:
    """Place between ``low`` and ``high`` pods of the shape (as many as fit), or say why not.

    Returns ``{node index: pods}`` or the failure message.
    """
    if shape.allowed_count == 0:
        return f"no schedulable node{shape.where} satisfies {_constraints_text(shape) or 'the pool'}"
    if shape.grouping is None:
        placed, total = _fill(view, shape, view.nodes_by_free_cpu(shape), high,
                              [Counter() for _ in shape.caps])
        return placed if total >= low else _no_room_message(view, shape, low, placed, total)
    groups = _Groups(view, shape)
    best = _place_grouped(view, shape, groups, high)
    if best is not None:
        return best
    best = _place_grouped(view, shape, groups, low) if low < high else None
    if best is None:
        return _no_group_message(shape, groups, low)
    fits, fails = low, high
    while fails - fits > 1:
        middle = (fits + fails) // 2
        placed = _place_grouped(view, shape, groups, middle)
        if placed is None:
            fails = middle
        else:
            fits, best = middle, placed
    return best


def _constraints_text(shape: Shape) -> str:
    return ", ".join(str(c) for c in shape.pod_set.constraints)


def _names(view: View, nodes: Iterable[int], limit: int = 5) -> str:
    names = sorted(view.cluster.nodes[i].name for i in nodes)
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _no_room_message(view: View, shape: Shape, pods: int, placed: Mapping[int, int], total: int) -> str:
    request = describe(shape.per_pod)
    if shape.node_cap == 1 and not shape.caps:
        found = f" ({_names(view, placed)})" if placed else ""
        return f"needs {pods} distinct hosts with {request} free{shape.where}; {total} available{found}"
    rules = _constraints_text(shape)
    rules = f" ({rules})" if rules else ""
    where = f" on {len(placed)} nodes ({_names(view, placed)})" if placed else ""
    return f"needs room for {pods} pods of {request}{shape.where}{rules}; room for {total}{where}"


def _no_group_message(shape: Shape, groups: _Groups, pods: int) -> str:
    grouping, request = shape.grouping, describe(shape.per_pod)
    rooms = sorted(groups.room.items(), key=lambda kv: (-kv[1], kv[0]))
    room_text = ", ".join(f"{v}: {n}" for v, n in rooms[:6]) or "no value has room"
    if grouping.operator == "CLUSTER":
        return (f"needs {pods} pods of {request} on one value of {grouping.field}{shape.where}; "
                f"room per value: {room_text}")
    spread = min(grouping.number, pods)
    each, extra = divmod(pods, spread)
    share = f"{each}" if not extra else f"{each} or {each + 1}"
    return (f"needs {pods} pods of {request} spread over {spread} values of {grouping.field} ({share} each)"
            f"{shape.where}; {len(rooms)} values have room: {room_text}")
