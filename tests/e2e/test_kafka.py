"""KafkaCluster on the real control plane, driven with kubectl.

kwok simulates the nodes and pod lifecycle: pods are scheduled by the real
kube-scheduler and marked Running/Ready by kwok's stages, but no Kafka process
runs. So Ready here means every pod is Ready (the readiness gate); the
Kafka-level checks (ISR, quorum) are unit-tested on recorded metadata.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml

from .conftest import ROOT, Kubectl, PodWatch, wait_for

# The example as on any cluster: kwok's nodes, without the real nodes' pool and storage class.
EXAMPLE = re.sub(r"\n *(nodePool: real|storageClassName: real-local)\n", "\n",
                 (ROOT / "examples" / "kafka.yaml").read_text()).replace(", storageClassName: real-local", "")


def ready_cluster(k: Kubectl, name: str, timeout: float = 120) -> dict:
    def ready():
        obj = k.json("get", "kafkacluster", name)
        conds = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}
        return obj if conds.get("Ready", {}).get("status") == "True" else None
    return wait_for(ready, timeout=timeout, what=f"KafkaCluster {name} Ready")


def plan_of(obj: dict, name: str) -> dict:
    """The plan ``name`` (deploy, update or recovery) from a KafkaCluster's status."""
    return next(p for p in obj["status"]["plans"] if p["name"] == name)


def manifest(name: str, spec: dict) -> str:
    return yaml.safe_dump({"apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster",
                           "metadata": {"name": name}, "spec": spec})


def test_example_cluster_becomes_ready_with_its_children(ns: Kubectl, operator):
    ns.apply(EXAMPLE)
    obj = ready_cluster(ns, "prod")
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["bootstrapServers"] == f"prod-bootstrap.{ns.namespace}.svc:9092"
    assert status["version"] == "4.1.1"
    assert status["brokers"] == {"desired": 3, "admitted": 3, "ready": 3, "updated": 3}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", status["clusterId"])

    # Printer columns: Version, Brokers, Ready, Age.
    table = ns.run("get", "kafkacluster", "prod").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "VERSION", "BROKERS", "READY"]
    assert table[1].split()[:4] == ["prod", "4.1.1", "3", "True"]

    # StatefulSets with OnDelete updates, applied server-side by the operator's field manager.
    for role in ("controller", "broker"):
        sts = ns.json("get", "statefulset", f"prod-{role}", "--show-managed-fields")
        assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
        assert sts["spec"]["replicas"] == 3
        managers = {(m["manager"], m["operation"]) for m in sts["metadata"]["managedFields"]}
        assert ("smack-operators-kafka", "Apply") in managers

    # Every pod's volume is provisioned and bound.
    def bound():
        pvcs = ns.json("get", "pvc", "-l", "kafka.smack.dev/cluster=prod")["items"]
        return len(pvcs) == 6 and all(p["status"].get("phase") == "Bound" for p in pvcs) and pvcs
    pvcs = wait_for(bound, timeout=60, what="6 Bound PVCs")
    sizes = sorted(p["spec"]["resources"]["requests"]["storage"] for p in pvcs)
    assert sizes == ["100Gi"] * 3 + ["2Gi"] * 3

    # Each broker's rendered server.properties names itself.
    data = ns.json("get", "configmap", "prod-broker-config")["data"]
    for i in range(3):
        props = dict(line.split("=", 1) for line in data[f"prod-broker-{i}.properties"].splitlines()
                     if line and not line.startswith("#"))
        host = f"prod-broker-{i}.prod-nodes.{ns.namespace}.svc"
        assert props["node.id"] == str(i)
        assert props["advertised.listeners"] == f"REPLICATION://{host}:9091,PLAIN://{host}:9092"
        assert props["num.partitions"] == "6"
        assert props["auto.create.topics.enable"] == "false"

    # Pods spread over the three zones and six hosts.
    zones = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for n in ns.json("get", "nodes")["items"]}
    for role in ("broker", "controller"):
        pods = ns.json("get", "pods", "-l", f"kafka.smack.dev/role={role},kafka.smack.dev/cluster=prod")["items"]
        nodes = [p["spec"]["nodeName"] for p in pods]
        assert len(set(nodes)) == 3, f"{role}s share a host: {nodes}"
        assert {zones[n] for n in nodes} == {"zone-a", "zone-b", "zone-c"}, f"{role}s not spread: {nodes}"

    reasons = {e["reason"] for e in ns.json("get", "events", "--field-selector",
                                              "involvedObject.kind=KafkaCluster")["items"]}
    assert {"StatefulSetCreated", "ClusterReady"} <= reasons


