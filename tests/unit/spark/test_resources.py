"""Spark builders, API models, cron schedules and schedule planning, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from pydantic import ValidationError

from operators.scheduling.claims import Grant
from operators.sdk.apply import merge_patch
from operators.spark.api import ScheduledSparkApplicationSpec, ScheduledSparkApplicationStatus, memory_bytes
from operators.spark.cron import Schedule
from operators.spark.resources import (
    Application,
    Submission,
    claim_spec,
    driver_pod,
    properties_text,
    spark_properties,
    submission_objects,
)
from operators.spark.schedule import RunView, plan

SID = "c607d4c6-299d-438d-8c9b-bde6b056ad7f"


def app(**spec) -> Application:
    return Application.from_body({"metadata": {"name": "pi", "namespace": "ns", "uid": "u-1"}, "spec": {
        "type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi",
        "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar", "arguments": ["1000"], **spec}})


def test_driver_pod_runs_the_spark_driver_entrypoint_on_the_granted_node():
    a, sub = app(driver={"coreRequest": "500m", "memory": "512m", "labels": {"team": "x"}}), Submission("pi", SID)
    pod = driver_pod(a, sub, Grant(1, ("node-1",)))
    assert pod["metadata"]["name"] == "pi-c607d4c6-driver"
    container = pod["spec"]["containers"][0]
    assert container["name"] == "spark-kubernetes-driver"
    assert container["args"] == ["driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class",
                                 "org.apache.spark.examples.SparkPi",
                                 "local:///opt/spark/examples/jars/spark-examples.jar", "1000"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "896Mi"}, "limits": {"memory": "896Mi"}}
    assert {"name": "SPARK_DRIVER_BIND_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in \
        container["env"]
    labels = pod["metadata"]["labels"]
    assert labels["spark-role"] == "driver" and labels["spark-app-selector"] == "spark-c607d4c6299d438d8c9bbde6b056ad7f"
    assert labels["scheduling.smack.dev/claim"] == "pi" and labels["team"] == "x"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"  # the exit reason status shows
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["node-1"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "SparkApplication"


def test_python_driver_runs_the_python_runner():
    a = Application.from_body({"metadata": {"name": "py", "namespace": "ns", "uid": "u"}, "spec": {
        "type": "Python", "mainApplicationFile": "local:///opt/spark/examples/src/main/python/pi.py"}})
    args = driver_pod(a, Submission("py", SID), None)["spec"]["containers"][0]["args"]
    assert args[3:5] == ["--class", "org.apache.spark.deploy.PythonRunner"]
    # Non-JVM overhead: 40% of 1g.
    assert driver_pod(a, Submission("py", SID), None)["spec"]["containers"][0]["resources"]["requests"][
        "memory"] == "1434Mi"


def test_properties_are_what_spark_submit_would_set_plus_the_users():
    a = app(sparkConf={"spark.eventLog.enabled": "false"}, dynamicAllocation={
        "enabled": True, "minExecutors": 2, "maxExecutors": 10}, deps={"jars": ["local:///x.jar"]})
    conf = spark_properties(a, Submission("pi", SID), executors=6, submitted_ms=1)
    assert conf["spark.kubernetes.driver.pod.name"] == "pi-c607d4c6-driver"
    assert conf["spark.kubernetes.executor.podNamePrefix"] == "pi-c607d4c6"
    assert conf["spark.driver.host"] == "pi-c607d4c6-driver-svc.ns.svc"
    assert conf["spark.app.id"] == "spark-c607d4c6299d438d8c9bbde6b056ad7f"
    assert conf["spark.dynamicAllocation.maxExecutors"] == "6"  # the admitted cap, not the asked 10
    assert conf["spark.jars"] == "local:///x.jar,local:///opt/spark/examples/jars/spark-examples.jar"
    assert conf["spark.kubernetes.executor.label.scheduling.smack.dev/pod-set"] == "executor"
    assert conf["spark.eventLog.enabled"] == "false"
    assert "spark.executor.instances" not in conf
    assert properties_text({"a:b=c": "x\ny"}) == "a\\:b\\=c=x\\ny\n"


def test_submission_objects_and_claim_gang():
    a = app(uiService=True, executor={"instances": 3, "cores": 2, "memory": "2g"})
    objects = submission_objects(a, Submission("pi", SID), {"executor": Grant(3, ("n1", "n2"))}, 1)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "pi-c607d4c6-driver-conf"), ("Service", "pi-c607d4c6-driver-svc"),
        ("Service", "pi-c607d4c6-ui-svc"), ("Pod", "pi-c607d4c6-driver")]
    template = yaml.safe_load(objects[0]["data"]["executor-pod-template.yaml"])
    assert template["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["n1", "n2"]
    claim = claim_spec(a.spec)
    assert claim.preemptible
    driver, executor = claim.pod_sets
    assert (driver.count, executor.count, executor.min_count) == (1, 3, 3)
    assert executor.requests.wire() == {"cpu": "2", "memory": "2432Mi"}
    elastic = claim_spec(app(dynamicAllocation={"enabled": True, "minExecutors": 1, "maxExecutors": 4}).spec)
    assert (elastic.pod_sets[1].count, elastic.pod_sets[1].min_count) == (4, 1)


def test_long_application_names_keep_service_names_within_63_characters():
    sub = Submission("a" * 200, SID)
    assert len(sub.headless_service) <= 63 and sub.headless_service.endswith("-c607d4c6-driver-svc")


@pytest.mark.parametrize("spec, message", [
    ({"type": "Scala"}, "mainClass is required for a Scala application"),
    ({"type": "Python", "mainApplicationFile": "x.jar"}, "must be a .py file"),
    ({"type": "Java", "mainClass": "M", "driver": {"memory": "2x"}}, "not a Spark memory size"),
    ({"type": "Java", "mainClass": "M", "dynamicAllocation": {"minExecutors": 3, "maxExecutors": 2}},
     "minExecutors (3) must not exceed maxExecutors (2)"),
    ({"type": "Java", "mainClass": "M", "sparkConf": {"spark.app.id": "x"}}, "spark.app.id"),
])
def test_invalid_specs(spec, message):
    from operators.spark.api import SparkApplicationSpec
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SparkApplicationSpec.model_validate({"mainApplicationFile": "a.jar"} | spec)


def test_memory_strings_as_spark_reads_them():
    assert memory_bytes("512m") == 512 * 2**20 and memory_bytes("2g") == 2 * 2**30
    assert memory_bytes("1024") == 2**30 and memory_bytes("10kb") == 10240 and memory_bytes("7b") == 7


def test_merge_patch_sets_removed_keys_to_null():
    assert merge_patch({"a": 1, "b": {"c": 1, "d": 2}, "e": 1}, {"a": 1, "b": {"c": 2}}) == {
        "e": None, "b": {"c": 2, "d": None}}
    assert merge_patch({"a": 1}, {"a": 1}) == {}


# ---- cron and schedules ----------------------------------------------------------------------

@pytest.mark.parametrize("expr, after, expected", [
    ("*/15 * * * *", datetime(2026, 1, 1, 10, 1), datetime(2026, 1, 1, 10, 15)),
    ("0 9 * * 1-5", datetime(2026, 1, 2, 9, 0), datetime(2026, 1, 5, 9, 0)),  # Friday -> Monday
    ("@monthly", datetime(2026, 1, 15), datetime(2026, 2, 1)),
    ("0 0 13 * 5", datetime(2026, 1, 1), datetime(2026, 1, 2)),  # day 13 OR Friday
    ("30 2 29 2 *", datetime(2026, 1, 1), datetime(2028, 2, 29, 2, 30)),
])
def test_cron_next_run(expr, after, expected):
    assert Schedule.parse(expr).next_after(after) == expected


@pytest.mark.parametrize("expr", ["61 * * * *", "* * *", "*/0 * * * *", "5-1 * * * *", "@often"])
def test_cron_rejects(expr):
    with pytest.raises(ValueError):
        Schedule.parse(expr)


def schedule(policy: str = "Forbid", **fields) -> ScheduledSparkApplicationSpec:
    return ScheduledSparkApplicationSpec.model_validate({
        "schedule": "*/10 * * * *", "concurrencyPolicy": policy, **fields,
        "template": {"type": "Python", "mainApplicationFile": "a.py"}})


NOW = datetime(2026, 1, 1, 12, 25, 30, tzinfo=UTC)
CREATED = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


def test_the_latest_due_run_starts_once_with_a_name_from_its_time():
    d = plan("etl", schedule(), ScheduledSparkApplicationStatus(), [], created=CREATED, now=NOW, generation=1)
    assert d.create == f"etl-{int(datetime(2026, 1, 1, 12, 20, tzinfo=UTC).timestamp())}"
    assert (d.status.last_run, d.status.next_run) == ("2026-01-01T12:20:00Z", "2026-01-01T12:30:00Z")
    assert d.requeue_after == 270
    again = plan("etl", schedule(), d.status, [RunView(d.create, "RUNNING", "t")], created=CREATED, now=NOW,
                 generation=1)
    assert again.create is None


@pytest.mark.parametrize("policy, create, delete", [("Forbid", False, []), ("Allow", True, []),
                                                    ("Replace", True, ["etl-1"])])
def test_concurrency_policy_with_an_active_run(policy, create, delete):
    last = ScheduledSparkApplicationStatus(last_run="2026-01-01T12:10:00Z")
    d = plan("etl", schedule(policy), last, [RunView("etl-1", "RUNNING", "t")], created=CREATED, now=NOW,
             generation=1)
    assert (d.create is not None, d.delete) == (create, delete)
    assert d.status.skipped_runs == (1 if policy == "Forbid" else 0)


def test_history_limits_and_suspend():
    runs = [RunView(f"etl-{i}", state, f"2026-01-01T0{i}:00:00Z")
            for i, state in enumerate(["COMPLETED", "COMPLETED", "FAILED", "FAILED", "COMPLETED"])]
    d = plan("etl", schedule(suspend=True, successfulRunHistoryLimit=2), ScheduledSparkApplicationStatus(), runs,
             created=CREATED, now=NOW, generation=1)
    assert d.create is None and d.status.schedule_state == "Suspended" and d.status.next_run is None
    assert d.status.past_successful_run_names == ["etl-4", "etl-1"]
    assert d.status.past_failed_run_names == ["etl-3"]
    assert sorted(d.delete) == ["etl-0", "etl-2"]
