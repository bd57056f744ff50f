"""``kubectl smack`` against the local control plane, and the metrics the operators export.

The plugin runs as kubectl runs it (``kubectl smack ...`` with the console script on PATH) and
as the bare console script; it is pointed at the test cluster with ``--kubeconfig``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .conftest import KUBECTL, Kubectl, wait_for

PLUGIN = str(Path(sys.executable).parent / "kubectl-smack")
SMALL = {"version": "4.1.0", "brokers": {"replicas": 1}, "controllers": {"replicas": 1}}
SIZED = {"version": "4.1.0", "brokers": {"replicas": 1, "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
         "controllers": {"replicas": 1, "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}}


def smack(k: Kubectl, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [PLUGIN, *args, "--kubeconfig", k.kubeconfig]
    if k.namespace and args[0] != "tenant":
        cmd += ["-n", k.namespace]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, f"kubectl smack {' '.join(args)}: {proc.stderr}"
    return proc


def create(k: Kubectl, name: str, spec: dict) -> dict:
    k.apply(yaml.safe_dump({"apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster",
                            "metadata": {"name": name}, "spec": spec}))

    def ready():
        obj = k.json("get", "kafkacluster", name)
        conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
        return obj if conds.get("Ready") == "True" and conds.get("Progressing") == "False" else None
    return wait_for(ready, timeout=120, what=f"KafkaCluster {name} Ready")


def test_endpoints_describe_and_kubectl_plugin_discovery(ns: Kubectl, operator):
    create(ns, "cli", SMALL)
    out = smack(ns, "endpoints", "kc", "cli").stdout
    assert re.search(rf"^bootstrap\s+cli-bootstrap\.{ns.namespace}\.svc:9092$", out, re.M), out
    data = json.loads(smack(ns, "endpoints", "kafkacluster", "cli", "-o", "json").stdout)
    assert data["bootstrap"] == f"cli-bootstrap.{ns.namespace}.svc:9092"
    assert any(k.startswith("listener/") for k in data)

    # kubectl finds the plugin on PATH and runs it as `kubectl smack`.
    env = dict(os.environ, PATH=f"{Path(PLUGIN).parent}:{os.environ['PATH']}", KUBECONFIG=ns.kubeconfig)
    proc = subprocess.run([KUBECTL, "smack", "endpoints", "kc", "cli", "-n", ns.namespace, "-o", "yaml"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["bootstrap"].startswith("cli-bootstrap.")

    # kopf posts events in the background: the ClusterReady event may trail the Ready status a moment.
    text = wait_for(lambda: (t := smack(ns, "describe", "kc", "cli", "--events", "100").stdout)
                    and "ClusterReady" in t and t, timeout=30, what="the ClusterReady event in describe")
    assert text.startswith(f"KafkaCluster {ns.namespace}/cli")
    assert re.search(r"^Ready\s+True", text, re.M) and "Plans:" in text and "ClusterReady" in text
    described = yaml.safe_load(smack(ns, "describe", "kc", "cli", "-o", "yaml").stdout)
    assert described["fields"]["Version"] == "4.1.0"
    assert {p["name"] for p in described["plans"]} >= {"deploy", "update"}

    missing = smack(ns, "describe", "kc", "nope", check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_plan_pause_resume_and_pod_restart(ns: Kubectl, operator):
    create(ns, "ctl", SMALL)
    status = json.loads(smack(ns, "plan", "status", "kc", "ctl", "-o", "json").stdout)
    assert {p["name"]: p["status"] for p in status}["deploy"] == "Complete"
    tree = smack(ns, "plan", "status", "kc", "ctl", "deploy").stdout.splitlines()
    assert tree[0].split() == ["PLAN", "/", "PHASE", "/", "STEP", "STRATEGY", "STATUS", "MESSAGE"]
    assert any(line.split()[:2] == ["ctl-broker-0", "Complete"] for line in tree), tree

    watch = subprocess.Popen([PLUGIN, "plan", "status", "kc", "ctl", "update", "--watch", "--interval", "0.5",
                              "-n", ns.namespace, "--kubeconfig", ns.kubeconfig],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "paused" in smack(ns, "plan", "pause", "kc", "ctl", "update").stdout
        assert ns.json("get", "kc", "ctl")["metadata"]["annotations"]["smack.dev/plan-pause"] == "update"
        assert "already paused" in smack(ns, "plan", "pause", "kc", "ctl", "update").stdout
        bad = smack(ns, "plan", "pause", "kc", "ctl", "nosuchplan", check=False)
        assert bad.returncode == 1 and "no plan 'nosuchplan'" in bad.stderr

        uid = ns.json("get", "pod", "ctl-broker-0")["metadata"]["uid"]
        out = smack(ns, "pod", "restart", "ctl-broker-0").stdout
        assert "of KafkaCluster ctl: restart requested" in out
        assert ns.json("get", "pod", "ctl-broker-0")["metadata"]["annotations"]["smack.dev/restart"] == "true"

        def update_status():
            plans = json.loads(smack(ns, "plan", "status", "kc", "ctl", "update", "-o", "json").stdout)
            return plans[0]["status"]
        wait_for(lambda: update_status() == "Waiting", timeout=60, what="the paused update plan Waiting")
        time.sleep(2)
        assert ns.json("get", "pod", "ctl-broker-0")["metadata"]["uid"] == uid, "restarted while paused"

        assert "resumed" in smack(ns, "plan", "resume", "kc", "ctl", "update").stdout
        assert "smack.dev/plan-pause" not in (ns.json("get", "kc", "ctl")["metadata"].get("annotations") or {})
        wait_for(lambda: (p := ns.run("get", "pod", "ctl-broker-0", "-o", "json", check=False)).returncode == 0
                 and json.loads(p.stdout)["metadata"]["uid"] != uid, timeout=90, what="ctl-broker-0 restarted")
        wait_for(lambda: update_status() == "Complete", timeout=90, what="the update plan Complete again")
        time.sleep(1.5)
    finally:
        watch.terminate()
        printed = watch.communicate(timeout=10)[0]
    assert printed.count("--- ") >= 2, printed  # re-printed on each change: Waiting, then InProgress/Complete
    assert "Waiting" in printed and "restart requested by annotation" in printed

    forced = smack(ns, "plan", "force-complete", "kc", "ctl", "update", "brokers", "ctl-broker-0").stdout
    assert "forced complete" in forced
    assert ns.json("get", "kc", "ctl")["metadata"]["annotations"]["smack.dev/plan-force-complete"] == \
        "update/brokers/ctl-broker-0"
    nostep = smack(ns, "plan", "force-complete", "kc", "ctl", "update", "brokers", "ctl-broker-9", check=False)
    assert nostep.returncode == 1 and "no step" in nostep.stderr


def test_tenant_usage(ns: Kubectl, kube: Kubectl, operator):
    tenant = f"cli-{ns.namespace}"
    kube.apply(yaml.safe_dump({"apiVersion": "scheduling.smack.dev/v1alpha1", "kind": "Tenant",
                               "metadata": {"name": tenant},
                               "spec": {"namespaces": [ns.namespace], "guarantee": {"cpu": "4"}}}))
    try:
        create(ns, "usage", SIZED)

        def usage():
            rows = json.loads(smack(ns, "tenant", "usage", "-o", "json").stdout)
            return next((r for r in rows if r["tenant"] == tenant and r["admittedClaims"] >= 1
                         and r["usage"].get("cpu") == "750m"), None)
        row = wait_for(usage, timeout=60, what=f"tenant {tenant} holding 750m cpu")
        assert row["guarantee"] == {"cpu": "4"} and row["dominantShare"]
        table = smack(ns, "tenant", "usage").stdout.splitlines()
        assert table[0].split()[:5] == ["TENANT", "SHARE", "DOMINANT", "ADMITTED", "PENDING"]
        assert any(line.split()[0] == tenant and "cpu=750m" in line for line in table[1:]), table
        one = json.loads(smack(ns, "tenant", "usage", tenant, "-o", "json").stdout)
        assert [r["tenant"] for r in one] == [tenant]
    finally:
        kube.run("delete", "tenant", tenant, "--wait=false", check=False)


def _samples(text: str, family: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(rf"^({family}(?:\{{[^}}]*\}})?) (\S+)$", text, re.M)}


def _total(text: str, family: str) -> float:
    return sum(_samples(text, family).values())


def test_metrics_families_exist_and_move(ns: Kubectl, operator):
    """Every family docs/metrics.md lists for Kafka and meta is exported, and moves with the work."""
    before = operator.metrics()
    create(ns, "metered", SIZED)
    ns.run("patch", "kafkacluster", "metered", "--type=merge", "-p", '{"spec":{"version":"4.1.1"}}')

    def upgraded():
        obj = ns.json("get", "kafkacluster", "metered")
        return obj.get("status", {}).get("version") == "4.1.1" and all(
            p["status"] == "Complete" for p in obj["status"]["plans"] if p["name"] == "update")
    wait_for(upgraded, timeout=150, what="the upgrade to 4.1.1 complete")
    after = wait_for(lambda: (t := operator.metrics()) and _total(t, "smack_rollout_step_duration_seconds_count") >= 2
                     and t, timeout=30, what="two rollout steps timed")

    for family in ("smack_reconcile_duration_seconds_count", "smack_reconcile_total", "smack_child_writes_total"):
        assert _total(after, family) > _total(before, family), family
    ready = _samples(after, "smack_resources_ready")
    assert ready[f'smack_resources_ready{{kind="KafkaCluster",name="metered",namespace="{ns.namespace}"}}'] == 1
    plan = _samples(after, "smack_plan_status")
    key = f'kind="KafkaCluster",name="metered",namespace="{ns.namespace}",phase="",plan="update"'
    assert plan[f"smack_plan_status{{{key},status=\"Complete\"}}"] == 1
    assert plan[f"smack_plan_status{{{key},status=\"InProgress\"}}"] == 0
    steps = _samples(after, "smack_rollout_step_duration_seconds_count")
    assert sum(v for k, v in steps.items() if 'plan="update"' in k) >= 2
    assert _total(after, "smack_rollout_step_duration_seconds_sum") > 0
    assert any('state="admitted"' in k and v >= 1 for k, v in _samples(after, "smack_claims").items())
    assert _samples(after, "smack_tenant_dominant_share")
    assert any('resource="cpu"' in k and v > 0 for k, v in _samples(after, "smack_tenant_usage").items())
    for line in after.splitlines():  # conventional names: histograms of durations end in their unit
        if line.startswith("# TYPE smack_"):
            _, _, name, kind = line.split()
            assert kind != "histogram" or name.endswith("_seconds"), line


def test_endpoints_describe_and_plan_status_of_cassandra_and_spark(ns: Kubectl, operator):
    ns.apply(yaml.safe_dump({"apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter",
                             "metadata": {"name": "cli"}, "spec": {"clusterName": "cli", "size": 3}}))
    ns.apply(yaml.safe_dump({"apiVersion": "spark.smack.dev/v1alpha1", "kind": "SparkApplication",
                             "metadata": {"name": "pi"},
                             "spec": {"type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi",
                                      "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
                                      "driver": {"coreRequest": "100m", "memory": "512m"},
                                      "executor": {"coreRequest": "100m", "memory": "512m", "instances": 1}}}))
    wait_for(lambda: any(c["type"] == "Ready" and c["status"] == "True" for c in ns.json(
        "get", "cassandradatacenter", "cli").get("status", {}).get("conditions", [])), timeout=120,
        what="CassandraDatacenter cli Ready")
    endpoints = json.loads(smack(ns, "endpoints", "cassdc", "cli", "-o", "json").stdout)
    assert endpoints["cql"] == f"cli-client.{ns.namespace}.svc:9042", endpoints
    assert "Ready nodes" in smack(ns, "describe", "cassdc", "cli").stdout
    plans = [p["name"] for p in json.loads(smack(ns, "plan", "status", "cassdc", "cli", "-o", "json").stdout)]
    assert plans and all(isinstance(p, str) for p in plans)

    state = wait_for(lambda: ns.json("get", "sparkapplication", "pi").get("status", {}).get("driverInfo", {}).get(
        "podName"), timeout=120, what="the SparkApplication's driver")
    assert json.loads(smack(ns, "endpoints", "sparkapp", "pi", "-o", "json").stdout)["driver"] == state
    assert "Submission" in smack(ns, "describe", "sparkapplication", "pi").stdout