def test_steady_state_writes_nothing(ns: Kubectl, operator):
    ns.apply(manifest("quiet", {"brokers": {"replicas": 1}, "controllers": {"replicas": 1}}))
    ready_cluster(ns, "quiet")

    def versions():
        objs = ns.json("get", "statefulsets,services,configmaps,poddisruptionbudgets,kafkacluster",
                       "-l", "kafka.smack.dev/cluster=quiet")["items"]
        objs.append(ns.json("get", "kafkacluster", "quiet"))
        return {(o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in objs}

    wait_for(lambda: ns.json("get", "statefulset", "quiet-broker")["status"].get("readyReplicas") == 1)
    before = versions()
    # A label change on the cluster wakes the reconcile loop without changing the spec.
    ns.run("label", "kafkacluster", "quiet", "touched=yes")
    wait_for(lambda: f"reconciling KafkaCluster {ns.namespace}/quiet (trigger: KafkaCluster modified"
             in operator.log_path.read_text(), timeout=30, what="a reconcile after the label change")
    after = versions()
    changed = {key for key in before if before[key] != after.get(key) and key != ("KafkaCluster", "quiet")}
    assert not changed, f"a reconcile with nothing to do wrote {changed}"
    assert 'smack_child_writes_total{child_kind="StatefulSet",kind="KafkaCluster",outcome="unchanged"}' \
        in operator.metrics()


def test_scale_up_adds_a_broker_and_its_config(ns: Kubectl, operator):
    ns.apply(manifest("grow", {"brokers": {"replicas": 1}, "controllers": {"replicas": 1}}))
    ready_cluster(ns, "grow")
    ns.run("patch", "kafkacluster", "grow", "--type=merge", "-p", '{"spec":{"brokers":{"replicas":2}}}')
    obj = wait_for(lambda: (o := ns.json("get", "kafkacluster", "grow"))["status"]["brokers"]["ready"] == 2 and o,
                   what="2 ready brokers")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 2
    assert "grow-broker-1.properties" in ns.json("get", "configmap", "grow-broker-config")["data"]


INVALID = [
    ("negative broker count", {"brokers": {"replicas": -1}},
     r"spec\.brokers\.replicas: Invalid value: -1: .*greater than or equal to 1"),
    ("unknown version", {"version": "2.8.0"},
     r'spec\.version: Unsupported value: "2\.8\.0": supported values: "3\.9\.0", .*"4\.1\.1"'),
    ("malformed storage size", {"brokers": {"storage": {"size": "10XB"}}},
     r"spec\.brokers\.storage\.size: Invalid value: .*must be a Kubernetes quantity such as 10Gi or 500m, got: 10XB"),
    ("operator-owned config key", {"config": {"node.id": 7, "num.partitions": 3, "log.dirs": "/x"}},
     r"spec\.config: Forbidden: node\.id cannot be set: it is the pod ordinal.*\n.*"
     r"spec\.config: Forbidden: log\.dirs cannot be set: the operator mounts the volume"),
    ("per-listener config key", {"config": {"listener.name.plain.ssl.client.auth": "required"}},
     r"spec\.config: Forbidden: listener\.name\.\* keys cannot be set"),
    ("even controller quorum", {"controllers": {"replicas": 2}},
     r'spec\.controllers\.replicas: Unsupported value: 2: supported values: "1", "3", "5"'),
    ("tls listener without a certificate", {"listeners": [{"name": "tls", "port": 9093, "tls": True}]},
     r"spec\.listeners\[0\]\.certificateSecret: Required value: a tls listener needs certificateSecret"),
    ("reserved listener port", {"listeners": [{"name": "plain", "port": 9091}]},
     r"spec\.listeners\[0\]\.port: Invalid value: .*ports 9090 and 9091 are reserved"),
    ("misspelt field", {"broker": {"replicas": 3}}, r'unknown field "spec\.broker"'),
]


@pytest.mark.parametrize(("case", "spec", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifests_are_refused_naming_the_field(ns: Kubectl, case, spec, expected):
    result = ns.apply(manifest("bad", spec), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert re.search(expected, result.stderr), result.stderr
    assert ns.run("get", "kafkacluster", "bad", check=False).returncode != 0


def test_storage_cannot_change_after_creation(ns: Kubectl):
    ns.apply(manifest("fixed", {"brokers": {"replicas": 1, "storage": {"size": "10Gi"}}}))
    result = ns.run("patch", "kafkacluster", "fixed", "--type=merge",
                    "-p", '{"spec":{"brokers":{"storage":{"size":"5Gi"}}}}', check=False)
    assert result.returncode != 0
    assert re.search(r"spec\.brokers\.storage\.size: Forbidden: size is immutable", result.stderr), result.stderr


def test_delete_keeps_volumes_unless_delete_claim(ns: Kubectl, operator):
    ns.apply(manifest("keep", {"brokers": {"replicas": 1}, "controllers": {"replicas": 1}}))
    ns.apply(manifest("drop", {"brokers": {"replicas": 1, "storage": {"deleteClaim": True}},
                               "controllers": {"replicas": 1, "storage": {"deleteClaim": True}}}))
    for name in ("keep", "drop"):
        ready_cluster(ns, name)
        wait_for(lambda n=name: len(ns.json("get", "pvc", "-l", f"kafka.smack.dev/cluster={n}")["items"]) == 2,
                 what=f"{name} volumes")
    ns.run("delete", "kafkacluster", "keep", "drop", "--timeout=60s")

    def gone(name):
        return not ns.json("get", "statefulsets,pods", "-l", f"kafka.smack.dev/cluster={name}")["items"]
    wait_for(lambda: gone("keep") and gone("drop"), timeout=90, what="children garbage-collected")
    wait_for(lambda: not ns.json("get", "pvc", "-l", "kafka.smack.dev/cluster=drop")["items"], timeout=90,
             what="deleteClaim volumes removed")
    kept = ns.json("get", "pvc", "-l", "kafka.smack.dev/cluster=keep")["items"]
    assert len(kept) == 2 and all(p["status"]["phase"] == "Bound" for p in kept)
    assert all(p["metadata"].get("deletionTimestamp") is None for p in kept)




def test_quorum_changes_are_refused(ns: Kubectl):
    ns.apply(manifest("steady", {"brokers": {"replicas": 2}, "controllers": {"replicas": 3}}))
    result = ns.run("patch", "kafkacluster", "steady", "--type=merge", "-p",
                    '{"spec":{"controllers":{"replicas":5}}}', check=False)
    assert re.search(r"spec\.controllers\.replicas: Forbidden: controllers\.replicas is fixed", result.stderr), \
        result.stderr
    assert ns.json("get", "kafkacluster", "steady")["metadata"]["generation"] == 1


def test_scale_up_then_down_waits_until_the_brokers_hold_no_replicas(ns: Kubectl, operator):
    """3 -> 5 -> 3 brokers. No broker runs on the simulated cluster, so the partition assignment
    the operator checks comes from the ConfigMap ``<cluster>-simulated-partitions``, which this
    test writes (the stand-in for describeTopics; see operators.kafka.health.partitions_from_text)."""
    ns.apply(manifest("elastic", {"brokers": {"replicas": 3}, "controllers": {"replicas": 1}}))
    ready_cluster(ns, "elastic")
    ns.run("patch", "kafkacluster", "elastic", "--type=merge", "-p", '{"spec":{"brokers":{"replicas":5}}}')
    wait_for(lambda: ns.json("get", "kafkacluster", "elastic")["status"]["brokers"]["ready"] == 5, timeout=120,
             what="five brokers")

    def assignment(text: str) -> None:
        ns.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "elastic-simulated-partitions"}, "data": {"partitions": text}}))
    assignment("orders-0: 0,1,3\norders-1: 4,0,1\norders-2: 0,1,2\n")
    ns.run("patch", "kafkacluster", "elastic", "--type=merge", "-p", '{"spec":{"brokers":{"replicas":3}}}')

    def condition(type_, status):
        def check():
            o = ns.json("get", "kafkacluster", "elastic")
            c = next((c for c in o["status"].get("conditions", []) if c["type"] == type_), {})
            return c if c.get("status") == status and c.get("observedGeneration") == 3 else None
        return check
    blocked = wait_for(condition("ScalingDown", "True"), timeout=60, what="the scale-down to wait")
    assert blocked["reason"] == "BrokersNotEmpty"
    assert "brokers 3, 4 still hold replicas of 2 partitions (orders-0, orders-1)" in blocked["message"]
    assert ns.json("get", "statefulset", "elastic-broker")["spec"]["replicas"] == 5

    assignment("orders-0: 0,1,2\norders-1: 2,0,1\norders-2: 0,1,2\n")  # what a reassignment leaves
    done = wait_for(condition("ScalingDown", "False"), timeout=90, what="the brokers to be removed")
    assert done["reason"] == "BrokersRemoved"
    wait_for(lambda: sorted(p["metadata"]["name"] for p in ns.json(
        "get", "pods", "-l", "kafka.smack.dev/cluster=elastic,kafka.smack.dev/role=broker")["items"])
        == [f"elastic-broker-{i}" for i in range(3)], timeout=60, what="brokers 3 and 4 to stop")
    assert ns.json("get", "statefulset", "elastic-broker")["spec"]["replicas"] == 3
    claim = ns.json("get", "serviceclaim", "elastic")
    assert next(ps["count"] for ps in claim["spec"]["podSets"] if ps["name"] == "broker") == 3
    # deleteClaim is false: the removed brokers' volumes are kept.
    pvcs = {p["metadata"]["name"] for p in ns.json("get", "pvc", "-l", "kafka.smack.dev/cluster=elastic")["items"]}
    assert {"data-elastic-broker-3", "data-elastic-broker-4"} <= pvcs
    reasons = [e["reason"] for e in ns.json("get", "events", "--field-selector",
                                            "involvedObject.name=elastic")["items"]]
    assert "RemovingBrokers" in reasons


