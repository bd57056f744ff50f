"""How the operator sees and works a running datacenter: the :class:`Probe` and its two implementations.

:class:`NodetoolProbe` runs ``nodetool`` in a pod of the datacenter (Kubernetes exec) and parses its
text with :func:`parse_status` and :func:`parse_describecluster`, which are unit-tested on recorded
outputs (tests/unit/data/cassandra/). :class:`ReadinessProbe` stands in where no Cassandra process runs
(``SMACK_CASSANDRA_PROBE=none``, the simulated e2e cluster): the ring comes from pod readiness
(:func:`ring_from_pods`), there is no cluster information, and node operations do nothing (their
events say so). :mod:`.settings` picks one at start-up.

A node answers for the ring only when its own view is fresh: never one that was drained or
decommissioned, since with gossip off it still lists itself as UN (real-services Finding 5a).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from .gates import ClusterInfo, RingNode

_UNITS = {"bytes": 1, "B": 1, "KiB": 2**10, "KB": 2**10, "MiB": 2**20, "MB": 2**20, "GiB": 2**30, "GB": 2**30,
          "TiB": 2**40, "TB": 2**40}
NODE_COMMANDS = ("drain", "decommission", "cleanup", "upgradesstables")
PROBE_ENV = "SMACK_CASSANDRA_PROBE"  # read once at start-up by :mod:`.settings`
log = logging.getLogger(__name__)


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


def answering_node(ring: Iterable[RingNode], stale: Collection[str]) -> str | None:
    """The pod to ask about the datacenter: the first up-and-normal node whose view is not ``stale``
    (drained or decommissioned pods); None when there is none."""
    return next((n.pod for n in ring if n.up_normal and n.pod and n.pod not in stale), None)


class ProbeError(RuntimeError):
    """A probe could not answer; the message names the node asked and the command."""


class Probe(Protocol):
    """What the operator asks of a running datacenter. ``pod`` names the node; calls block until done.

    ``note`` is added to the event of every node operation (empty for a real one).
    """

    note: str

    def ring(self, pods: Sequence[Mapping[str, Any]], datacenter: str, rack_of: Mapping[str, str],
             stale: Collection[str] = ()) -> list[RingNode]:
        """The ring with pod names, as one node whose view is not ``stale`` sees it ([]: no node can answer).

        ``pods`` are the datacenter's pods, ``rack_of`` maps a pod to its rack. Raises ProbeError.
        """
        ...

    def describe_cluster(self, pod: str) -> ClusterInfo | None:
        """``nodetool describecluster`` as seen from ``pod`` (None: not known). Raises on exec or parse errors."""
        ...

    def run(self, pod: str, command: str) -> None:
        """Run a node operation on ``pod``: drain, decommission, cleanup or upgradesstables. Raises on failure."""
        ...


def _check_command(command: str) -> None:
    if command not in NODE_COMMANDS:
        raise ValueError(f"unknown node operation {command!r}; one of {', '.join(NODE_COMMANDS)}")


class NodetoolProbe:
    """:class:`Probe` over ``nodetool`` run in the pod's ``cassandra`` container (Kubernetes exec).

    ``timeout`` is in seconds (a decommission streams the node's data away, so it is long).
    """

    note = ""

    def __init__(self, namespace: str, timeout: float = 3600.0, container: str = "cassandra") -> None:
        self.namespace, self.timeout, self.container = namespace, timeout, container

    def _nodetool(self, pod: str, *args: str) -> str:
        from kubernetes import client
        from kubernetes.stream import stream

        started = time.monotonic()
        resp = stream(client.CoreV1Api().connect_get_namespaced_pod_exec, pod, self.namespace,
                      container=self.container, command=["nodetool", *args], stderr=True, stdin=False,
                      stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=self.timeout)
        out, err = resp.read_stdout(), resp.read_stderr()
        # Each call starts a JVM in the pod: its time is most of a pass's (figures in the bench and the report).
        log.info("nodetool %s on %s: exit %s in %.1f s", " ".join(args), pod, resp.returncode,
                 time.monotonic() - started)
        if resp.returncode != 0:
            raise RuntimeError(f"nodetool {' '.join(args)} on {pod} failed ({resp.returncode}): {err or out}")
        return out

    def status(self, pod: str) -> list[RingNode]:
        """``nodetool status`` as seen from ``pod``, every datacenter, without pod names."""
        return parse_status(self._nodetool(pod, "status"))

    def ring(self, pods: Sequence[Mapping[str, Any]], datacenter: str, rack_of: Mapping[str, str],
             stale: Collection[str] = ()) -> list[RingNode]:
        source = answering_node(ring_from_pods(pods, datacenter, rack_of), stale)
        if source is None:
            return []
        try:
            return attach_pods(self.status(source), pods, datacenter)
        except Exception as exc:  # any exec or parse error: no node is trusted
            raise ProbeError(f"nodetool status on {source}: {exc}") from exc

    def describe_cluster(self, pod: str) -> ClusterInfo:
        return parse_describecluster(self._nodetool(pod, "describecluster"))

    def run(self, pod: str, command: str) -> None:
        _check_command(command)
        self._nodetool(pod, command)


class ReadinessProbe:
    """:class:`Probe` for a datacenter where no Cassandra process runs: the ring from pod readiness
    (Ready = UN), no cluster information, and node operations that do nothing but are reported."""

    note = f"(simulated: {PROBE_ENV}=none)"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def ring(self, pods: Sequence[Mapping[str, Any]], datacenter: str, rack_of: Mapping[str, str],
             stale: Collection[str] = ()) -> list[RingNode]:
        return ring_from_pods(pods, datacenter, rack_of)

    def describe_cluster(self, pod: str) -> None:
        return None

    def run(self, pod: str, command: str) -> None:
        _check_command(command)
