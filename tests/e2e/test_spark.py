"""The Spark operator on the real control plane: submission, lifecycle, retries, timeouts, schedules,
preemption, refusals.

No container runs on the simulated nodes, so kwok Stages play the driver's part
(hack/kwok-spark-driver-stages.yaml, installed by the ``driver_stages`` fixture): a driver pod
labelled ``smack.dev/e2e-driver=succeed`` goes Succeeded 2 s after it runs, ``=fail`` goes Failed
(exit code 1) after 1 s, ``=hang`` stays Pending with its container in ImagePullBackOff. A driver
without the label runs until it is deleted. The label is set through ``spec.driver.labels``.
Executors are never created (no driver process asks for them); the claim still holds their capacity.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

import pytest
import yaml

from .conftest import ROOT, Kubectl, OperatorProcess, wait_for
from .test_meta import condition, tenants, wait_condition  # noqa: F401 - tenants is a fixture

JAR = "local:///opt/spark/examples/jars/spark-examples_2.12-3.5.3.jar"


@pytest.fixture(scope="module", autouse=True)
def driver_stages(kube: Kubectl) -> None:
    kube.run("apply", "-f", str(ROOT / "hack" / "kwok-spark-driver-stages.yaml"))


def spark_app(name: str, *, plays: str | None = None, restart: dict | None = None, timeouts: dict | None = None,
              **spec) -> str:
    body = {"type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi", "mainApplicationFile": JAR,
            "arguments": ["100"], "driver": {"coreRequest": "100m", "memory": "512m"},
            "executor": {"coreRequest": "100m", "memory": "512m", "instances": 1}} | spec
    if plays:  # the kwok stage that plays the driver: succeed, fail or hang
        body["driver"]["labels"] = {"smack.dev/e2e-driver": plays}
    if restart:
        body["restartPolicy"] = restart
    if timeouts:
        body["timeouts"] = timeouts
    return yaml.safe_dump({"apiVersion": "spark.smack.dev/v1alpha1", "kind": "SparkApplication",
                           "metadata": {"name": name}, "spec": body})


def wait_state(k: Kubectl, name: str, state: str, timeout: float = 90) -> dict:
    def check():
        obj = k.json("get", "sparkapplication", name)
        return obj if obj.get("status", {}).get("applicationState", {}).get("state") == state else None
    return wait_for(check, timeout=timeout, what=f"SparkApplication {name} in {state}")


def drivers(k: Kubectl, name: str) -> list[dict]:
    return k.json("get", "pods", "-l", f"spark.smack.dev/app={name},spark-role=driver")["items"]


def history(obj: dict) -> list[str]:
    return [h["state"] for h in obj["status"]["stateHistory"]]


def test_spark_pi_is_admitted_submitted_with_spark_arguments_and_completes(ns: Kubectl, operator: OperatorProcess):
    ns.apply(spark_app("pi", plays="succeed"))
    obj = wait_state(ns, "pi", "COMPLETED")
    status = obj["status"]
    assert history(obj) == ["NEW", "SUBMITTED", "RUNNING", "SUCCEEDING", "COMPLETED"]
    sid = status["submissionId"]
    assert status["driverInfo"]["podName"] == f"pi-{sid.replace('-', '')[:8]}-driver"
    assert status["sparkApplicationId"] == f"spark-{sid.replace('-', '')}"
    assert condition(obj, "Complete")["status"] == "True"

    (pod,) = drivers(ns, "pi")
    assert pod["metadata"]["name"] == status["driverInfo"]["podName"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["driver", "--properties-file", "/opt/spark/conf/spark.properties",
                                 "--class", "org.apache.spark.examples.SparkPi", JAR, "100"]
    assert pod["metadata"]["labels"]["spark-role"] == "driver"
    assert pod["metadata"]["labels"]["scheduling.smack.dev/claim"] == "pi"
    props = ns.json("get", "configmap", f"{status['driverInfo']['podName']}-conf")["data"]["spark.properties"]
    conf = dict(line.split("=", 1) for line in props.splitlines())
    assert conf["spark.kubernetes.driver.pod.name"] == pod["metadata"]["name"]
    assert conf["spark.driver.host"] == f"{status['driverInfo']['headlessServiceName']}.{ns.namespace}.svc"
    assert conf["spark.app.id"] == status["sparkApplicationId"]
    assert conf["spark.executor.instances"] == "1"
    service = ns.json("get", "service", status["driverInfo"]["headlessServiceName"])
    assert service["spec"]["clusterIP"] == "None"

    # The gang was admitted before the driver existed; finished, the claim is released.
    reasons = [e["reason"] for e in ns.json("get", "events")["items"]]
    assert {"Admitted", "Submitted", "Running", "Completed"} <= set(reasons)
    wait_for(lambda: ns.run("get", "serviceclaim", "pi", check=False).returncode != 0, what="claim released")
    metrics = operator.metrics()
    assert re.search(r'smack_state_transitions_total\{from_state="SUCCEEDING",kind="SparkApplication",'
                     r'to_state="COMPLETED"\} [1-9]', metrics), "transition counter"
    assert 'smack_start_latency_seconds_count{kind="SparkApplication"}' in metrics
    assert "COMPLETED" in ns.run("get", "sparkapplication", "pi").stdout


def test_failing_driver_is_retried_with_back_off_and_ends_failed_after_the_limit(ns: Kubectl):
    ns.apply(spark_app("flaky", plays="fail", restart={"type": "OnFailure", "onFailureRetries": 2,
                                                        "onFailureRetryInterval": 1}))
    obj = wait_state(ns, "flaky", "FAILED", timeout=120)
    status = obj["status"]
    assert status["executionAttempts"] == 3 and status["submissionAttempts"] == 3
    assert history(obj).count("PENDING_RERUN") == 2
    assert status["applicationState"]["errorMessage"] == (
        "driver failed: Error (exit code 1): simulated driver failure (kwok stage spark-driver-fail)")
    # Linear back-off, read from the status timestamps (whole seconds): the n-th rerun waits n x 1 s.
    entries = [(h["state"], datetime.fromisoformat(h["time"])) for h in status["stateHistory"]]
    waits = [(b[1] - a[1]).total_seconds() for a, b in zip(entries, entries[1:], strict=False)
             if (a[0], b[0]) == ("FAILING", "PENDING_RERUN")]
    assert len(waits) == 2 and waits[0] >= 0 and waits[1] >= 1, waits
    # Each attempt had its own submission; every old driver was deleted before the next was created.
    pods = drivers(ns, "flaky")
    assert [p["metadata"]["name"] for p in pods] == [status["driverInfo"]["podName"]]
    events = ns.json("get", "events", "--field-selector", "involvedObject.name=flaky")["items"]
    assert {e["reason"] for e in events if e["type"] == "Warning"} >= {"Failing", "Failed"}


def test_driver_that_never_starts_times_out_with_the_reason(ns: Kubectl):
    ns.apply(spark_app("stuck", plays="hang", timeouts={"driverStartSeconds": 3}))
    obj = wait_state(ns, "stuck", "FAILED")
    message = obj["status"]["applicationState"]["errorMessage"]
    assert message.startswith("driver did not start within 3s: ImagePullBackOff: Back-off pulling image"), message
    assert history(obj)[-2:] == ["FAILING", "FAILED"]
    wait_for(lambda: not drivers(ns, "stuck"), what="the stuck driver deleted")


def test_operator_killed_around_driver_creation_never_creates_a_second_driver(ns: Kubectl, operator: OperatorProcess):
    """The submission ID is written to status before the driver is created, and the driver's name
    derives from it. The test rewinds the status to what a killed operator leaves behind — the
    submission ID fenced, state still NEW — once with the driver already created (killed after
    creation) and once without it (killed before creation); the restarted operator must reuse the
    ID: the same driver, exactly one."""
    ns.apply(spark_app("once", plays="hang", timeouts={"driverStartSeconds": 600}))
    obj = wait_state(ns, "once", "SUBMITTED")
    sid, name = obj["status"]["submissionId"], obj["status"]["driverInfo"]["podName"]
    rewind = {"status": {"applicationState": {"state": "NEW"}, "executionAttempts": 0, "driverInfo": None,
                         "stateHistory": [obj["status"]["stateHistory"][0]]}}

    try:
        for created in (True, False):
            operator.kill()
            if not created:
                ns.run("delete", "pod", name, "--wait=true")
            ns.run("patch", "sparkapplication", "once", "--subresource=status", "--type=merge", "-p",
                   json.dumps(rewind))
            operator.start()
            obj = wait_state(ns, "once", "SUBMITTED")
            assert obj["status"]["submissionId"] == sid
            assert obj["status"]["submissionAttempts"] == 1
            assert [p["metadata"]["name"] for p in drivers(ns, "once")] == [name]
    finally:
        if operator.proc.poll() is not None:
            operator.start()


def test_schedule_creates_runs_and_forbid_skips_while_one_is_active(ns: Kubectl):
    """Runs are due each minute; to avoid waiting for the clock the test moves ``status.lastRun``
    back, which makes the run after it due at once (as after an operator outage)."""
    template = yaml.safe_load(spark_app("x", plays="hang", timeouts={"driverStartSeconds": 600}))["spec"]
    ns.apply(yaml.safe_dump({"apiVersion": "spark.smack.dev/v1alpha1", "kind": "ScheduledSparkApplication",
                             "metadata": {"name": "nightly"},
                             "spec": {"schedule": "*/1 * * * *", "concurrencyPolicy": "Forbid",
                                      "template": template}}))
    wait_for(lambda: ns.json("get", "scheduledsparkapplication", "nightly").get("status", {}).get("nextRun"),
             what="next run computed")

    def runs() -> list[dict]:
        return ns.json("get", "sparkapplications", "-l", "spark.smack.dev/scheduled-app=nightly")["items"]

    def rewind() -> None:
        ns.run("patch", "scheduledsparkapplication", "nightly", "--subresource=status", "--type=merge", "-p",
               '{"status":{"lastRun":"2020-01-01T00:00:00Z"}}')

    rewind()
    (first,) = wait_for(runs, what="a first run")
    wait_state(ns, first["metadata"]["name"], "SUBMITTED")
    assert first["metadata"]["ownerReferences"][0]["name"] == "nightly"

    rewind()  # due again while the first run is active: Forbid skips it
    status = wait_for(lambda: (s := ns.json("get", "scheduledsparkapplication", "nightly")["status"])
                      .get("skippedRuns", 0) >= 1 and s, what="a skipped run")
    assert [r["metadata"]["name"] for r in runs()] == [first["metadata"]["name"]]
    assert status["lastRunName"] == first["metadata"]["name"]
    assert "RunSkipped" in {e["reason"] for e in ns.json("get", "events")["items"]}

    ns.run("patch", "scheduledsparkapplication", "nightly", "--type=merge", "-p",
           '{"spec":{"concurrencyPolicy":"Allow"}}')
    rewind()  # Allow: a second run starts beside the first
    wait_for(lambda: len(runs()) == 2, what="a second run")


def cassandra(name: str, size: int, cpu: str) -> str:
    return yaml.safe_dump({"apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter",
                           "metadata": {"name": name},
                           "spec": {"clusterName": name, "size": size, "resources": {"requests": {
                               "cpu": cpu, "memory": "1Gi"}}, "storage": {"size": "1Gi"}}})


def test_guaranteed_cassandra_scale_up_preempts_a_running_application_of_another_tenant(
        kube: Kubectl, ns: Kubectl, tenants):  # noqa: F811 - the fixture
    """A CassandraDatacenter grows into capacity a batch tenant's application borrowed; once its
    tenant has a guarantee, the meta-controller preempts the application, the Spark operator stops
    it and queues it again, and the datacenter gets its nodes."""
    batch = Kubectl(kube.kubeconfig, f"{ns.namespace}-batch")
    kube.run("create", "namespace", batch.namespace)
    try:
        ns.apply(cassandra("payments", size=3, cpu="4"))  # one node per rack, one rack per zone
        wait_condition(ns, "cassandradatacenter", "payments", "Ready", "True", timeout=120)
        tenants({"namespaces": [batch.namespace], "limit": {"cpu": "48"}})
        # A driver and seven executors of 4 CPU take 32 of the 36 CPU the datacenter leaves.
        batch.apply(spark_app("etl", restart={"type": "OnFailure"},
                              **{"driver": {"cores": 4, "memory": "1g"},
                                 "executor": {"cores": 4, "memory": "1g", "instances": 7}}))
        wait_state(batch, "etl", "RUNNING", timeout=120)

        tenants({"namespaces": [ns.namespace], "guarantee": {"cpu": "24", "memory": "16Gi", "pods": "10"}})
        ns.run("patch", "cassandradatacenter", "payments", "--type=merge", "-p", '{"spec":{"size":6}}')

        # The application is stopped (its driver deleted) and queued again per its restart policy.
        obj = wait_state(batch, "etl", "PENDING_RERUN")
        assert obj["status"]["applicationState"]["errorMessage"].startswith(
            f"preempted: preempted to make room for {ns.namespace}/payments")
        wait_for(lambda: not drivers(batch, "etl"), what="the preempted driver deleted")
        wait_for(lambda: ns.json("get", "cassandradatacenter", "payments")["status"].get("ready") == 6,
                 timeout=180, what="six Cassandra nodes up and normal")
        claim = batch.json("get", "serviceclaim", "etl")
        assert condition(claim, "Evicted")["status"] == "True"
        # The capacity went to the guaranteed service; the application waits for room again.
        assert batch.json("get", "sparkapplication", "etl")["status"]["applicationState"]["state"] == "PENDING_RERUN"
    finally:
        kube.run("delete", "namespace", batch.namespace, "--wait=false", check=False)


@pytest.mark.parametrize("change, message", [
    ({"type": "Java", "mainClass": None}, r"spec.mainClass: Required value: mainClass is required for a Java "
                                          r"application"),
    ({"driver": {"memory": "2x"}}, r"spec.driver.memory: Invalid value: .*must be a Spark memory size: a number "
                                   r"with an optional unit k, m, g, t or p \(e.g. 512m, 2g\), got: 2x"),
    ({"dynamicAllocation": {"enabled": True, "minExecutors": 5, "maxExecutors": 2}},
     r"spec.dynamicAllocation.minExecutors: Invalid value: .*minExecutors must not exceed maxExecutors"),
    ({"sparkConf": {"spark.kubernetes.driver.pod.name": "mine"}},
     r"spec.sparkConf: Forbidden: spark.kubernetes.driver.pod.name cannot be set: it is derived from the "
     r"submission ID"),
    ({"type": "Python", "mainClass": None}, r"spec.mainApplicationFile: Invalid value: .*mainApplicationFile of a "
                                            r"Python application must be a .py file"),
    ({"restartPolicy": {"type": "Sometimes"}}, r'spec.restartPolicy.type: Unsupported value: "Sometimes": '
                                                r'supported values: "Never", "OnFailure", "Always"'),
])
def test_invalid_application_is_refused_with_the_field_and_what_is_allowed(ns: Kubectl, change: dict, message: str):
    manifest = yaml.safe_load(spark_app("bad"))
    for key, value in change.items():
        if value is None:
            manifest["spec"].pop(key)
        elif isinstance(value, dict) and isinstance(manifest["spec"].get(key), dict):
            manifest["spec"][key] |= value
        else:
            manifest["spec"][key] = value
    result = ns.apply(yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0 and re.search(message, result.stderr), result.stderr


def test_invalid_schedule_and_over_limit_application_are_refused(ns: Kubectl, tenants):  # noqa: F811
    template = yaml.safe_load(spark_app("x"))["spec"]
    result = ns.apply(yaml.safe_dump({"apiVersion": "spark.smack.dev/v1alpha1", "kind": "ScheduledSparkApplication",
                                      "metadata": {"name": "bad"},
                                      "spec": {"schedule": "61 * * * *", "template": template}}), check=False)
    assert result.returncode != 0
    assert re.search(r"spec.schedule: Invalid value: .*must be a cron schedule of five fields .*got: 61 \* \* \* \*",
                     result.stderr), result.stderr

    team = tenants({"namespaces": [ns.namespace], "limit": {"cpu": "4"}})
    big = spark_app(f"big-{uuid.uuid4().hex[:4]}", **{"driver": {"cores": 2}, "executor": {"cores": 2,
                                                                                          "instances": 2}})
    result = ns.apply(big, check=False)
    assert result.returncode != 0
    assert re.search(rf"spec: needs cpu 6 in all, above the limit of tenant {team} \(cpu 4\)", result.stderr), \
        result.stderr


def test_suspend_stops_the_driver_and_releases_the_claim_then_resumes(ns: Kubectl):
    ns.apply(spark_app("pause"))
    wait_state(ns, "pause", "RUNNING")
    ns.run("patch", "sparkapplication", "pause", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_state(ns, "pause", "SUSPENDED")
    assert not drivers(ns, "pause")
    assert ns.run("get", "serviceclaim", "pause", check=False).returncode != 0
    ns.run("patch", "sparkapplication", "pause", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    obj = wait_state(ns, "pause", "RUNNING")
    assert history(obj)[-4:] == ["SUSPENDED", "RESUMING", "SUBMITTED", "RUNNING"]
    assert obj["status"]["submissionAttempts"] == 2