def test_read_only_config_change_rolls_only_brokers_one_at_a_time_and_pause_holds_it(ns: Kubectl, operator):
    ns.apply(manifest("roll", {"brokers": {"replicas": 3}, "controllers": {"replicas": 1}}))
    ready_cluster(ns, "roll")

    def uids(role):
        return {p["metadata"]["name"]: p["metadata"]["uid"] for p in ns.json(
            "get", "pods", "-l", f"kafka.smack.dev/cluster=roll,kafka.smack.dev/role={role}")["items"]}
    brokers, controllers = uids("broker"), uids("controller")

    ns.run("annotate", "kafkacluster", "roll", "smack.dev/plan-pause=update")
    ns.run("patch", "kafkacluster", "roll", "--type=merge", "-p",
           '{"spec":{"config":{"auto.create.topics.enable":"false"}}}')

    def progressing(reason):
        def check():
            obj = ns.json("get", "kafkacluster", "roll")
            c = next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Progressing"), {})
            return obj if c.get("reason") == reason and obj["status"].get("observedGeneration") == 2 else None
        return check
    paused = wait_for(progressing("RolloutPaused"), what="the paused update plan")
    plan = plan_of(paused, "update")
    assert plan["status"] == "Waiting"
    assert [s["status"] for s in plan["phases"][1]["steps"]] == ["Pending"] * 3
    assert uids("broker") == brokers, "a paused plan restarted a pod"

    ns.run("annotate", "kafkacluster", "roll", "smack.dev/plan-pause-")
    done = wait_for(progressing("Stable"), timeout=120, what="the update plan to complete")
    assert plan_of(done, "update")["status"] == "Complete"
    after = uids("broker")
    assert set(after) == set(brokers) and all(after[n] != brokers[n] for n in brokers), "every broker restarted"
    assert uids("controller") == controllers, "a broker-only key restarted a controller"
    template = ns.json("get", "statefulset", "roll-broker")["spec"]["template"]["metadata"]["annotations"]
    for pod in ns.json("get", "pods", "-l", "kafka.smack.dev/cluster=roll,kafka.smack.dev/role=broker")["items"]:
        assert pod["metadata"]["annotations"]["kafka.smack.dev/config-hash"] == template["kafka.smack.dev/config-hash"]
    restarts = [e for e in ns.json("get", "events", "--field-selector", "involvedObject.name=roll")["items"]
                if e["reason"] == "RestartingPod"]
    assert len(restarts) == 3 and all("phase brokers" in e["message"] for e in restarts)


