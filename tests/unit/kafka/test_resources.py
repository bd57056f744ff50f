from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from operators.kafka.api import KafkaClusterSpec
from operators.kafka.config import dynamic_config
from operators.kafka.resources import (
    CONFIG_HASH_ANNOTATION,
    Cluster,
    build,
    config_hash,
    config_map,
    directory_id,
    kafka_uuid,
    server_properties,
    service_claim,
    start_script,
    stateful_set,
)
from operators.scheduling.claims import Grant

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def cluster(**spec) -> Cluster:
    return Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate(spec))


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def by_kind(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def test_build_returns_every_child_owned_by_the_cluster():
    objs = build(cluster(), {})
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    assert kinds == [
        ("ConfigMap", "prod-broker-config"), ("ConfigMap", "prod-controller-config"),
        ("PodDisruptionBudget", "prod-broker"), ("PodDisruptionBudget", "prod-controller"),
        ("Service", "prod-bootstrap"), ("Service", "prod-nodes"),
        ("StatefulSet", "prod-broker"), ("StatefulSet", "prod-controller"),
    ]
    for o in objs:
        (ref,) = o["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("KafkaCluster", "prod", UID, True)
        assert o["metadata"]["labels"]["kafka.smack.dev/cluster"] == "prod"


def test_broker_properties():
    c = cluster(listeners=[{"name": "plain", "port": 9092},
                           {"name": "tls", "port": 9093, "tls": True, "certificateSecret": "certs"}],
                config={"num.partitions": 6, "min.insync.replicas": 1})
    p = props(server_properties(c, "broker", 2))
    assert p["process.roles"] == "broker"
    assert p["node.id"] == "2"
    host = "prod-broker-2.prod-nodes.ns.svc"
    assert p["listeners"] == "REPLICATION://:9091,PLAIN://:9092,TLS://:9093"
    assert p["advertised.listeners"] == f"REPLICATION://{host}:9091,PLAIN://{host}:9092,TLS://{host}:9093"
    assert p["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT,TLS:SSL"
    assert p["inter.broker.listener.name"] == "REPLICATION"
    assert p["controller.quorum.bootstrap.servers"] == ",".join(
        f"prod-controller-{i}.prod-nodes.ns.svc:9090" for i in range(3))
    assert p["log.dirs"] == "/var/lib/kafka/data/kafka-log"
    assert p["listener.name.tls.ssl.keystore.type"] == "PEM"
    assert p["num.partitions"] == "6"
    assert p["min.insync.replicas"] == "1"  # spec.config wins over the operator's defaults
    assert p["offsets.topic.replication.factor"] == "3"


def test_controller_properties_have_the_controller_listener_and_the_keys_controllers_read():
    c = cluster(config={"num.partitions": 6, "log.retention.hours": 24, "auto.leader.rebalance.enable": "false"})
    p = props(server_properties(c, "controller", 1))
    assert p["process.roles"] == "controller"
    assert p["node.id"] == "1001"
    assert p["listeners"] == "CONTROLLER://:9090"
    assert p["advertised.listeners"] == "CONTROLLER://prod-controller-1.prod-nodes.ns.svc:9090"
    assert "inter.broker.listener.name" not in p
    # Controllers create topics, so they need the topic defaults; they never read log retention.
    assert (p["num.partitions"], p["default.replication.factor"], p["auto.leader.rebalance.enable"]) == (
        "6", "3", "false")
    assert "log.retention.hours" not in p
    broker = props(server_properties(c, "broker", 0))
    assert broker["log.retention.hours"] == "24" and "auto.leader.rebalance.enable" not in broker


def test_single_broker_gets_replication_defaults_it_can_satisfy():
    p = props(server_properties(cluster(brokers={"replicas": 1}), "broker", 0))
    assert p["offsets.topic.replication.factor"] == "1"
    assert p["min.insync.replicas"] == "1"


def test_config_map_has_one_file_per_pod_and_the_start_script():
    cm = config_map(cluster(brokers={"replicas": 4}), "broker")
    assert sorted(cm["data"]) == [f"prod-broker-{i}.properties" for i in range(4)] + ["start.sh"]
    assert "--no-initial-controllers" in cm["data"]["start.sh"]
    script = config_map(cluster(), "controller")["data"]["start.sh"]
    voters = re.search(r'--initial-controllers "([^"]+)"', script).group(1).split(",")
    assert [v.split("@")[0] for v in voters] == ["1000", "1001", "1002"]
    assert voters[0].endswith(":" + directory_id(cluster(), 1000))


def test_cluster_and_directory_ids_are_stable_kafka_uuids():
    c = cluster()
    assert c.cluster_id == cluster().cluster_id
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", c.cluster_id)
    assert c.cluster_id != directory_id(c, 1000) != directory_id(c, 1001)
    # Kafka tools read a leading '-' as an option; no derived id may start with one.
    assert all(not kafka_uuid(UID, f"n{i}").startswith("-") for i in range(2000))


GRANT = Grant(3, ("n1", "n2", "n3"))


def test_stateful_set_is_on_delete_with_volume_and_granted_placement():
    c = cluster(brokers={"storage": {"size": "50Gi", "storageClassName": "ssd"},
                         "constraints": [{"field": "@hostname", "operator": "UNIQUE"},
                                         {"field": "@zone", "operator": "GROUP_BY", "value": "3"}]})
    sts = stateful_set(c, "broker", "abc", GRANT)
    spec = sts["spec"]
    assert spec["replicas"] == 3
    assert spec["updateStrategy"] == {"type": "OnDelete"}
    assert spec["serviceName"] == "prod-nodes"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert claim["spec"]["storageClassName"] == "ssd"
    pod = spec["template"]
    assert pod["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] == "abc"
    affinity = pod["spec"]["affinity"]
    (term,) = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "kubernetes.io/hostname", "operator": "In",
                                         "values": ["n1", "n2", "n3"]}]
    (anti,) = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"] == {"kafka.smack.dev/cluster": "prod", "kafka.smack.dev/role": "broker"}
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == ("topology.kubernetes.io/zone", "DoNotSchedule")
    labels = pod["metadata"]["labels"]
    assert (labels["scheduling.smack.dev/claim"], labels["scheduling.smack.dev/pod-set"]) == ("prod", "broker")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "apache/kafka:4.1.1"
    assert [p["containerPort"] for p in container["ports"]] == [9091, 9092]


def test_without_a_grant_there_are_no_pods():
    sts = stateful_set(cluster(), "broker", "abc", None)
    assert sts["spec"]["replicas"] == 0
    assert "affinity" not in sts["spec"]["template"]["spec"]


def test_grant_smaller_than_demand_runs_only_what_is_granted():
    sts = stateful_set(cluster(brokers={"replicas": 5}), "broker", "abc", GRANT)
    assert sts["spec"]["replicas"] == 3


def test_service_claim_states_each_role_demand():
    claim = service_claim(cluster(priority=7, brokers={
        "replicas": 4, "resources": {"requests": {"cpu": "2", "memory": "8Gi"}}, "storage": {"size": "100Gi"},
        "nodePool": "ssd"}))
    assert claim["kind"] == "ServiceClaim" and claim["metadata"]["name"] == "prod"
    assert claim["metadata"]["ownerReferences"][0]["kind"] == "KafkaCluster"
    spec = claim["spec"]
    assert spec["priority"] == 7 and spec["preemptible"] is False
    controller, broker = spec["podSets"]
    assert (broker["name"], broker["count"], broker["nodePool"]) == ("broker", 4, "ssd")
    assert broker["requests"] == {"cpu": "2", "memory": "8Gi", "storage": "100Gi"}
    assert broker["constraints"] == [{"field": "@hostname", "operator": "UNIQUE"}]
    assert (controller["name"], controller["count"], controller["requests"]) == ("controller", 3, {"storage": "2Gi"})


def test_delete_claim_deletes_volumes_with_the_cluster():
    sts = stateful_set(cluster(brokers={"storage": {"deleteClaim": True}}), "broker", "abc", GRANT)
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


@pytest.mark.parametrize(("change", "broker_changes", "controller_changes"), [
    ({"config": {"auto.create.topics.enable": "false"}}, True, False),
    ({"config": {"log.retention.hours": 12}}, True, False),  # a new dynamic key: restart to load it
    ({"config": {"num.partitions": 12}}, True, True),
    ({"config": {"auto.leader.rebalance.enable": "false"}}, False, True),
    ({"controllers": {"replicas": 5}}, True, True),  # the quorum list is in every node's config
    ({"brokers": {"replicas": 4}}, True, False),
])
def test_config_hash_follows_only_the_role_config_that_changed(change, broker_changes, controller_changes):
    before, after = cluster(), cluster(**change)
    for role, changes in (("broker", broker_changes), ("controller", controller_changes)):
        same = config_hash(before, role, config_map(before, role)) == config_hash(after, role, config_map(after, role))
        assert same is not changes, role


def test_changing_a_dynamic_value_needs_no_restart():
    before, after = cluster(config={"log.retention.hours": 24}), cluster(config={"log.retention.hours": 12})
    assert config_hash(before, "broker", config_map(before, "broker")) == config_hash(
        after, "broker", config_map(after, "broker"))
    assert "log.retention.hours=12" in config_map(after, "broker")["data"]["prod-broker-0.properties"]
    assert dynamic_config(after.spec) == {"log.retention.hours": "12", "min.insync.replicas": "2"}


def test_min_insync_replicas_is_changed_on_the_cluster_default_without_rolling_either_role():
    before, after = cluster(), cluster(config={"min.insync.replicas": 1})
    for role in ("broker", "controller"):
        assert config_hash(before, role, config_map(before, role)) == config_hash(after, role, config_map(after, role))
        assert "min.insync.replicas=1" in config_map(after, role)["data"][f"prod-{role}-0.properties"]


def test_the_operator_reaches_brokers_on_the_replication_listener_by_pod_ip():
    from operators.kafka.resources import admin_bootstrap, pod_addresses
    c = cluster(listeners=[{"name": "tls", "port": 9093, "tls": True, "certificateSecret": "certs"}])

    def pod(name: str, role: str, ip: str | None) -> dict:
        return {"metadata": {"name": name, "labels": {"kafka.smack.dev/role": role}},
                "status": {"podIP": ip} if ip else {}}
    pods = [pod("prod-broker-0", "broker", "10.201.1.4"), pod("prod-broker-1", "broker", None),
            pod("prod-broker-2", "broker", "10.201.3.9"), pod("prod-controller-0", "controller", "10.201.2.2")]
    addresses = pod_addresses(c, pods)
    assert addresses == {"prod-broker-0.prod-nodes.ns.svc": "10.201.1.4", "prod-broker-2.prod-nodes.ns.svc":
                         "10.201.3.9", "prod-controller-0.prod-nodes.ns.svc": "10.201.2.2"}
    # Never the first listener (TLS here): the operator's own PLAINTEXT one, under the advertised names.
    assert admin_bootstrap(c, addresses) == ["prod-broker-0.prod-nodes.ns.svc:9091",
                                             "prod-broker-2.prod-nodes.ns.svc:9091"]
    assert props(server_properties(c, "broker", 0))["advertised.listeners"].startswith(
        "REPLICATION://prod-broker-0.prod-nodes.ns.svc:9091,")
    assert admin_bootstrap(c, {}) == []


@pytest.mark.parametrize(("node_set", "heap"), [
    ({"heap": "768m"}, "-Xms768m -Xmx768m"),
    ({"resources": {"requests": {"memory": "1Gi"}}}, "-Xms512m -Xmx512m"),
    ({"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "3Gi"}}}, "-Xms1536m -Xmx1536m"),
    ({"resources": {"limits": {"memory": "64Gi"}}}, "-Xms5120m -Xmx5120m"),  # at most 5 GiB
    ({}, None),  # the image's default
])
def test_kafka_heap_from_the_spec_or_half_the_container_memory(node_set, heap):
    c = cluster(brokers=node_set, controllers=node_set)
    for role in ("broker", "controller"):
        (container,) = stateful_set(c, role, "h", Grant(3, ("a",)))["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env.get("KAFKA_HEAP_OPTS") == heap
        assert "KAFKA_HEAP_OPTS" in env or heap is None


def test_the_heap_field_takes_java_units_only():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="String should match pattern"):
        KafkaClusterSpec.model_validate({"brokers": {"heap": "1Gi"}})


def _tls_section(tmp_path, monkeypatch, key: str, path: str) -> subprocess.CompletedProcess:
    """Run the TLS part of a broker's start.sh over a Secret mounted at tmp_path/certs/tls."""
    import operators.kafka.resources as resources
    monkeypatch.setattr(resources, "CERTS_DIR", str(tmp_path / "certs"))
    c = cluster(listeners=[{"name": "tls", "port": 9093, "tls": True, "certificateSecret": "prod-kafka-tls"}])
    script = start_script(c, "broker")
    section = script[script.index("# Kafka's PEM keystore"):script.index('if [ ! -f "')]
    secret = tmp_path / "certs" / "tls"
    secret.mkdir(parents=True)
    (secret / "tls.key").write_text(key)
    (secret / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    body = "set -euo pipefail\n" + section.replace("/tmp/tls-keystore.pem", str(tmp_path / "keystore.pem"))
    return subprocess.run([shutil.which("bash"), "-c", body], capture_output=True, text=True, env={"PATH": path})


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make keys")
@pytest.mark.parametrize("encoding", ["traditional", "pkcs8"])
def test_a_pkcs1_key_becomes_pkcs8_before_kafka_reads_it(tmp_path, monkeypatch, encoding):
    args = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]
    pkcs8 = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    key = pkcs8 if encoding == "pkcs8" else subprocess.run(
        ["openssl", "rsa", "-traditional"], input=pkcs8, capture_output=True, text=True, check=True).stdout
    assert ("BEGIN RSA PRIVATE KEY" in key) == (encoding == "traditional")
    run = _tls_section(tmp_path, monkeypatch, key, os.environ["PATH"])
    assert run.returncode == 0, run.stderr
    keystore = (tmp_path / "keystore.pem").read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----") and "BEGIN CERTIFICATE" in keystore
    converted = subprocess.run(["openssl", "pkey", "-pubout"], input=keystore, capture_output=True, text=True)
    original = subprocess.run(["openssl", "pkey", "-pubout"], input=pkcs8, capture_output=True, text=True)
    assert converted.stdout == original.stdout  # the same key


def test_a_key_kafka_cannot_read_stops_the_broker_before_kafka_starts_and_says_why(tmp_path, monkeypatch):
    tools = tmp_path / "bin"  # bash's builtins and grep, but no openssl
    tools.mkdir()
    for tool in ("grep", "cat"):
        (tools / tool).symlink_to(shutil.which(tool))
    run = _tls_section(tmp_path, monkeypatch, "-----BEGIN RSA PRIVATE KEY-----\nMIIC\n-----END RSA PRIVATE KEY-----\n",
                       str(tools))
    assert run.returncode == 78
    assert run.stderr.strip().endswith(
        "not starting Kafka: listener tls: tls.key of Secret prod-kafka-tls cannot be read by Kafka's PEM keystore, "
        "which needs an unencrypted PKCS#8 key (BEGIN PRIVATE KEY; cert-manager: spec.privateKey.encoding: PKCS8): "
        "it is PKCS#1/SEC1 and this image has no openssl to convert it")
    assert not (tmp_path / "keystore.pem").exists()
    encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIC\n-----END ENCRYPTED PRIVATE KEY-----\n"
    run = _tls_section(tmp_path / "again", monkeypatch, encrypted, str(tools))
    assert run.returncode == 78 and run.stderr.strip().endswith("it is not an unencrypted PEM private key")


def test_a_refusal_of_the_start_script_becomes_the_termination_message():
    (container,) = stateful_set(cluster(), "broker", "h", Grant(3, ("a",)))["spec"]["template"]["spec"]["containers"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
