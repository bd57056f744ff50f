"""Cassandra safety gates: pure functions over what ``nodetool`` reports, and the probe that asks it.

Before the operator bootstraps, restarts, decommissions or replaces a node it asks one question:
is the rest of the datacenter healthy enough? The answer is a list of blockers, one sentence each;
an empty list means go. The rules are cass-operator's and DC/OS Cassandra's
(shared/anchors/cassandra-anchors.md b): every other node up and normal (UN) and one schema version
before a restart; before a decommission also room on the remaining nodes for the leaving node's data.

The gates read frozen dataclasses. :class:`Probe` is the small interface a handler needs;
:class:`NodetoolProbe` runs ``nodetool`` in a pod of the datacenter (Kubernetes exec) and parses its
text with :func:`parse_status` and :func:`parse_describecluster`, which are unit-tested on recorded
outputs (tests/unit/data/cassandra/). :func:`ring_from_pods` is the readiness-only ring used where no
Cassandra process runs (``SMACK_CASSANDRA_PROBE=none``, the simulated e2e cluster).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

_UNITS = {"bytes": 1, "B": 1, "KiB": 2**10, "KB": 2**10, "MiB": 2**20, "MB": 2**20, "GiB": 2**30, "GB": 2**30,
          "TiB": 2**40, "TB": 2**40}


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


def parse_load(text: str) -> int | None:
    """``"108.45 KiB"`` -> 111052 bytes; ``"?"`` -> None. Raises ValueError on an unknown unit."""
    text = text.strip()
    if text in ("?", ""):
        return None
    number, _, unit = text.partition(" ")
    if unit not in _UNITS:
        raise ValueError(f"unknown load unit in {text!r}")
    return int(float(number.replace(",", ".")) * _UNITS[unit])  # some locales print a decimal comma


_STATUS_LINE = re.compile(
    r"^(?P<code>[UD?][NJLM])\s+(?P<address>\S+)\s+(?P<load>\?|[0-9.,]+ \S+)\s+(?P<tokens>\d+)\s+"
    r"(?P<owns>\?|[0-9.,]+%)\s+(?P<host>\S+)\s+(?P<rack>\S+)\s*$")


def parse_status(text: str) -> list[RingNode]:
    """Parse ``nodetool status`` (Cassandra 4.0-5.0 layout): every node of every datacenter, in order.

    Raises ValueError on a node line it cannot read, naming it.
    """
    nodes: list[RingNode] = []
    datacenter = ""
    for line in text.splitlines():
        if line.startswith("Datacenter: "):
            datacenter = line.removeprefix("Datacenter: ").strip()
            continue
        if not re.match(r"^[UD?][NJLM]\s", line):
            continue
        match = _STATUS_LINE.match(line)
        if not match:
            raise ValueError(f"cannot read nodetool status line {line!r}")
        code = match["code"]
        nodes.append(RingNode(datacenter, code[0], code[1], match["address"], parse_load(match["load"]),
                              int(match["tokens"]), match["host"], match["rack"]))
    return nodes


def parse_describecluster(text: str) -> ClusterInfo:
    """Parse ``nodetool describecluster``: the cluster name, schema and database versions, unreachable count.

    Nodes listed as UNREACHABLE under the schema versions are not a schema version of their own.
    """
    name, section, unreachable = "", "", 0
    schemas: dict[str, tuple[str, ...]] = {}
    versions: dict[str, tuple[str, ...]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not raw.startswith((" ", "\t")):
            section = line.rstrip(":")
            continue
        if line.startswith("Name:"):
            name = line.removeprefix("Name:").strip()
        elif line.startswith("Unreachable:"):
            unreachable = int(line.removeprefix("Unreachable:").strip())
        elif section in ("Cluster Information", "Database versions") and ": [" in line:
            key, _, addresses = line.partition(": [")
            hosts = tuple(a.strip().split(":")[0] for a in addresses.rstrip("]").split(",") if a.strip())
            if section == "Database versions":
                versions[key.strip()] = hosts
            elif key.strip() not in ("Schema versions", "UNREACHABLE"):
                schemas[key.strip()] = hosts
    return ClusterInfo(name, schemas, versions, unreachable)


def ring_from_pods(pods: Iterable[Mapping[str, Any]], datacenter: str, rack_of: Mapping[str, str]) -> list[RingNode]:
    """The readiness-only ring: a Ready pod is UN, any other DN (no load, host ID or tokens are known)."""
    nodes = []
    for pod in pods:
        meta = pod["metadata"]
        ready = meta.get("deletionTimestamp") is None and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or [])
        nodes.append(RingNode(datacenter, "U" if ready else "D", "N", (pod.get("status") or {}).get("podIP") or "",
                              None, 0, "", rack_of.get(meta["name"], ""), meta["name"]))
    return nodes


def attach_pods(ring: Iterable[RingNode], pods: Iterable[Mapping[str, Any]], datacenter: str) -> list[RingNode]:
    """The nodes of ``datacenter`` in ``ring`` with their pod names, matched by pod IP (None: no such pod)."""
    pod_of_ip = {(p.get("status") or {}).get("podIP"): p["metadata"]["name"] for p in pods}
    return [replace(n, pod=pod_of_ip.get(n.address)) for n in ring if n.datacenter == datacenter]


# --------------------------------------------------------------------------- gates


def _name(node: RingNode) -> str:
    return node.pod or node.address


def restart_blockers(target: str | None, ring: Sequence[RingNode], expected: Iterable[str],
                     info: ClusterInfo | None = None) -> list[str]:
    """Why a node may not be stopped (or a new one bootstrapped) now; empty: go.

    ``target`` is the pod to restart (None: none, e.g. before a bootstrap); ``expected`` every pod
    that should be in the ring. Every other expected node must be up and normal, and (when
    ``info`` is given) the live nodes must agree on one schema version.
    """
    by_pod = {n.pod: n for n in ring if n.pod}
    blockers = [f"{pod} is not in the ring" for pod in expected if pod != target and pod not in by_pod]
    blockers += [f"{_name(n)} is {n.code}, not UN" for n in ring if n.pod != target and not n.up_normal]
    if info is not None and len(info.schema_versions) > 1:
        blockers.append(f"nodes disagree on the schema ({len(info.schema_versions)} versions)")
    return blockers


def decommission_blockers(target: str, ring: Sequence[RingNode], capacity: int, expected: Iterable[str],
                          info: ClusterInfo | None = None, headroom: float = 0.9) -> list[str]:
    """Why ``target`` may not be decommissioned now; empty: go.

    Every other node must be up and normal (and agree on the schema, when ``info`` is given), and the
    remaining nodes must have room for the leaving node's data: its load spread evenly over them must
    keep each below ``headroom`` × ``capacity`` (bytes, the volume size). cass-operator checks free
    space before a decommission the same way.
    """
    blockers = restart_blockers(target, ring, expected, info)
    leaving = next((n for n in ring if n.pod == target), None)
    others = [n for n in ring if n.pod != target]
    if leaving is None or not others:
        return blockers + ([] if others else ["no other node would hold the data"])
    share = (leaving.load or 0) / len(others)
    full = [n for n in others if (n.load or 0) + share > headroom * capacity]
    if full:
        blockers.append(f"no room for {target}'s data: {', '.join(_name(n) for n in full)} would pass "
                        f"{headroom:.0%} of {capacity} bytes")
    return blockers


# --------------------------------------------------------------------------- the probe


class Probe(Protocol):
    """What the operator asks of a running datacenter. ``pod`` names the node; calls block until done."""

    def status(self, pod: str) -> list[RingNode]:
        """``nodetool status`` as seen from ``pod``."""
        ...

    def describe_cluster(self, pod: str) -> ClusterInfo:
        ...

    def run(self, pod: str, command: str) -> None:
        """Run a node operation on ``pod``: drain, decommission, cleanup or upgradesstables."""
        ...


NODE_COMMANDS = ("drain", "decommission", "cleanup", "upgradesstables")


class NodetoolProbe:
    """:class:`Probe` over ``nodetool`` run in the pod's ``cassandra`` container (Kubernetes exec)."""

    def __init__(self, namespace: str, timeout: float = 3600.0, container: str = "cassandra") -> None:
        self.namespace, self.timeout, self.container = namespace, timeout, container

    def _nodetool(self, pod: str, *args: str) -> str:
        from kubernetes import client
        from kubernetes.stream import stream

        resp = stream(client.CoreV1Api().connect_get_namespaced_pod_exec, pod, self.namespace,
                      container=self.container, command=["nodetool", *args], stderr=True, stdin=False,
                      stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=self.timeout)
        out, err = resp.read_stdout(), resp.read_stderr()
        if resp.returncode != 0:
            raise RuntimeError(f"nodetool {' '.join(args)} on {pod} failed ({resp.returncode}): {err or out}")
        return out

    def status(self, pod: str) -> list[RingNode]:
        return parse_status(self._nodetool(pod, "status"))

    def describe_cluster(self, pod: str) -> ClusterInfo:
        return parse_describecluster(self._nodetool(pod, "describecluster"))

    def run(self, pod: str, command: str) -> None:
        if command not in NODE_COMMANDS:
            raise ValueError(f"unknown node operation {command!r}; one of {', '.join(NODE_COMMANDS)}")
        self._nodetool(pod, command)