def test_version_upgrade_rolls_every_node_then_raises_the_metadata_version(ns: Kubectl, operator):
    ns.apply(manifest("up", {"version": "4.0.1", "brokers": {"replicas": 2}, "controllers": {"replicas": 1}}))
    obj = ready_cluster(ns, "up")
    assert (obj["status"]["version"], obj["status"]["metadataVersion"]) == ("4.0.1", "4.0-IV3")

    ns.run("patch", "kafkacluster", "up", "--type=merge", "-p", '{"spec":{"version":"4.1.1"}}')

    def upgraded():
        o = ns.json("get", "kafkacluster", "up")
        return o if o["status"].get("version") == "4.1.1" and o["status"].get("metadataVersion") == "4.1-IV1" else None
    obj = wait_for(upgraded, timeout=120, what="the upgrade to finish")
    plan = plan_of(obj, "update")
    assert plan["status"] == "Complete"
    assert [p["name"] for p in plan["phases"]] == ["controllers", "brokers", "broker-config", "metadata"]
    images = {p["spec"]["containers"][0]["image"] for p in ns.json("get", "pods", "-l",
                                                                  "kafka.smack.dev/cluster=up")["items"]}
    assert images == {"apache/kafka:4.1.1"}
    # (That the metadata step waits for every node is unit-tested: events share one-second stamps.)
    events = [(e["reason"], e["message"]) for e in ns.json(
        "get", "events", "--field-selector", "involvedObject.name=up")["items"]]
    raised = [m for r, m in events if r == "MetadataVersionRaised"]
    assert len(raised) == 1 and "4.0-IV3 -> 4.1-IV1 (simulated: SMACK_KAFKA_ADMIN=none)" in raised[0]
    assert sum(r == "RestartingPod" for r, _ in events) == 3

    # A downgrade below the finalized metadata.version is refused at apply, naming both.
    result = ns.run("patch", "kafkacluster", "up", "--type=merge", "-p", '{"spec":{"version":"4.0.1"}}', check=False)
    assert re.search(r"spec\.version: the cluster has finalized metadata\.version 4\.1-IV1; 4\.0\.1 would need "
                     r"4\.0-IV3, and Kafka cannot lower metadata\.version", result.stderr), result.stderr
    result = ns.run("patch", "kafkacluster", "up", "--type=merge", "-p", '{"spec":{"metadataVersion":"4.0-IV3"}}',
                    check=False)
    assert "spec.metadataVersion: the cluster has finalized metadata.version 4.1-IV1" in result.stderr
    result = ns.run("patch", "kafkacluster", "up", "--type=merge", "-p", '{"spec":{"version":"3.9.1"}}', check=False)
    assert "spec.version: Forbidden: cannot downgrade to an older major version of Kafka" in result.stderr
    result = ns.run("patch", "kafkacluster", "up", "--type=merge", "-p", '{"spec":{"version":"4.2.0"}}', check=False)
    assert re.search(r'spec\.version: Unsupported value: "4\.2\.0": supported values: .*"4\.1\.1"', result.stderr), \
        result.stderr
    assert ns.json("get", "kafkacluster", "up")["spec"]["version"] == "4.1.1"



