"""The nodetool parsers and the probes, on recorded outputs (tests/unit/data/cassandra/)."""

from __future__ import annotations

import pytest

from operators.cassandra.nodetool import (
    NodetoolProbe,
    ProbeError,
    ReadinessProbe,
    attach_pods,
    parse_describecluster,
    parse_load,
    parse_status,
    ring_from_pods,
)

from .recorded import GIB, PODS, read


class Recorded(NodetoolProbe):
    """The nodetool probe with the exec replaced by recorded outputs."""

    def __init__(self, outputs: dict[str, str]):
        super().__init__("ns")
        self.outputs, self.calls = outputs, []

    def _nodetool(self, pod: str, *args: str) -> str:
        self.calls.append((pod, *args))
        return self.outputs.get(args[0], "")


@pytest.mark.parametrize(("text", "expected"), [
    ("69.08 KiB", 70737), ("1.88 MB", 1971322), ("4.12 GiB", int(4.12 * GIB)), ("57,61 KB", 58992), ("?", None),
    ("12 bytes", 12)])
def test_loads_are_read_in_bytes(text, expected):
    assert parse_load(text) == expected


def test_unknown_load_unit_is_an_error():
    with pytest.raises(ValueError, match="unknown load unit"):
        parse_load("3 PiB")


def test_status_of_a_single_node_cassandra_4():
    (node,) = parse_status(read("status-4.0.3-single.txt"))
    assert (node.datacenter, node.code, node.address, node.tokens, node.rack) == (
        "datacenter1", "UN", "127.0.0.1", 16, "rack1")
    assert node.host_id == "1aca53af-5c43-4adc-b3c3-bdfdf839e3cc" and node.up_normal


def test_status_with_a_joining_node():
    nodes = parse_status(read("status-joining.txt"))
    assert [n.code for n in nodes] == ["UN", "UJ", "UN"]
    assert nodes[1].load == int(14.43 * 1024) and not nodes[1].up_normal


def test_status_where_the_load_runs_into_the_tokens_column():
    nodes = parse_status(read("status-tight-columns.txt"))
    assert [(n.load, n.tokens, n.rack) for n in nodes][0] == (int(136.15 * 1024), 32, "Rack1-K8Demo")


def test_a_line_that_cannot_be_read_is_an_error():
    with pytest.raises(ValueError, match="cannot read nodetool status line"):
        parse_status("UN  10.0.0.1  lots  16  33%  id  r1\n")


def test_describecluster_reads_schema_and_database_versions():
    info = parse_describecluster(read("describecluster-agreed.txt"))
    assert info.name == "demo" and info.unreachable == 0
    assert list(info.schema_versions) == ["a4d3b6c2-91f0-3b6e-9d1c-5e7f8a9b0c1d"]
    assert info.database_versions == {"4.1.9": tuple(PODS)}


def test_describecluster_mid_upgrade_lists_the_unreachable_node_apart_from_the_schemas():
    info = parse_describecluster(read("describecluster-mid-upgrade.txt"))
    assert len(info.schema_versions) == 1 and info.unreachable == 1
    assert info.database_versions["5.0.5"] == ("10.244.1.1",)


def test_readiness_ring_counts_ready_pods_as_up_and_normal():
    pods = [{"metadata": {"name": "a"}, "status": {"podIP": "10.0.0.1", "conditions": [
                {"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"conditions": [
                {"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "c"}, "status": {}}]
    nodes = ring_from_pods(pods, "dc1", {"a": "r1", "b": "r1", "c": "r2"})
    assert [(n.pod, n.code, n.rack) for n in nodes] == [("a", "UN", "r1"), ("b", "DN", "r1"), ("c", "DN", "r2")]


def test_the_probe_parses_what_nodetool_prints_and_runs_node_operations():
    probe = Recorded({"status": read("status-dc1-one-down.txt"),
                      "describecluster": read("describecluster-mid-upgrade.txt")})
    assert [n.code for n in probe.status("dc1-r1-0")] == ["UN", "DN", "UN", "UN", "UN", "UL"]
    assert probe.describe_cluster("dc1-r1-0").unreachable == 1
    probe.run("dc1-r2-1", "drain")
    assert probe.calls[-1] == ("dc1-r2-1", "drain")
    with pytest.raises(ValueError, match="unknown node operation 'removenode'"):
        probe.run("dc1-r2-1", "removenode")


def test_ring_nodes_get_their_pod_by_ip_and_other_datacenters_are_left_out():
    nodes = parse_status(read("status-dc1-healthy.txt")) + parse_status(read("status-joining.txt"))
    pods = [{"metadata": {"name": name}, "status": {"podIP": ip}} for ip, name in PODS.items() if name != "dc1-r3-1"]
    attached = attach_pods(nodes, pods, "dc1")
    assert [n.pod for n in attached] == ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0", "dc1-r1-1", "dc1-r2-1", None]



def ready_pods() -> list[dict]:
    return [{"metadata": {"name": name}, "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}
            for ip, name in PODS.items()]


RACKS = {name: name.split("-")[1] for name in PODS.values()}


def test_the_ring_is_asked_of_a_node_that_was_not_drained():
    # real-services Finding 5a: a drained node's nodetool status still lists itself UN (gossip is off).
    probe = Recorded({"status": read("status-dc1-one-down.txt")})
    nodes = probe.ring(ready_pods(), "dc1", RACKS, stale={"dc1-r1-0"})
    assert probe.calls == [("dc1-r2-0", "status")]
    assert [(n.pod, n.code) for n in nodes][:2] == [("dc1-r1-0", "UN"), ("dc1-r2-0", "DN")]
    assert probe.ring(ready_pods(), "dc1", RACKS, stale=set(PODS.values())) == []
    assert len(probe.calls) == 1, "no node is asked when every Ready node's view is stale"


def test_a_failed_nodetool_status_names_the_node_it_asked():
    class Failing(Recorded):
        def _nodetool(self, pod: str, *args: str) -> str:
            raise RuntimeError("exec refused")

    with pytest.raises(ProbeError, match="nodetool status on dc1-r1-0: exec refused"):
        Failing({}).ring(ready_pods(), "dc1", RACKS)


def test_the_readiness_probe_reads_pods_only_and_runs_nothing():
    probe = ReadinessProbe("ns")
    pods = ready_pods()
    pods[1]["status"]["conditions"][0]["status"] = "False"
    assert [n.code for n in probe.ring(pods, "dc1", RACKS, stale={"dc1-r1-0"})] == ["UN", "DN", "UN", "UN", "UN", "UN"]
    assert probe.describe_cluster("dc1-r1-0") is None
    probe.run("dc1-r1-0", "drain")
    assert probe.note == "(simulated: SMACK_CASSANDRA_PROBE=none)"
    with pytest.raises(ValueError, match="unknown node operation 'removenode'"):
        probe.run("dc1-r1-0", "removenode")
