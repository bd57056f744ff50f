"""Smoke tests of the data plane: each service really runs under its operator on the real nodes (Spark:
test_real_spark.py).

One service at a time, each in its own namespace (``real_ns``: the NodePool ``real`` of
examples/real-nodes.yaml, deleted and waited for afterwards), with small requests so it fits the
real nodes (2 cores, 24 GiB shared). The operators run the real clients (kafka-python, nodetool):
run these in their own session, ``pytest -m real``. Clients run in pods of smack-client:dev
(hack/clients/). Figures (start → Ready, RSS) are printed at the end of the session.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Kubectl, figure, wait_for
from .realpods import pod_figures, ready_unless_crashing, run_client

pytestmark = [pytest.mark.e2e, pytest.mark.real]

POOL = "real"
STORAGE = {"size": "1Gi", "storageClassName": "real-local"}


# Proven again, under traffic and through every lifecycle operation, by test_real_kafka.py: make test-full.
@pytest.mark.full
def test_kafka_3_controllers_3_brokers_ready_and_10000_messages_round_trip(
        real_ns: Kubectl, pytestconfig: pytest.Config) -> None:
    node_set = {"replicas": 3, "nodePool": POOL, "storage": STORAGE}
    real_ns.apply(json.dumps({
        "apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster", "metadata": {"name": "smoke"},
        "spec": {"version": "4.1.1", "listeners": [{"name": "plain", "port": 9092}],
                 "controllers": {**node_set, "resources": {"requests": {"cpu": "100m", "memory": "768Mi"}}},
                 "brokers": {**node_set, "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}}}}))
    obj = wait_for(lambda: ready_unless_crashing(real_ns, "kafkacluster", "smoke", "kafka.smack.dev/cluster=smoke"),
                   timeout=600, interval=2,
                   what="KafkaCluster smoke Ready on the real nodes")
    pods = real_ns.json("get", "pods", "-l", "kafka.smack.dev/cluster=smoke")["items"]
    assert len(pods) == 6 and {p["spec"]["nodeName"] for p in pods} == {"real-a", "real-b", "real-c"}

    result = run_client(real_ns, "produce-consume", "kafka_roundtrip.py", obj["status"]["bootstrapServers"],
                        "smoke", "10000")
    figure(pytestconfig, f"kafka round trip: {json.dumps(result)}")
    assert result["acked"] == 10000 and result["failed"] == 0, result
    assert result["lost"] == 0 and result["received"] >= result["acked"], result
    for line in pod_figures(real_ns, "kafka.smack.dev/cluster=smoke", "kafka"):
        figure(pytestconfig, f"kafka {line}")


# Proven again, node by node and under LOCAL_QUORUM traffic, by test_real_cassandra.py: make test-full.
@pytest.mark.full
def test_cassandra_3_nodes_over_3_racks_ready_all_UN_and_quorum_read_write(
        real_ns: Kubectl, pytestconfig: pytest.Config) -> None:
    real_ns.apply(json.dumps({
        "apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter", "metadata": {"name": "dc1"},
        "spec": {"clusterName": "smoke", "serverVersion": "5.0.5", "size": 3, "nodePool": POOL, "storage": STORAGE,
                 "racks": [{"name": f"r{i}", "zone": f"zone-{z}"} for i, z in enumerate("abc", 1)],
                 "resources": {"requests": {"cpu": "200m", "memory": "1536Mi"}},
                 "jvm": {"heapSize": "768Mi"}}}))
    wait_for(lambda: ready_unless_crashing(real_ns, "cassandradatacenter", "dc1", "cassandra.smack.dev/datacenter=dc1"),
             timeout=900, interval=2,
             what="CassandraDatacenter dc1 Ready on the real nodes")
    pods = real_ns.json("get", "pods", "-l", "cassandra.smack.dev/datacenter=dc1")["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {"real-a", "real-b", "real-c"} and len(pods) == 3

    status = real_ns.run("exec", "dc1-r1-0", "-c", "cassandra", "--", "nodetool", "status").stdout
    figure(pytestconfig, "cassandra nodetool status:\n" + status)
    nodes = [line.split() for line in status.splitlines() if line[:2] in ("UN", "UJ", "UL", "UM", "DN", "DJ")]
    assert len(nodes) == 3 and all(n[0] == "UN" for n in nodes), status
    assert sorted(n[-1] for n in nodes) == ["r1", "r2", "r3"], status

    result = run_client(real_ns, "cql", "cql_quorum.py", f"dc1-client.{real_ns.namespace}.svc", "dc1", "3")
    figure(pytestconfig, f"cassandra CQL at QUORUM: {json.dumps(result)}")
    assert result["read"] == result["written"]
    # The driver knows every rack's node (whether it has opened a connection to each yet is its own business).
    assert sorted(h["rack"] for h in result["hosts"]) == ["r1", "r2", "r3"], result["hosts"]
    for line in pod_figures(real_ns, "cassandra.smack.dev/datacenter=dc1", "cassandra"):
        figure(pytestconfig, f"cassandra {line}")