def test_dynamic_config_change_is_applied_without_a_restart(ns: Kubectl, operator):
    ns.apply(manifest("dyn", {"brokers": {"replicas": 2}, "controllers": {"replicas": 1},
                              "config": {"log.retention.hours": 24}}))
    ready_cluster(ns, "dyn")
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in ns.json(
        "get", "pods", "-l", "kafka.smack.dev/cluster=dyn")["items"]}
    applied = ns.json("get", "kafkacluster", "dyn")["status"]["dynamicConfigHash"]
    ns.run("patch", "kafkacluster", "dyn", "--type=merge", "-p", '{"spec":{"config":{"log.retention.hours":12}}}')
    obj = wait_for(lambda: (o := ns.json("get", "kafkacluster", "dyn"))["status"]["dynamicConfigHash"] != applied
                   and o, what="the dynamic config to be applied")
    assert plan_of(obj, "update")["status"] == "Complete"
    data = ns.json("get", "configmap", "dyn-broker-config")["data"]
    assert "log.retention.hours=12" in data["dyn-broker-0.properties"]  # what a later restart loads
    after = {p["metadata"]["name"]: p["metadata"]["uid"] for p in ns.json(
        "get", "pods", "-l", "kafka.smack.dev/cluster=dyn")["items"]}
    assert after == before, "a dynamic key restarted a pod"
    messages = [e["message"] for e in ns.json("get", "events", "--field-selector", "involvedObject.name=dyn")["items"]
                if e["reason"] == "DynamicConfigApplied"]
    assert len(messages) == 1 and "log.retention.hours=12" in messages[0] and "brokers 0, 1" in messages[0]


