"""CassandraDatacenter on the real control plane, driven with kubectl.

kwok simulates the nodes and pod lifecycle: pods are scheduled by the real kube-scheduler and marked
Running/Ready by kwok's stages, but no Cassandra process runs. So the operator runs with
``SMACK_CASSANDRA_PROBE=none`` (tests/e2e/conftest.py): its gates read pod readiness only (a Ready pod
counts as UN), and nodetool drain, decommission, cleanup and upgradesstables are recorded as simulated
in events instead of being run. The gates over real ``nodetool status``/``describecluster`` output
are unit-tested on recorded outputs (tests/unit/cassandra/test_health.py).

Pods are watched with ``kubectl get pods -w`` in a background thread, so the order of what happened
(created, Ready, deleted) is checked, never how long it took.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest
import yaml

from .conftest import KUBECTL, ROOT, Kubectl, wait_for

EXAMPLE = (ROOT / "examples" / "cassandra.yaml").read_text()
RACKS = [{"name": "r1", "zone": "zone-a"}, {"name": "r2", "zone": "zone-b"}, {"name": "r3", "zone": "zone-c"}]


def manifest(name: str, spec: dict) -> str:
    return yaml.safe_dump({"apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter",
                           "metadata": {"name": name}, "spec": {"clusterName": "e2e", **spec}})


class PodWatch:
    """``kubectl get pods -w --output-watch-events`` in a background thread: every pod event, in order."""

    def __init__(self, k: Kubectl, selector: str):
        self.events: list[tuple[str, str, str, bool]] = []  # (ADDED|MODIFIED|DELETED, pod, uid, usable)
        self.proc = subprocess.Popen(
            [KUBECTL, "--kubeconfig", k.kubeconfig, "-n", k.namespace, "get", "pods", "-l", selector, "-w",
             "--output-watch-events", "-o", "json"], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buffer += line
            try:
                event, end = decoder.raw_decode(buffer.strip())
            except json.JSONDecodeError:
                continue
            buffer = ""
            pod = event["object"]
            conditions = pod.get("status", {}).get("conditions") or []
            usable = event["type"] != "DELETED" and pod["metadata"].get("deletionTimestamp") is None and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            self.events.append((event["type"], pod["metadata"]["name"], pod["metadata"]["uid"], usable))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def creations(self) -> list[tuple[str, set[str]]]:
        """Each new pod (by uid) in order, with the pods that were Ready when it appeared."""
        state: dict[str, bool] = {}
        seen: set[str] = set()
        out = []
        for kind, name, uid, usable in self.events:
            if uid not in seen and kind != "DELETED":
                seen.add(uid)
                out.append((name, {n for n, ok in state.items() if ok}))
            state[name] = usable
            if kind == "DELETED":
                state.pop(name)
        return out

    def stopped(self) -> list[str]:
        """Pods in the order they stopped (Ready, then deleting or gone), once per pod uid."""
        out, was_ready, done = [], set(), set()
        for _, name, uid, usable in self.events:
            if usable:
                was_ready.add(uid)
            elif uid in was_ready and uid not in done:
                done.add(uid)
                out.append(name)
        return out

    def most_unavailable(self, expected: set[str]) -> int:
        """The most ``expected`` pods ever missing or not Ready at once, counted once all were up."""
        state: dict[str, bool] = {}
        counting, worst = False, 0
        for kind, name, _, usable in self.events:
            state[name] = usable and kind != "DELETED"
            counting = counting or all(state.get(n) for n in expected)
            if counting:
                worst = max(worst, sum(not state.get(n) for n in expected))
        return worst


def get(k: Kubectl, name: str) -> dict:
    return k.json("get", "cassandradatacenter", name)


def condition(obj: dict, type_: str) -> dict:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def settled(k: Kubectl, name: str, timeout: float = 180, **fields) -> dict:
    """Wait until the datacenter is Ready and Stable at its generation (and status has ``fields``)."""
    def check():
        obj = get(k, name)
        status = obj.get("status", {})
        return obj if (condition(obj, "Ready").get("status") == "True"
                       and condition(obj, "Progressing").get("reason") == "Stable"
                       and status.get("observedGeneration") == obj["metadata"]["generation"]
                       and all(status.get(f) == v for f, v in fields.items())) else None
    return wait_for(check, timeout=timeout, what=f"CassandraDatacenter {name} Ready and Stable {fields or ''}")


def events(k: Kubectl, name: str, reason: str) -> list[str]:
    """Messages of ``name``'s events with ``reason``, in the order they were written (resourceVersion: the
    timestamps have one-second resolution)."""
    items = k.json("get", "events", "--field-selector", f"involvedObject.name={name},reason={reason}")["items"]
    return [e["message"] for e in sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))]


def pod_names(k: Kubectl, name: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"]
            for p in k.json("get", "pods", "-l", f"cassandra.smack.dev/datacenter={name}")["items"]}


def test_datacenter_bootstraps_one_node_at_a_time_with_racks_in_their_zones(ns: Kubectl, operator):
    watch = PodWatch(ns, "cassandra.smack.dev/datacenter=dc1")
    try:
        ns.apply(EXAMPLE)
        obj = settled(ns, "dc1", version="4.1.9")
    finally:
        watch.stop()
    order = ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0", "dc1-r1-1", "dc1-r2-1", "dc1-r3-1"]
    created = watch.creations()
    assert [name for name, _ in created] == order, "nodes bootstrap round-robin over the racks"
    for i, (name, ready) in enumerate(created):
        assert ready == set(order[:i]), f"{name} was created before every earlier node was up: {ready}"

    status = obj["status"]
    assert (status["size"], status["ready"], status["initialized"]) == (6, 6, True)
    assert {n["pod"]: n["rack"] for n in status["nodes"]} == {p: p.split("-")[1] for p in order}
    assert all(n["state"] == "UN" and n["version"] == "4.1.9" for n in status["nodes"])
    assert status["seeds"] == ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0"], "one seed per rack"
    deploy = next(p for p in status["plans"] if p["name"] == "deploy")
    assert deploy["status"] == "Complete" and [s["name"] for s in deploy["phases"][0]["steps"]] == order
    table = ns.run("get", "cassandradatacenter", "dc1").stdout.splitlines()
    assert table[0].split()[:7] == ["NAME", "CLUSTER", "VERSION", "SIZE", "UP", "READY", "PROGRESSING"]
    assert table[1].split()[:7] == ["dc1", "demo", "4.1.9", "6", "6", "True", "Stable"]

    # Racks map to zones: each rack's pods run in its zone, admitted through one claim pod set per rack.
    zones = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for n in ns.json("get", "nodes")["items"]}
    rack_zone = {r["name"]: r["zone"] for r in RACKS}
    for pod in ns.json("get", "pods", "-l", "cassandra.smack.dev/datacenter=dc1")["items"]:
        rack = pod["metadata"]["labels"]["cassandra.smack.dev/rack"]
        assert zones[pod["spec"]["nodeName"]] == rack_zone[rack], f"{pod['metadata']['name']} outside its zone"
    claim = ns.json("get", "serviceclaim", "dc1")
    assert [(p["name"], p["count"], p["constraints"]) for p in claim["spec"]["podSets"]] == [
        (r["name"], 2, [{"field": "@zone", "operator": "IS", "value": r["zone"]}]) for r in RACKS]

    for rack in rack_zone:
        sts = ns.json("get", "statefulset", f"dc1-{rack}")
        assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"} and sts["spec"]["replicas"] == 2
        pod_spec = sts["spec"]["template"]["spec"]
        assert pod_spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["nodetool", "drain"]
        assert pod_spec["terminationGracePeriodSeconds"] >= 600
        data = ns.json("get", "configmap", f"dc1-{rack}-config")["data"]
        assert f"dc=dc1\nrack={rack}\n" in data["cassandra-rackdc.properties"]
        conf = yaml.safe_load(data["cassandra.yaml"])
        assert conf["endpoint_snitch"] == "GossipingPropertyFileSnitch" and conf["cluster_name"] == "demo"
        assert conf["seed_provider"][0]["parameters"][0]["seeds"] == f"dc1-seeds.{ns.namespace}.svc.cluster.local"
        assert (conf["num_tokens"], conf["concurrent_reads"]) == (16, 32)
    seed_pods = ns.json("get", "pods", "-l", "cassandra.smack.dev/seed=true")["items"]
    assert sorted(p["metadata"]["name"] for p in seed_pods) == ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0"]
    seed_service = ns.json("get", "service", "dc1-seeds")["spec"]
    assert seed_service["clusterIP"] == "None" and seed_service["selector"]["cassandra.smack.dev/seed"] == "true"
    assert ns.json("get", "pdb", "dc1")["spec"]["maxUnavailable"] == 1
    assert ns.json("get", "service", "dc1-client")["spec"]["ports"][0]["port"] == 9042
    assert len(events(ns, "dc1", "BootstrappingNode")) == 6


def test_steady_state_writes_nothing(ns: Kubectl, operator):
    ns.apply(manifest("quiet", {"size": 3}))
    settled(ns, "quiet")

    def versions():
        objs = ns.json("get", "statefulsets,services,configmaps,poddisruptionbudgets,pods,serviceclaims",
                       "-l", "cassandra.smack.dev/datacenter=quiet")["items"]
        objs.append(get(ns, "quiet"))
        return {(o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in objs}

    before = versions()
    marker = f"reconciling CassandraDatacenter {ns.namespace}/quiet (trigger: CassandraDatacenter modified"
    passes = operator.log_path.read_text().count(marker)
    ns.run("label", "cassandradatacenter", "quiet", "touched=yes")  # wakes the loop, changes no spec
    wait_for(lambda: operator.log_path.read_text().count(marker) > passes, timeout=30,
             what="a reconcile after the label change")
    time.sleep(2)  # room for that pass to write, if it were to
    after = versions()
    changed = {key for key in before if before[key] != after.get(key) and key != ("CassandraDatacenter", "quiet")}
    assert not changed, f"a reconcile with nothing to do wrote {changed}"


def test_upgrade_goes_rack_by_rack_one_node_down_at_most_and_survives_an_operator_kill(ns: Kubectl, operator):
    ns.apply(manifest("up", {"size": 6, "serverVersion": "4.1.8"}))
    settled(ns, "up", version="4.1.8")
    before = pod_names(ns, "up")
    watch = PodWatch(ns, "cassandra.smack.dev/datacenter=up")
    try:
        wait_for(lambda: len(watch.events) >= 6, what="the watch to list the pods")
        ns.run("patch", "cassandradatacenter", "up", "--type=merge", "-p", '{"spec":{"serverVersion":"5.0.5"}}')
        wait_for(lambda: len(events(ns, "up", "RestartingNode")) >= 2, what="two nodes restarted")
        operator.kill_and_restart()  # SIGKILL mid-upgrade: the new process resumes from the cluster
        obj = settled(ns, "up", timeout=240, version="5.0.5")
    finally:
        watch.stop()
    order = ["up-r1-0", "up-r1-1", "up-r2-0", "up-r2-1", "up-r3-0", "up-r3-1"]
    assert watch.stopped() == order, f"racks in order, one at a time within a rack, each once: {watch.events}"
    assert watch.most_unavailable(set(order)) == 1, "never more than one node down"
    after = pod_names(ns, "up")
    assert set(after) == set(before) and all(after[p] != before[p] for p in before)
    images = {p["spec"]["containers"][0]["image"] for p in ns.json("get", "pods", "-l",
                                                                  "cassandra.smack.dev/datacenter=up")["items"]}
    assert images == {"cassandra:5.0.5"}
    update = next(p for p in obj["status"]["plans"] if p["name"] == "update")
    assert update["status"] == "Complete"
    assert [p["name"] for p in update["phases"]] == ["r1", "r2", "r3", "upgradesstables"]
    assert all(n["sstables"] == "5.0.5" for n in obj["status"]["nodes"])
    drains = events(ns, "up", "DrainedNode")
    assert len(drains) == 6 and all("(simulated: SMACK_CASSANDRA_PROBE=none)" in m for m in drains)
    assert len(events(ns, "up", "UpgradedSSTables")) == 6, "upgradesstables after a major upgrade, once per node"

    # A downgrade to an older release line is refused at apply.
    result = ns.run("patch", "cassandradatacenter", "up", "--type=merge", "-p",
                    '{"spec":{"serverVersion":"4.1.9"}}', check=False)
    assert re.search(r"spec\.serverVersion: Forbidden: serverVersion cannot go from 5\.0\.5 to 4\.1\.9: "
                     r"Cassandra does not support downgrading", result.stderr), result.stderr


def test_canary_restarts_the_first_nodes_then_waits_for_proceed(ns: Kubectl, operator):
    ns.apply(manifest("can", {"size": 3, "serverVersion": "4.1.8", "rollout": {"canary": 1}}))
    settled(ns, "can", version="4.1.8")
    before = pod_names(ns, "can")
    ns.run("patch", "cassandradatacenter", "can", "--type=merge", "-p", '{"spec":{"serverVersion":"4.1.9"}}')

    def paused():
        obj = get(ns, "can")
        return obj if condition(obj, "Progressing").get("reason") == "Paused" else None
    obj = wait_for(paused, timeout=120, what="the update to wait after the canary")
    update = next(p for p in obj["status"]["plans"] if p["name"] == "update")
    assert update["status"] == "Waiting"
    assert [(p["name"], p["status"]) for p in update["phases"][:2]] == [("canary", "Complete"), ("r2", "Waiting")]
    after = pod_names(ns, "can")
    assert after["can-r1-0"] != before["can-r1-0"], "the canary node runs the new version"
    assert {p: after[p] for p in ("can-r2-0", "can-r3-0")} == {p: before[p] for p in ("can-r2-0", "can-r3-0")}
    assert "smack.dev/plan-proceed" in condition(obj, "Progressing")["message"]

    ns.run("annotate", "cassandradatacenter", "can", "smack.dev/plan-proceed=update=1")
    settled(ns, "can", version="4.1.9")
    assert all(pod_names(ns, "can")[p] != before[p] for p in before)


def test_scale_up_one_node_at_a_time_then_cleanup_and_scale_down_by_decommission(ns: Kubectl, operator):
    ns.apply(manifest("grow", {"size": 6, "storage": {"deleteClaim": True}}))
    settled(ns, "grow")
    watch = PodWatch(ns, "cassandra.smack.dev/datacenter=grow")
    try:
        wait_for(lambda: len(watch.events) >= 6, what="the watch to list the pods")
        ns.run("patch", "cassandradatacenter", "grow", "--type=merge", "-p", '{"spec":{"size":9}}')
        obj = settled(ns, "grow", size=9)
    finally:
        watch.stop()
    created = watch.creations()[6:]
    assert [name for name, _ in created] == ["grow-r1-2", "grow-r2-2", "grow-r3-2"]
    for i, (name, ready) in enumerate(created):
        assert len(ready) == 6 + i, f"{name} bootstrapped while another node was not up"
    cleaned = [m.split(" on ")[1].split(" ")[0] for m in events(ns, "grow", "CleanedUpNode")]
    assert {"grow-r1-0", "grow-r2-0", "grow-r3-0", "grow-r1-1", "grow-r2-1", "grow-r3-1"} <= set(cleaned)
    assert all(not n["cleanup"] for n in obj["status"]["nodes"])
    assert condition(obj, "ScalingUp")["status"] == "False"

    ns.run("patch", "cassandradatacenter", "grow", "--type=merge", "-p", '{"spec":{"size":6}}')
    obj = settled(ns, "grow", size=6)
    left = [m.split(" on ")[1].split(" ")[0] for m in events(ns, "grow", "DecommissionedNode")]
    assert left == ["grow-r3-2", "grow-r2-2", "grow-r1-2"], "the rack with the most nodes first, ties: last rack"
    assert sorted(pod_names(ns, "grow")) == sorted(f"grow-r{r}-{i}" for r in (1, 2, 3) for i in (0, 1))
    wait_for(lambda: len(ns.json("get", "pvc", "-l", "cassandra.smack.dev/datacenter=grow")["items"]) == 6,
             what="the decommissioned nodes' volumes deleted (deleteClaim: true)")
    assert [p["count"] for p in ns.json("get", "serviceclaim", "grow")["spec"]["podSets"]] == [2, 2, 2]


def test_scale_down_keeps_the_volume_and_never_restarts_a_node_on_it(ns: Kubectl, operator):
    ns.apply(manifest("keep", {"size": 4}))
    settled(ns, "keep", size=4)
    ns.run("patch", "cassandradatacenter", "keep", "--type=merge", "-p", '{"spec":{"size":3}}')
    settled(ns, "keep", size=3)
    assert "keep-r1-1" not in pod_names(ns, "keep")
    pvc = ns.json("get", "pvc", "data-keep-r1-1")
    assert pvc["status"]["phase"] == "Bound" and pvc["metadata"].get("deletionTimestamp") is None
    assert "cassandra.smack.dev/decommissioned" in pvc["metadata"]["annotations"]

    # Growing again does not start a node on the kept data of one that left the ring: it waits for a person.
    ns.run("patch", "cassandradatacenter", "keep", "--type=merge", "-p", '{"spec":{"size":4}}')

    def waiting():
        obj = get(ns, "keep")
        message = condition(obj, "Progressing").get("message", "")
        current = obj["status"].get("observedGeneration") == 3
        return obj if current and "volume data-keep-r1-1 holds" in message else None
    wait_for(waiting, what="the scale-up to wait for the kept volume")
    assert "keep-r1-1" not in pod_names(ns, "keep")
    ns.run("delete", "pvc", "data-keep-r1-1", "--wait=false")
    settled(ns, "keep", size=4)
    assert ns.json("get", "pvc", "data-keep-r1-1")["metadata"]["uid"] != pvc["metadata"]["uid"]

    # Deleting the datacenter keeps every volume (deleteClaim false).
    ns.run("delete", "cassandradatacenter", "keep", "--timeout=60s")
    wait_for(lambda: not ns.json("get", "statefulsets,pods", "-l", "cassandra.smack.dev/datacenter=keep")["items"],
             timeout=90, what="the datacenter's children garbage-collected")
    kept = ns.json("get", "pvc", "-l", "cassandra.smack.dev/datacenter=keep")["items"]
    assert len(kept) == 4 and all(p["metadata"].get("deletionTimestamp") is None for p in kept)


def test_replace_a_node_on_a_new_volume_with_the_dead_nodes_address(ns: Kubectl, operator):
    ns.apply(manifest("rep", {"size": 3}))
    obj = settled(ns, "rep")
    dead_ip = next(n["ip"] for n in obj["status"]["nodes"] if n["pod"] == "rep-r2-0")
    pod_uid = ns.json("get", "pod", "rep-r2-0")["metadata"]["uid"]
    volume_uid = ns.json("get", "pvc", "data-rep-r2-0")["metadata"]["uid"]
    others = {p: u for p, u in pod_names(ns, "rep").items() if p != "rep-r2-0"}

    ns.run("annotate", "pod", "rep-r2-0", "smack.dev/replace=true")
    wait_for(lambda: ns.run("get", "pvc", "data-rep-r2-0", "-o", "jsonpath={.metadata.uid}", check=False).stdout
             not in ("", volume_uid), timeout=90, what="a new volume for rep-r2-0")
    obj = settled(ns, "rep")
    node = next(n for n in obj["status"]["nodes"] if n["pod"] == "rep-r2-0")
    assert node["replaced"] == dead_ip and "replaceAddress" not in node
    assert ns.json("get", "pod", "rep-r2-0")["metadata"]["uid"] != pod_uid
    assert {p: u for p, u in pod_names(ns, "rep").items() if p != "rep-r2-0"} == others
    assert events(ns, "rep", "ReplaceAddressRecorded") == [
        f"update plan, phase r2: rep-r2-0 will replace the dead node {dead_ip} on a new volume"]
    (replacing,) = events(ns, "rep", "ReplacingNode")
    assert f"-Dcassandra.replace_address_first_boot={dead_ip}" in replacing
    assert condition(obj, "ReplacingNodes")["status"] == "False"


INVALID = [
    ("unknown version", {"serverVersion": "3.11.4"},
     r'spec\.serverVersion: Unsupported value: "3\.11\.4": supported values: "4\.0\.17", .*"5\.0\.5"'),
    ("operator-owned config key", {"config": {"cluster_name": "other", "concurrent_reads": 32}},
     r"spec\.config: cluster_name cannot be set: it is spec\.clusterName"),
    ("rack in an unknown zone", {"size": 3, "racks": [{"name": "r1", "zone": "zone-a"},
                                                      {"name": "r9", "zone": "zone-x"}]},
     r"spec\.racks \(rack r9\): can never be placed"),
    ("malformed zone", {"racks": [{"name": "r1", "zone": "zone a"}]},
     r"spec\.racks\[0\]\.zone: Invalid value: \"zone a\""),
    ("fewer nodes than racks", {"size": 2},
     r"spec\.size: Invalid value: .*size must be at least the number of racks"),
    ("jvm replace_address option", {"jvm": {"options": ["-Dcassandra.replace_address=1.2.3.4"]}},
     r"spec\.jvm\.options: Forbidden: replace_address and -Xms/-Xmx are set by the operator"),
]


@pytest.mark.parametrize(("case", "spec", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifests_are_refused_naming_the_field(ns: Kubectl, case, spec, expected):
    result = ns.apply(manifest("bad", spec), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert re.search(expected, result.stderr), result.stderr
    assert ns.run("get", "cassandradatacenter", "bad", check=False).returncode != 0


@pytest.mark.parametrize(("case", "patch", "expected"), [
    ("storage shrink", {"storage": {"size": "5Gi"}},
     r"spec\.storage\.size: Forbidden: size cannot shrink from 10Gi to 5Gi"),
    ("numTokens change", {"numTokens": 256}, r"spec\.numTokens: Forbidden: numTokens is immutable"),
    ("rack moved to another zone", {"racks": [{"name": "r1", "zone": "zone-b"}, *RACKS[1:]]},
     r"spec\.racks: Forbidden: racks cannot be added, removed, renamed, reordered or moved"),
], ids=["storage shrink", "numTokens change", "rack moved"])
def test_invalid_changes_are_refused_naming_the_field(ns: Kubectl, case, patch, expected):
    ns.apply(manifest("fixed", {"size": 3}))
    result = ns.run("patch", "cassandradatacenter", "fixed", "--type=merge", "-p", json.dumps({"spec": patch}),
                    check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert re.search(expected, result.stderr), result.stderr
    assert get(ns, "fixed")["metadata"]["generation"] == 1


def test_a_node_whose_kubernetes_node_is_lost_is_degraded_naming_it_not_updating(ns: Kubectl, operator):
    """A node's Kubernetes node stops reporting (written as the node lifecycle controller writes it, as in
    test_kafka's node failure): the datacenter says Degraded, NodeLost, with pod and node named, and no
    update is in progress."""
    ns.apply(manifest("lost", {"size": 3}))
    settled(ns, "lost")
    pods = {p["metadata"]["name"]: p
            for p in ns.json("get", "pods", "-l", "cassandra.smack.dev/datacenter=lost")["items"]}
    victim = sorted(pods)[1]
    node = pods[victim]["spec"]["nodeName"]
    ns.run("annotate", "node", node, "kwok.x-k8s.io/node-")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ns.run("patch", "node", node, "--subresource=status", "-p", json.dumps({"status": {"conditions": [{
        "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.", "lastTransitionTime": now, "lastHeartbeatTime": now}]}}))
    try:
        ns.run("patch", "pod", victim, "--subresource=status", "-p", json.dumps({"status": {"conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": now}]}}))

        def degraded():
            obj = get(ns, "lost")
            c = condition(obj, "Degraded")
            return obj if c.get("status") == "True" and c.get("reason") == "NodeLost" else None
        obj = wait_for(degraded, timeout=90, what="Degraded NodeLost")
        assert f"{victim} on node {node} NotReady since" in condition(obj, "Degraded")["message"]
        assert condition(obj, "Updating")["status"] == "False"
        assert condition(obj, "Progressing")["reason"] == "NodeLost"
    finally:
        ns.run("annotate", "node", node, "kwok.x-k8s.io/node=fake")
        wait_for(lambda: ns.run("get", "node", node, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
                 .stdout == "True", timeout=60, what=f"node {node} Ready again")
