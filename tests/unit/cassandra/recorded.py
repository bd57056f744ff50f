"""The recorded ``nodetool`` outputs of tests/unit/data/cassandra/ and the pods of their 6-node datacenter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from operators.cassandra.nodetool import parse_status

DATA = Path(__file__).resolve().parents[1] / "data" / "cassandra"
GIB = 2**30
PODS = {"10.244.1.1": "dc1-r1-0", "10.244.3.1": "dc1-r2-0", "10.244.5.1": "dc1-r3-0",
        "10.244.1.2": "dc1-r1-1", "10.244.3.2": "dc1-r2-1", "10.244.5.2": "dc1-r3-1"}


def read(name: str) -> str:
    return (DATA / name).read_text()


def ring(name: str):
    """The ring a recorded ``nodetool status`` shows, with the pods attached by IP."""
    return [replace(n, pod=PODS.get(n.address)) for n in parse_status(read(name))]