def test_restart_and_replace_of_one_pod_on_request(ns: Kubectl, operator):
    ns.apply(manifest("ops", {"brokers": {"replicas": 2}, "controllers": {"replicas": 1}}))
    ready_cluster(ns, "ops")

    def uid(kind, name):
        return ns.json("get", kind, name)["metadata"]["uid"]
    pods = {n: uid("pod", n) for n in ("ops-broker-0", "ops-broker-1", "ops-controller-0")}
    volume = uid("pvc", "data-ops-broker-1")

    ns.run("annotate", "pod", "ops-broker-0", "smack.dev/restart=true")
    wait_for(lambda: ns.run("get", "pod", "ops-broker-0", "-o", "jsonpath={.metadata.uid}", check=False).stdout
             not in ("", pods["ops-broker-0"]), what="broker 0 to be restarted")
    ready_cluster(ns, "ops")
    assert "smack.dev/restart" not in ns.json("get", "pod", "ops-broker-0")["metadata"].get("annotations", {})
    assert uid("pod", "ops-broker-1") == pods["ops-broker-1"] and uid("pvc", "data-ops-broker-0")

    ns.run("annotate", "pod", "ops-broker-1", "smack.dev/replace=true")
    wait_for(lambda: ns.run("get", "pvc", "data-ops-broker-1", "-o", "jsonpath={.metadata.uid}",
                            check=False).stdout not in ("", volume), timeout=90, what="a new volume for broker 1")
    ready_cluster(ns, "ops")
    assert uid("pod", "ops-controller-0") == pods["ops-controller-0"]
    reasons = [e["reason"] for e in ns.json("get", "events", "--field-selector", "involvedObject.name=ops")["items"]]
    assert "ReplacingPod" in reasons and reasons.count("RestartingPod") >= 2


def test_upgrade_goes_one_node_at_a_time_and_survives_two_operator_crashes(ns: Kubectl, operator):
    """3 controllers and 3 brokers from 4.0.1 to 4.1.1 while the operator is SIGKILLed twice.

    The pods are watched throughout: the restarts go controllers first, then brokers, each
    set by ordinal (all pods Ready; on a simulated cluster no quorum can be asked for the
    active controller, so the readiness gate orders them), and never is more than one node
    deleting, gone or not Ready. Progress is read back from the cluster after each crash.
    """
    ns.apply(manifest("big", {"version": "4.0.1", "brokers": {"replicas": 3}, "controllers": {"replicas": 3}}))
    ready_cluster(ns, "big")
    watch = PodWatch(ns, "kafka.smack.dev/cluster=big")
    try:
        wait_for(lambda: len(watch.events) >= 6, timeout=30, what="the watch to list the six pods")
        ns.run("patch", "kafkacluster", "big", "--type=merge", "-p", '{"spec":{"version":"4.1.1"}}')
        for restarts in (1, 4):
            wait_for(lambda n=restarts: len(watch.deleted()) >= n, timeout=120, what=f"{restarts} pod restarts")
            operator.kill_and_restart()

        def upgraded():
            o = ns.json("get", "kafkacluster", "big")
            return o if o["status"].get("metadataVersion") == "4.1-IV1" and o["status"].get("version") == "4.1.1" \
                else None
        obj = wait_for(upgraded, timeout=240, what="the upgrade to finish after two crashes")
    finally:
        watch.stop()
    assert watch.deleted() == [f"big-{role}-{i}" for role in ("controller", "broker") for i in range(3)]
    assert watch.max_unavailable() == 1
    assert plan_of(obj, "update")["status"] == "Complete"
    images = {p["spec"]["containers"][0]["image"] for p in ns.json("get", "pods", "-l",
                                                                  "kafka.smack.dev/cluster=big")["items"]}
    assert images == {"apache/kafka:4.1.1"}


