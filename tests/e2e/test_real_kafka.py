"""Kafka's lifecycle on the real nodes, each operation under live traffic (issue 13, part 2).

One KafkaCluster of 3 controllers + 3 brokers serves every scenario of the module (a bring-up costs
minutes here), in file order: the upgrade 4.0.1 → 4.1.1 first; a scenario selected alone with -k
upgrades first where it needs 4.1. Traffic is hack/clients/kafka_traffic.py (idempotent acks=all
producer, topic RF 3 / min.insync.replicas 2, full read-back at the end); the tests assert on its
counts and on what the pod watch saw, never on time. The figures are printed at the session's end.

Kafka's own tools (kafka-features.sh, kafka-configs.sh, kafka-metadata-quorum.sh, kafka-topics.sh)
run inside a broker pod, on its PLAINTEXT listener: what a user of the cluster would see.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Kubectl, OperatorProcess, PodWatch, figure, real_namespace, wait_for
from .realpods import Traffic, rate_figures, ready_unless_crashing, roll_figures

pytestmark = [pytest.mark.e2e, pytest.mark.real]

NAME = "live"
SELECTOR = f"kafka.smack.dev/cluster={NAME}"
CONTROLLERS = [f"{NAME}-controller-{i}" for i in range(3)]
BROKERS = [f"{NAME}-broker-{i}" for i in range(3)]
# Each scenario writes its own topic: the read-back at the end counts a number found twice as a duplicate.
TOPIC = "orders-{}"
# Dynamic keys set from the start: a changed value is applied without a restart (a key added or removed
# rolls the brokers, operators.kafka.resources.config_hash).
CONFIG = {"log.retention.ms": 604800000, "num.io.threads": 8}
NODE_SET = {"replicas": 3, "nodePool": "real", "storage": {"size": "1Gi", "storageClassName": "real-local"}}
# A tool's JVM next to the broker's: small, so it fits the pod's request.
TOOL = "KAFKA_HEAP_OPTS=-Xmx128m /opt/kafka/bin/"


@dataclass
class Live:
    k: Kubectl
    bootstrap: str


def serving_broker(k: Kubectl) -> str:
    """A broker pod that is Ready and not being deleted (a roll may be taking broker 0 down right now)."""
    def ready(pod: dict) -> bool:
        return not pod["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    return wait_for(lambda: next((p["metadata"]["name"] for p in broker_pods(k) if ready(p)), None),
                    timeout=300, interval=1, what="a Ready broker")


def tool(k: Kubectl, command: str, pod: str | None = None) -> str:
    """Run one of Kafka's tools in ``pod`` (default: a serving broker) against its own broker (``{bs}`` in
    ``command`` stands for ``--bootstrap-server localhost:9092``, placed where the tool's parser wants it);
    stdout."""
    return k.run("exec", pod or serving_broker(k), "-c", "kafka", "--", "sh", "-c",
                 TOOL + command.format(bs="--bootstrap-server localhost:9092"), timeout=180).stdout


def finalized(k: Kubectl, feature: str) -> str:
    """The finalized level of ``feature`` (kafka-features.sh describe: ``FinalizedVersionLevel: 4.1-IV1``)."""
    out = tool(k, "kafka-features.sh {bs} describe")
    match = re.search(rf"Feature: {re.escape(feature)}\s.*?FinalizedVersionLevel: (\S+)", out)
    assert match, out
    return match.group(1)


def active_controller(k: Kubectl) -> str:
    """The pod of the quorum leader (kafka-metadata-quorum.sh describe --status: ``LeaderId: 1001``)."""
    out = tool(k, "kafka-metadata-quorum.sh {bs} describe --status")
    leader = int(re.search(r"LeaderId:\s+(\d+)", out).group(1))
    return f"{NAME}-controller-{leader - 1000}"


def counts(report: dict) -> str:
    """A traffic report without its per-second series, as JSON."""
    return json.dumps({k: v for k, v in report.items() if k != "acknowledged_per_second"})


def broker_pods(k: Kubectl) -> list[dict]:
    return k.json("get", "pods", "-l", f"{SELECTOR},kafka.smack.dev/role=broker")["items"]


def cluster(k: Kubectl) -> dict:
    return k.json("get", "kafkacluster", NAME)


def condition(obj: dict, type_: str) -> dict:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def settled(k: Kubectl, version: str) -> dict | None:
    """The cluster once every node runs ``version``, it is Ready and no plan is in progress."""
    obj = ready_unless_crashing(k, "kafkacluster", NAME, SELECTOR)
    if obj is None or obj["status"].get("version") != version or condition(obj, "Progressing").get("status") != "False":
        return None
    return obj


def patch(k: Kubectl, spec: dict) -> None:
    k.run("patch", "kafkacluster", NAME, "--type=merge", "-p", json.dumps({"spec": spec}))


def upgrade(k: Kubectl, version: str = "4.1.1") -> dict:
    """Ask for ``version`` and wait until the roll is done (a no-op when the cluster runs it)."""
    patch(k, {"version": version})
    return wait_for(lambda: settled(k, version), timeout=1800, interval=2, what=f"every node on {version}")


def java_signal(k: Kubectl, pod: str, sig: signal.Signals) -> None:
    """Send ``sig`` (SIGSTOP, SIGCONT) to the broker's JVM: a stopped broker keeps its pod, its TCP port
    (the kernel accepts) and so its Ready condition, but serves nothing and stops heartbeating.

    Sent from the host, where the real nodes run their containers (/run/smack): inside the container the
    JVM is PID 1, which ignores SIGSTOP from its own PID namespace. The process is the one in the pod's
    cgroup (``.../pod<uid>/<container>``) whose java runs the main class ``kafka.Kafka``."""
    if not os.path.isdir("/run/smack"):
        pytest.skip("stopping a broker needs the real nodes' processes on this host (/run/smack)")
    uid = k.json("get", "pod", pod)["metadata"]["uid"]
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or f"pod{uid}/" not in (proc / "cgroup").read_text():
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"java") and b"kafka.Kafka" in argv:
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    assert len(pids) == 1, f"the JVM of {pod} (uid {uid}): {pids}"
    os.kill(pids[0], sig)


@pytest.fixture(scope="module")
def live(kube: Kubectl, operator: OperatorProcess, real_images: None, request: pytest.FixtureRequest) -> Iterator[Live]:
    failures = request.session.testsfailed
    with real_namespace(kube, operator, lambda: request.session.testsfailed > failures) as k:
        k.apply(json.dumps({
            "apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster", "metadata": {"name": NAME},
            "spec": {"version": "4.0.1", "listeners": [{"name": "plain", "port": 9092}], "config": dict(CONFIG),
                     "controllers": {**NODE_SET, "resources": {"requests": {"cpu": "100m", "memory": "768Mi"}}},
                     # At most 2 brokers per host (not the default one per host): 5 fit on the 3 real nodes.
                     "brokers": {**NODE_SET, "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}},
                                 "constraints": [{"field": "@hostname", "operator": "MAX_PER", "value": "2"}]}}}))
        obj = wait_for(lambda: settled(k, "4.0.1"), timeout=900, interval=2, what=f"KafkaCluster {NAME} Ready")
        yield Live(k, obj["status"]["bootstrapServers"])


def test_upgrade_4_0_to_4_1_under_traffic_one_node_at_a_time_through_two_operator_kills(
        live: Live, operator: OperatorProcess, pytestconfig: pytest.Config) -> None:
    k = live.k
    assert finalized(k, "metadata.version").startswith("4.0-"), "a 4.0.1 cluster runs a 4.0 metadata.version"
    leader = active_controller(k)
    watch = PodWatch(k, SELECTOR)
    try:
        with Traffic(k, "traffic-upgrade", "kafka_traffic.py", live.bootstrap, TOPIC.format("upgrade")) as traffic:
            start = time.time()
            patch(k, {"version": "4.1.1"})
            # SIGKILL the operator right after its first and its fourth restart (mid-controllers, mid-brokers).
            for n in (1, 4):
                wait_for(lambda n=n: len(watch.deleted()) >= n, timeout=900, interval=0.5,
                         what=f"restart {n} of the upgrade")
                operator.kill_and_restart()
            obj = wait_for(lambda: settled(k, "4.1.1"), timeout=1800, interval=2, what="every node on 4.1.1")
            end = time.time()
    finally:
        watch.stop()
    report = traffic.report
    figure(pytestconfig, f"kafka upgrade traffic: {counts(report)}")
    figure(pytestconfig, f"kafka upgrade roll: {json.dumps(roll_figures(watch.outages()))}")
    figure(pytestconfig, f"kafka upgrade acknowledged/s: {json.dumps(rate_figures(report, start, end))}")

    order = watch.deleted()
    others = [c for c in CONTROLLERS if c != leader]
    assert order == [*others, leader, *BROKERS], f"controllers, active {leader} last, then brokers: {order}"
    assert watch.max_unavailable() == 1, watch.events
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
              for p in k.json("get", "pods", "-l", SELECTOR)["items"]}
    assert all("4.1.1" in image for image in images.values()), images
    # metadata.version raised once every node ran 4.1.1: in Kafka itself, and in the status.
    level = finalized(k, "metadata.version")
    assert level.startswith("4.1-"), level
    assert obj["status"]["metadataVersion"] == level
    assert report["failed"] == 0 and report["missing"] == 0 and report["duplicates"] == 0, report
    assert report["received"] >= report["acknowledged"] > 0, report


def test_dynamic_config_on_the_cluster_default_with_elr_and_no_restart(live: Live, pytestconfig: pytest.Config) -> None:
    k = live.k
    upgrade(k)
    # A 4.1 cluster formatted new has eligible leader replicas on; an upgraded one turns them on as a user
    # step (KIP-966). With ELR, Kafka refuses a broker-level min.insync.replicas.
    tool(k, "kafka-features.sh {bs} upgrade --feature eligible.leader.replicas.version=1")
    assert finalized(k, "eligible.leader.replicas.version") == "1"
    watch = PodWatch(k, SELECTOR)
    try:
        patch(k, {"config": {"log.retention.ms": 3600000, "min.insync.replicas": 1}})

        def applied() -> str | None:
            out = tool(k, "kafka-configs.sh {bs} --describe --entity-type brokers --entity-default")
            obj = cluster(k)
            done = (obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
                    and condition(obj, "Progressing").get("status") == "False")
            return out if done and "log.retention.ms=3600000" in out and "min.insync.replicas=1" in out else None

        default = wait_for(applied, timeout=300, interval=3, what="both keys on the cluster default")
        per_broker = tool(k, "kafka-configs.sh {bs} --describe --entity-type brokers --entity-name 0 --all")
    finally:
        watch.stop()
    figure(pytestconfig, f"kafka cluster default after the change: {default.strip()}")
    # describeConfigs of broker 0: the effective values, from the cluster default (never a broker-level key).
    assert re.search(r"log\.retention\.ms=3600000 sensitive=false synonyms=\{DYNAMIC_DEFAULT_BROKER_CONFIG", per_broker)
    assert re.search(r"\bmin\.insync\.replicas=1 sensitive=false synonyms=\{DYNAMIC_DEFAULT_BROKER_CONFIG", per_broker)
    assert "DYNAMIC_BROKER_CONFIG:min.insync.replicas" not in per_broker
    assert cluster(k)["status"].get("refusedConfig", {}) == {}
    assert watch.deleted() == [] and watch.outages() == [], watch.events

    # And back: the operator's default min.insync.replicas (2) and the first retention.
    patch(k, {"config": {"log.retention.ms": CONFIG["log.retention.ms"], "min.insync.replicas": 2}})
    wait_for(lambda: (out := tool(k, "kafka-configs.sh {bs} --describe --entity-type brokers --entity-default"))
             and "min.insync.replicas=2" in out and "log.retention.ms=604800000" in out,
             timeout=300, interval=3, what="the cluster default back to the first values")


def test_a_refused_dynamic_key_and_a_read_only_key_roll_the_brokers_only(
        live: Live, pytestconfig: pytest.Config) -> None:
    k = live.k
    upgrade(k)
    watch = PodWatch(k, SELECTOR)
    try:
        # Kafka refuses num.io.threads above double the current value without a restart (DynamicThreadPool).
        patch(k, {"config": {"num.io.threads": 64, "log.retention.ms": 7200000}})
        refused = wait_for(lambda: cluster(k)["status"].get("refusedConfig"), timeout=300, interval=2,
                           what="num.io.threads refused")
        assert refused == {"num.io.threads": "64"}
        assert "log.retention.ms=7200000" in tool(
            k, "kafka-configs.sh {bs} --describe --entity-type brokers --entity-default")
        wait_for(lambda: len(watch.deleted()) >= 3 and settled(k, "4.1.1"), timeout=1200, interval=2,
                 what="the brokers rolled to apply num.io.threads")
    finally:
        watch.stop()
    assert sorted(watch.deleted()) == BROKERS, f"brokers only, each once: {watch.deleted()}"
    assert re.search(r"num\.io\.threads=64 sensitive=false synonyms=\{STATIC_BROKER_CONFIG", tool(
        k, "kafka-configs.sh {bs} --describe --entity-type brokers --entity-name 0 --all"))
    events = k.run("get", "events", "--field-selector", "reason=DynamicConfigRefused", "-o", "name").stdout
    assert events.strip()
    figure(pytestconfig, f"kafka refused key roll: {json.dumps(roll_figures(watch.outages()))}")

    # A read-only key only brokers read (group.initial.rebalance.delay.ms): brokers roll, controllers not.
    watch = PodWatch(k, SELECTOR)
    try:
        patch(k, {"config": {"group.initial.rebalance.delay.ms": 1000}})
        wait_for(lambda: len(watch.deleted()) >= 3 and settled(k, "4.1.1"), timeout=1200, interval=2,
                 what="the brokers rolled to apply a read-only key")
    finally:
        watch.stop()
    assert sorted(watch.deleted()) == BROKERS, f"brokers only, each once: {watch.deleted()}"
    assert "group.initial.rebalance.delay.ms=1000" in tool(
        k, "kafka-configs.sh {bs} --describe --entity-type brokers --entity-name 0 --all")


def test_min_isr_gate_holds_a_restart_while_another_broker_is_stopped_then_restarts_it(
        live: Live, operator: OperatorProcess, pytestconfig: pytest.Config) -> None:
    k = live.k
    upgrade(k)
    watch = PodWatch(k, SELECTOR)
    try:
        with Traffic(k, "traffic-gate", "kafka_traffic.py", live.bootstrap, TOPIC.format("gate")) as traffic:
            java_signal(k, BROKERS[2], signal.SIGSTOP)
            try:
                # Broker 0 asked to restart (a config roll would restart the stopped broker first: it is the
                # one pod that may go down now, and the roll takes pods that are not Ready first).
                k.run("annotate", "pod", BROKERS[0], "smack.dev/restart=true")

                def held() -> dict | None:
                    obj = cluster(k)
                    message = condition(obj, "Progressing").get("message", "")
                    steps = [s for p in obj["status"].get("plans", []) if p["name"] == "update"
                             for ph in p.get("phases", []) for s in ph.get("steps", []) if s["name"] == BROKERS[0]]
                    return obj if ("below min.insync.replicas=2" in message and "broker 2" in message
                                   and steps and "below min.insync.replicas=2" in steps[0].get("message", "")) else None

                obj = wait_for(held, timeout=300, interval=1, what=f"the restart held while {BROKERS[2]} is stopped")
                assert watch.deleted() == [], "no broker restarted while another one is down"
                metrics = operator.metrics()
            finally:
                java_signal(k, BROKERS[2], signal.SIGCONT)
            figure(pytestconfig, f"kafka gate: {condition(obj, 'Progressing')['message']}")
            start = time.time()
            obj = wait_for(lambda: watch.deleted() and settled(k, "4.1.1"),
                           timeout=1200, interval=2, what=f"{BROKERS[0]} restarted once broker 2 was back")
            end = time.time()
    finally:
        watch.stop()
    report = traffic.report
    figure(pytestconfig, f"kafka gate traffic: {counts(report)}")
    figure(pytestconfig, f"kafka restart after the gate: {json.dumps(roll_figures(watch.outages()))}, "
                         f"acknowledged/s {json.dumps(rate_figures(report, start, end))}")
    gate_metric = [line for line in metrics.splitlines()
                   if line.startswith("smack_gate_blocked_total{") and 'service="kafka"' in line]
    assert any('reason="min-isr"' in line and not line.endswith(" 0.0") for line in gate_metric), gate_metric
    assert watch.deleted() == [BROKERS[0]], f"only the broker asked for, once: {watch.deleted()}"
    assert watch.max_unavailable() == 1, watch.events
    assert report["failed"] == 0 and report["missing"] == 0 and report["duplicates"] == 0, report


def test_replace_broker_on_request_re_replicates_to_full_isr(live: Live, pytestconfig: pytest.Config) -> None:
    k = live.k
    upgrade(k)
    target = BROKERS[1]
    before = k.json("get", "pvc", f"data-{target}")["metadata"]["uid"]
    watch = PodWatch(k, SELECTOR)
    try:
        with Traffic(k, "traffic-replace", "kafka_traffic.py", live.bootstrap, TOPIC.format("replace")) as traffic:
            k.run("annotate", "pod", target, "smack.dev/replace=true")
            wait_for(lambda: target in watch.deleted(), timeout=300, interval=1, what=f"{target} replaced")
            wait_for(lambda: settled(k, "4.1.1"), timeout=900, interval=2, what="the cluster Ready again")

            def full_isr() -> list[tuple[str, str]] | None:
                out = tool(k, "kafka-topics.sh {bs} --describe")
                pairs = re.findall(r"Replicas: (\S+)\s+Isr: (\S+)", out)
                return pairs if pairs and all(len(r.split(",")) == len(i.split(",")) == 3 for r, i in pairs) else None

            described = wait_for(full_isr, timeout=600, interval=5, what="every partition back to 3 in-sync replicas")
    finally:
        watch.stop()
    report = traffic.report
    figure(pytestconfig, f"kafka replace: {json.dumps(roll_figures(watch.outages()))}; traffic "
                         f"{counts(report)}")
    assert k.json("get", "pvc", f"data-{target}")["metadata"]["uid"] != before, "a new, empty volume"
    # That was every partition of every topic: __consumer_offsets' 50 and the traffic's 6 at least.
    assert len(described) >= 56, described
    assert watch.deleted() == [target], watch.deleted()
    assert report["failed"] == 0 and report["missing"] == 0 and report["duplicates"] == 0, report


def test_scale_to_5_brokers_and_back_to_3_after_the_user_moves_the_partitions_off(
        live: Live, pytestconfig: pytest.Config) -> None:
    k = live.k
    upgrade(k)
    patch(k, {"brokers": {"replicas": 5}})
    wait_for(lambda: (obj := settled(k, "4.1.1")) and obj["status"]["brokers"]["ready"] == 5 and obj,
             timeout=900, interval=2, what="5 brokers Ready")
    topic = TOPIC.format("scale")
    # The topic is created on 5 brokers, so brokers 3 and 4 hold replicas of it.
    with Traffic(k, "traffic-scale", "kafka_traffic.py", live.bootstrap, topic) as traffic:
        patch(k, {"brokers": {"replicas": 3}})
        # The operator keeps brokers that hold replicas (as Strimzi does) and says what to move.
        blocked = wait_for(lambda: condition(cluster(k), "ScalingDown").get("reason") == "BrokersNotEmpty"
                           and condition(cluster(k), "ScalingDown"), timeout=300, interval=2,
                           what="the scale-down held while brokers 3 and 4 hold replicas")
        assert len(broker_pods(k)) == 5
        # The user's step (README, "Scaling brokers down"): move them with kafka-reassign-partitions.sh.
        pairs = re.findall(r"Topic: (\S+)\s+Partition: \d+\s+Leader: \S+\s+Replicas: (\S+)",
                           tool(k, "kafka-topics.sh {bs} --describe"))
        topics = sorted({t for t, replicas in pairs if {"3", "4"} & set(replicas.split(","))})
        assert topic in topics, pairs
        move = json.dumps({"version": 1, "topics": [{"topic": t} for t in topics]})
        k.run("exec", serving_broker(k), "-c", "kafka", "--", "sh", "-c", f"""set -e
            export KAFKA_HEAP_OPTS=-Xmx128m; cd /tmp; echo '{move}' > move.json
            /opt/kafka/bin/kafka-reassign-partitions.sh --bootstrap-server localhost:9092 \\
              --topics-to-move-json-file move.json --broker-list 0,1,2 --generate \\
              | sed -n '/^Proposed/{{n;p}}' > plan.json
            /opt/kafka/bin/kafka-reassign-partitions.sh --bootstrap-server localhost:9092 \\
              --reassignment-json-file plan.json --execute""", timeout=300)

        def removed() -> bool:
            obj = cluster(k)
            return (len(broker_pods(k)) == 3 and obj["status"].get("removedBrokers", []) == []
                    and obj["status"]["brokers"]["desired"] == 3
                    and condition(obj, "ScalingDown").get("reason") == "BrokersRemoved")

        wait_for(removed, timeout=900, interval=3, what="brokers 3 and 4 removed and unregistered")
    report = traffic.report
    figure(pytestconfig, f"kafka scale 5 → 3: {blocked['message']}; traffic {counts(report)}")
    # kafka-cluster.sh list-endpoints (the image leaves the script out; its class is in kafka-tools).
    endpoints = tool(k, "kafka-run-class.sh org.apache.kafka.tools.ClusterTool list-endpoints {bs} "
                        "--include-fenced-brokers")
    ids = {int(line.split()[0]) for line in endpoints.splitlines()[1:] if line.split() and line.split()[0].isdigit()}
    assert ids == {0, 1, 2}, endpoints
    events = k.run("get", "events", "--field-selector", "reason=BrokersUnregistered", "-o", "name").stdout
    assert events.strip(), "the operator unregistered brokers 3 and 4"
    assert report["failed"] == 0 and report["missing"] == 0 and report["duplicates"] == 0, report