def test_a_canary_update_waits_for_approval_then_rolls_the_rest(ns: Kubectl, operator):
    ns.apply(manifest("can", {"brokers": {"replicas": 3}, "controllers": {"replicas": 1},
                              "rollout": {"canary": 1}}))
    ready_cluster(ns, "can")

    def uids():
        return {p["metadata"]["name"]: p["metadata"]["uid"] for p in ns.json(
            "get", "pods", "-l", "kafka.smack.dev/cluster=can,kafka.smack.dev/role=broker")["items"]}
    before = uids()
    ns.run("patch", "kafkacluster", "can", "--type=merge", "-p", '{"spec":{"config":{"queued.max.requests":600}}}')

    def progressing(reason):
        def check():
            o = ns.json("get", "kafkacluster", "can")
            c = next((c for c in o["status"].get("conditions", []) if c["type"] == "Progressing"), {})
            return o if c.get("reason") == reason and o["status"].get("observedGeneration") == 2 else None
        return check
    waiting = wait_for(progressing("CanaryWaiting"), what="the canary to wait for approval")
    message = next(c["message"] for c in waiting["status"]["conditions"] if c["type"] == "Progressing")
    assert "smack.dev/plan-proceed=update/brokers=1" in message
    brokers = next(p for p in plan_of(waiting, "update")["phases"] if p["name"] == "brokers")
    assert (brokers["strategy"], brokers["steps"][0]["status"]) == ("SerialCanary", "Waiting")
    assert uids() == before, "a broker restarted before the canary was approved"

    ns.run("annotate", "--overwrite", "kafkacluster", "can", "smack.dev/plan-proceed=update/brokers=1")
    done = wait_for(progressing("Stable"), timeout=120, what="the rest of the update after the canary")
    after = uids()
    assert all(after[n] != before[n] for n in before), "every broker restarted"
    assert plan_of(done, "update")["status"] == "Complete"
    # The approval was for that update: the next one drops it and waits again.
    ns.run("patch", "kafkacluster", "can", "--type=merge", "-p", '{"spec":{"config":{"queued.max.requests":700}}}')
    wait_for(lambda: "smack.dev/plan-proceed" not in ns.json("get", "kafkacluster", "can")["metadata"].get(
        "annotations", {}), timeout=30, what="the approval to be dropped when the next update starts")
    wait_for(lambda: (c := next(c for c in ns.json("get", "kafkacluster", "can")["status"]["conditions"]
                                if c["type"] == "Progressing"))["reason"] == "CanaryWaiting"
             and c["observedGeneration"] == 3, what="the next update's canary to wait")


def test_a_broker_whose_node_fails_is_replaced_after_the_timeout(ns: Kubectl, operator):
    """A node fails: the broker on it is replaced on another node with a new volume once
    ``spec.recovery.nodeFailureTimeoutSeconds`` passed, as the recovery plan and events show, and the
    meta-controller moves its admission off the node.

    kwok cannot stop one node's lease renewals, so the test writes what the node lifecycle
    controller writes when a kubelet stops posting: Ready Unknown and the unreachable taint on the
    node, Ready False on its pods. Taking the node out of kwok's
    stages (removing its kwok.x-k8s.io/node annotation) keeps kwok from reverting that.
    """
    ns.apply(manifest("heal", {"brokers": {"replicas": 3}, "controllers": {"replicas": 1},
                               "recovery": {"nodeFailureTimeoutSeconds": 30}}))
    ready_cluster(ns, "heal")
    pods = {p["metadata"]["name"]: p for p in ns.json("get", "pods", "-l", "kafka.smack.dev/cluster=heal")["items"]}
    victim = next(n for n in sorted(pods) if "broker" in n
                  and pods[n]["spec"]["nodeName"] != pods["heal-controller-0"]["spec"]["nodeName"])
    node = pods[victim]["spec"]["nodeName"]
    volume = ns.json("get", "pvc", f"data-{victim}")["metadata"]["uid"]

    ns.run("annotate", "node", node, "kwok.x-k8s.io/node-")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ns.run("patch", "node", node, "--subresource=status", "-p", json.dumps({"status": {"conditions": [{
        "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.", "lastTransitionTime": now, "lastHeartbeatTime": now}]}}))
    ns.run("taint", "node", node, "node.kubernetes.io/unreachable:NoSchedule", "--overwrite")
    on_node = [p["metadata"]["name"] for p in ns.json("get", "pods", "-A", "--field-selector",
                                                      f"spec.nodeName={node}")["items"]
               if p["metadata"]["namespace"] == ns.namespace]
    for name in on_node:
        ns.run("patch", "pod", name, "--subresource=status", "-p", json.dumps({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "NodeUnreachable", "lastTransitionTime": now}]}}))
    try:
        def step():
            o = ns.json("get", "kafkacluster", "heal")
            steps = {s["name"]: s for p in o["status"].get("plans", []) if p["name"] == "recovery"
                     for ph in p["phases"] for s in ph["steps"]}
            return steps.get(victim)
        waiting = wait_for(step, timeout=90, what=f"a recovery step for {victim}")
        assert f"node {node} NotReady since" in waiting["message"]
        degraded = wait_for(lambda: next((c for c in ns.json("get", "kafkacluster", "heal")["status"]["conditions"]
                                          if c["type"] == "Degraded" and c["status"] == "True"), None),
                            timeout=60, what="Degraded naming the lost node")
        assert degraded["reason"] == "NodeLost" and f"{victim} on node {node} NotReady since" in degraded["message"]

        def replaced():
            got = ns.run("get", "pod", victim, "-o", "json", check=False)
            if got.returncode != 0:
                return None  # between the deletion and the StatefulSet's new pod
            p = json.loads(got.stdout)
            return p if p["spec"].get("nodeName") not in (None, node) and any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])) else None
        moved = wait_for(replaced, timeout=180, what=f"{victim} Ready on another node")
        assert ns.json("get", "pvc", f"data-{victim}")["metadata"]["uid"] != volume, "the volume was not replaced"
        obj = ready_cluster(ns, "heal")
        recovery = wait_for(lambda: (p := plan_of(ns.json("get", "kafkacluster", "heal"), "recovery"))["status"]
                            == "Complete" and p, timeout=60, what="the recovery plan to complete")
        assert [(s["name"], s["status"]) for s in recovery["phases"][0]["steps"]] == [(victim, "Complete")]
        claim = ns.json("get", "serviceclaim", "heal")
        granted = {n["name"] for ps in claim["status"]["podSets"] if ps["name"] == "broker" for n in ps["nodes"]}
        assert node not in granted and moved["spec"]["nodeName"] in granted
        reasons = [e["reason"] for e in ns.json("get", "events", "--field-selector",
                                                "involvedObject.name=heal")["items"]]
        assert "ReplacingPod" in reasons
        assert obj["status"]["brokers"]["ready"] == 3
    finally:
        ns.run("annotate", "node", node, "kwok.x-k8s.io/node=fake")
        ns.run("taint", "node", node, "node.kubernetes.io/unreachable:NoSchedule-", check=False)
        wait_for(lambda: ns.run("get", "node", node, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
                 .stdout == "True", timeout=60, what=f"node {node} Ready again")


def test_an_unbuildable_cluster_is_reported_on_its_own_status_next_to_a_good_one(ns: Kubectl, operator):
    """A spec the schema lets through but the API server refuses the children of (a storage class that is no
    object name) is either refused at apply or reported as Ready=False InvalidSpec with the API server's
    message, once, with back-off; the good cluster next to it is built as usual."""
    bad = manifest("bad", {"brokers": {"replicas": 1, "storage": {"storageClassName": "Not_A_Name!"}},
                           "controllers": {"replicas": 1}})
    refused = ns.apply(bad, check=False)
    ns.apply(manifest("good", {"brokers": {"replicas": 1}, "controllers": {"replicas": 1}}))
    ready_cluster(ns, "good")
    if refused.returncode != 0:
        assert "storageClassName" in refused.stderr, refused.stderr
        return

    def reported():
        obj = ns.json("get", "kafkacluster", "bad")
        c = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}.get("Ready", {})
        return c if c.get("reason") == "InvalidSpec" else None
    ready = wait_for(reported, timeout=120, what="the bad cluster reported InvalidSpec")
    assert "cannot be built: the API server refused a child: 422" in ready["message"], ready
    assert "Not_A_Name!" in ready["message"] or "storageClassName" in ready["message"], ready
    log = operator.log_path.read_text()
    tracebacks = log.count("reconcile of KafkaCluster " + ns.namespace + "/bad failed;")
    assert tracebacks == 1, f"one traceback per streak, got {tracebacks}"
