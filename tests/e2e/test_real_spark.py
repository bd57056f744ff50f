"""Spark on the real nodes: SparkPi with real executors, a failing program retried per its policy,
preemption by a guaranteed Cassandra scale-up of another tenant, and dynamic allocation.

The driver runs the spark-3.5.3 image (images/spark.sh: PyPI's pyspark distribution and a SparkPi
built from images/spark/SparkPi.java); it asks the API server for its executors itself, under the
ServiceAccount ``spark`` of :data:`SPARK_RBAC`. Every application runs in the NodePool ``real``
(examples/real-nodes.yaml: 3 nodes of 2 CPU). Requests are small where capacity is not the point;
where it is (preemption, the dynamic allocation cap), the CPU requests are chosen so that what the
real nodes' 2 CPU each can hold decides, whatever the processes use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Kubectl, OperatorProcess, figure, new_namespace, wait_for
from .test_meta import condition, tenants  # noqa: F401 - tenants is a fixture
from .test_real_services import POOL, STORAGE, ready_unless_crashing

pytestmark = [pytest.mark.e2e, pytest.mark.real]

JAR = "local:///opt/spark/examples/jars/spark-examples_2.12-3.5.3.jar"
DRIVER_CONTAINER = "spark-kubernetes-driver"

SPARK_RBAC = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "spark"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "spark-driver"},
     "rules": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
                "verbs": ["get", "list", "watch", "create", "delete", "deletecollection", "patch", "update"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "spark-driver"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "spark-driver"},
     "subjects": [{"kind": "ServiceAccount", "name": "spark"}]},
]


def spark_pi(name: str, slices: int, *, executors: int = 2, driver_cpu: str = "200m", executor_cpu: str = "200m",
             **spec) -> str:
    """A SparkPi of ``slices`` tasks in the NodePool ``real``; ``spec`` overrides top-level fields."""
    return json.dumps({
        "apiVersion": "spark.smack.dev/v1alpha1", "kind": "SparkApplication", "metadata": {"name": name},
        "spec": {"type": "Scala", "sparkVersion": "3.5.3", "nodePool": POOL,
                 "mainClass": "org.apache.spark.examples.SparkPi", "mainApplicationFile": JAR,
                 "arguments": [str(slices)],
                 "driver": {"cores": 1, "coreRequest": driver_cpu, "memory": "512m", "serviceAccount": "spark"},
                 "executor": {"cores": 1, "coreRequest": executor_cpu, "memory": "512m", "instances": executors}}
        | spec})


def with_rbac(k: Kubectl) -> Kubectl:
    for m in SPARK_RBAC:
        k.apply(json.dumps(m))
    return k


def app_state(k: Kubectl, name: str) -> tuple[dict, str | None]:
    obj = k.json("get", "sparkapplication", name)
    return obj, obj.get("status", {}).get("applicationState", {}).get("state")


def wait_state(k: Kubectl, name: str, states: tuple[str, ...], timeout: float = 600,
               also: Callable[[], None] | None = None) -> dict:
    """The application once in one of ``states``; ``also`` runs on every poll (e.g. to record pods)."""
    def check() -> dict | None:
        if also is not None:
            also()
        obj, state = app_state(k, name)
        return obj if state in states else None
    return wait_for(check, timeout=timeout, interval=1, what=f"SparkApplication {name} in {'/'.join(states)}")


def pods(k: Kubectl, app: str, role: str) -> list[dict]:
    return k.json("get", "pods", "-l", f"spark.smack.dev/app={app},spark-role={role}")["items"]


def driver_log(k: Kubectl, obj: dict) -> str:
    return k.run("logs", obj["status"]["driverInfo"]["podName"], "-c", DRIVER_CONTAINER).stdout


def registered_executors(log: str) -> set[str]:
    """IDs of the executors that registered with the driver (CoarseGrainedSchedulerBackend's log line)."""
    return set(re.findall(r"Registered executor .* with ID (\d+)", log))


def history(obj: dict) -> list[str]:
    return [h["state"] for h in obj["status"]["stateHistory"]]


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    """The operator's current value of the sample ``name`` with ``labels`` (0 when not exported yet)."""
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def events(k: Kubectl, name: str) -> list[dict]:
    return k.json("get", "events", "--field-selector", f"involvedObject.name={name}")["items"]


def test_spark_pi_with_2_real_executors_completes(real_ns: Kubectl, pytestconfig: pytest.Config) -> None:
    """SparkPi with 2 executors: the driver creates them through the API server (owned by its pod,
    spark-role=executor), they register, the job completes, and no executor is left afterwards; the
    driver pod stays (no ttlSecondsAfterFinished)."""
    with_rbac(real_ns).apply(spark_pi("pi", 20))
    seen: dict[str, dict] = {}

    def record() -> None:
        for pod in pods(real_ns, "pi", "executor"):
            seen[pod["metadata"]["name"]] = pod

    obj = wait_state(real_ns, "pi", ("COMPLETED", "FAILED"), also=record)
    log = driver_log(real_ns, obj)
    assert obj["status"]["applicationState"]["state"] == "COMPLETED", log[-4000:]
    assert "Pi is roughly 3.1" in log, log[-4000:]
    # The driver asked the API server for its executors, and each registered back from its own pod.
    executors = registered_executors(log)
    figure(pytestconfig, f"spark: {next(line for line in log.splitlines() if 'Pi is roughly' in line)}; "
                         f"executors registered: {sorted(executors)}")
    assert len(executors) >= 2, log[-4000:]

    (driver,) = pods(real_ns, "pi", "driver")
    assert driver["metadata"]["name"] == obj["status"]["driverInfo"]["podName"]
    assert driver["status"]["phase"] == "Succeeded"  # retained: the spec sets no ttlSecondsAfterFinished
    assert len(seen) >= 2, seen.keys()
    for name, pod in seen.items():
        assert pod["metadata"]["labels"]["spark-role"] == "executor", name
        assert pod["metadata"]["labels"]["spark-app-selector"] == obj["status"]["sparkApplicationId"], name
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Pod", driver["metadata"]["name"], driver["metadata"]["uid"]), name
        assert pod["spec"]["nodeName"] in ("real-a", "real-b", "real-c"), name
    # The driver deletes its executors when it stops (spark.kubernetes.executor.deleteOnTermination).
    wait_for(lambda: not pods(real_ns, "pi", "executor"), timeout=60, what="no executor pod left")


def test_failing_spark_program_is_retried_per_policy_and_ends_failed_with_the_drivers_exit_reason(
        real_ns: Kubectl, operator: OperatorProcess, pytestconfig: pytest.Config) -> None:
    """A main class that does not exist: spark-submit in the driver exits 101. OnFailure with one
    retry after 2 s: two runs, then FAILED with the exit code and the log's error in errorMessage, the
    Failed condition and a Warning event; the rerun is counted."""
    reruns = metric(operator, "smack_spark_reruns_total", cause="failed")
    with_rbac(real_ns)
    real_ns.apply(spark_pi("nope", 2, mainClass="org.apache.spark.examples.NoSuchClass",
                           restartPolicy={"type": "OnFailure", "onFailureRetries": 1, "onFailureRetryInterval": 2}))
    obj = wait_state(real_ns, "nope", ("FAILED", "COMPLETED"))
    status = obj["status"]
    expected = ("driver failed: Error (exit code 101): "
                "Error: Failed to load class org.apache.spark.examples.NoSuchClass.")
    assert status["applicationState"] == {"state": "FAILED", "errorMessage": expected}, status
    # RUNNING shows when an operator pass saw the driver's JVM up before it exited.
    assert [h for h in history(obj) if h != "RUNNING"] == [
        "NEW", "SUBMITTED", "FAILING", "PENDING_RERUN", "SUBMITTED", "FAILING", "FAILED"], history(obj)
    assert status["executionAttempts"] == 2 and status["submissionAttempts"] == 2, status
    assert condition(obj, "Failed")["status"] == "True" and condition(obj, "Failed")["message"] == expected
    # The first run's driver went with its rerun; the last one is kept with its exit state.
    (driver,) = pods(real_ns, "nope", "driver")
    terminated = driver["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 101 and driver["metadata"]["name"] == status["driverInfo"]["podName"]
    warnings = [(e["reason"], e["message"]) for e in events(real_ns, "nope") if e["type"] == "Warning"]
    assert ("Failed", f"FAILING -> FAILED: {expected}") in warnings, warnings
    assert metric(operator, "smack_spark_reruns_total", cause="failed") == reruns + 1
    figure(pytestconfig, "spark failing program: " + ", ".join(f"{h['state']} {h['time'][11:19]}"
                                                             for h in status["stateHistory"]))


def cassandra_dc(name: str, size: int, cpu: str) -> str:
    """A CassandraDatacenter of 5.0.5 nodes (1.5 GiB, heap 768Mi as in the smoke test) in one rack, r1 in
    zone a: every node runs on real-a, so a scale-up needs room there."""
    return json.dumps({
        "apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter", "metadata": {"name": name},
        "spec": {"clusterName": name, "serverVersion": "5.0.5", "size": size, "nodePool": POOL, "storage": STORAGE,
                 "racks": [{"name": "r1", "zone": "zone-a"}],
                 "resources": {"requests": {"cpu": cpu, "memory": "1536Mi"}}, "jvm": {"heapSize": "768Mi"}}})


def cassandra_up(k: Kubectl, name: str, nodes: int) -> dict | None:
    obj = ready_unless_crashing(k, "cassandradatacenter", name, f"cassandra.smack.dev/datacenter={name}")
    return obj if obj and obj["status"].get("ready") == nodes else None


def test_guaranteed_cassandra_scale_up_preempts_a_running_spark_application_of_another_tenant(
        kube: Kubectl, real_ns: Kubectl, operator: OperatorProcess, tenants,  # noqa: F811 - the fixture
        pytestconfig: pytest.Config) -> None:
    """Capacity binds on CPU requests (each real node has 2): a Cassandra node of 0.4 CPU runs on
    real-a; a batch tenant's SparkPi (driver and 2 executors of 1.5 CPU, OnFailure) takes one pod per
    node and leaves 0.1 CPU on real-a. The Cassandra tenant then gets a guarantee and its datacenter
    grows to a second node in zone a, which fits only once the application is gone: the meta-controller
    preempts it, the Spark operator stops its driver and executors and queues it again (PENDING_RERUN,
    the preemption in errorMessage, an event and a metric), the second Cassandra node really starts,
    and the application waits: its gang no longer fits on real-a (Admitted False with the allocator's
    reason)."""
    batch = with_rbac(new_namespace(kube, "real"))
    try:
        real_ns.apply(cassandra_dc("dc1", 1, "400m"))
        wait_for(lambda: cassandra_up(real_ns, "dc1", 1), timeout=900, interval=2, what="dc1 with 1 node up")
        tenants({"namespaces": [batch.namespace], "limit": {"cpu": "5", "memory": "8Gi"}})
        batch.apply(spark_pi("etl", 20000, driver_cpu="1500m", executor_cpu="1500m",
                             restartPolicy={"type": "OnFailure"}))

        def executors_running() -> int:
            return sum(p["status"].get("phase") == "Running" for p in pods(batch, "etl", "executor"))

        wait_for(lambda: app_state(batch, "etl")[1] == "RUNNING" and executors_running() == 2, timeout=600,
                 what="etl RUNNING with its 2 executors")
        hosts = sorted(p["spec"]["nodeName"] for p in pods(batch, "etl", "driver") + pods(batch, "etl", "executor"))
        assert hosts == ["real-a", "real-b", "real-c"], hosts
        preemptions = metric(operator, "smack_spark_preemptions_total", outcome="requeued")
        reruns = metric(operator, "smack_spark_reruns_total", cause="preempted")

        tenants({"namespaces": [real_ns.namespace], "guarantee": {"cpu": "1", "memory": "4Gi", "pods": "4"}})
        real_ns.run("patch", "cassandradatacenter", "dc1", "--type=merge", "-p", '{"spec":{"size":2}}')

        obj = wait_state(batch, "etl", ("PENDING_RERUN", "COMPLETED", "FAILED"))
        message = obj["status"]["applicationState"]["errorMessage"]
        assert obj["status"]["applicationState"]["state"] == "PENDING_RERUN", obj["status"]
        assert message.startswith(f"preempted: preempted to make room for {real_ns.namespace}/dc1"), message
        assert obj["status"]["executionAttempts"] == 1  # a preemption is not the application's failure
        wait_for(lambda: not pods(batch, "etl", "driver") and not pods(batch, "etl", "executor"), timeout=120,
                 what="the preempted driver and its executors deleted")
        infos = [(e["reason"], e["message"]) for e in events(batch, "etl")]
        assert ("PendingRerun", f"RUNNING -> PENDING_RERUN: {message}") in infos, infos
        assert metric(operator, "smack_spark_preemptions_total", outcome="requeued") == preemptions + 1
        assert metric(operator, "smack_spark_reruns_total", cause="preempted") == reruns + 1

        wait_for(lambda: cassandra_up(real_ns, "dc1", 2), timeout=900, interval=2, what="dc1 with 2 nodes up")
        status = real_ns.run("exec", "dc1-r1-0", "-c", "cassandra", "--", "nodetool", "status").stdout
        nodes = [line.split() for line in status.splitlines() if line[:2] in ("UN", "UJ", "UL", "UM", "DN", "DJ")]
        assert len(nodes) == 2 and all(n[0] == "UN" for n in nodes), status
        assert condition(batch.json("get", "serviceclaim", "etl"), "Evicted")["status"] == "True"

        # The capacity went to the guaranteed service: the application waits for room again, and says why.
        obj, state = app_state(batch, "etl")
        admitted = condition(obj, "Admitted")
        assert state == "PENDING_RERUN" and admitted["status"] == "False" and admitted["message"], obj["status"]
        figure(pytestconfig, f"spark preempted: {message}; waiting: {admitted['reason']}: {admitted['message']}")
    finally:
        kube.run("delete", "namespace", batch.namespace, "--wait=false", check=False)
        batch.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
        kube.run("wait", "--for=delete", f"namespace/{batch.namespace}", "--timeout=300s", check=False, timeout=330)


def test_dynamic_allocation_adds_executors_under_load_up_to_what_was_admitted(
        real_ns: Kubectl, pytestconfig: pytest.Config) -> None:
    """minExecutors 1, maxExecutors 4, executors of 1.5 CPU: one fits per real node, so 3 are admitted
    and spark.dynamicAllocation.maxExecutors is 3. Under a backlog of tasks the driver requests more
    executors (ExecutorAllocationManager), more than the minimum register, never above the admitted 3."""
    with_rbac(real_ns).apply(spark_pi("dyn", 5000, executor_cpu="1500m", dynamicAllocation={
        "enabled": True, "minExecutors": 1, "maxExecutors": 4}))
    seen: dict[str, dict] = {}
    most = 0

    def record() -> None:
        nonlocal most
        live = pods(real_ns, "dyn", "executor")
        most = max(most, len(live))
        for pod in live:
            seen[pod["metadata"]["name"]] = pod

    obj = wait_state(real_ns, "dyn", ("COMPLETED", "FAILED"), also=record)
    log = driver_log(real_ns, obj)
    assert obj["status"]["applicationState"]["state"] == "COMPLETED", log[-4000:]
    admitted = obj["status"]["executors"]
    assert admitted == 3, obj["status"]
    props = real_ns.json("get", "configmap", f"{obj['status']['driverInfo']['podName']}-conf")["data"]
    assert "spark.dynamicAllocation.maxExecutors=3\n" in props["spark.properties"]
    requests = re.findall(r"Requesting (\d+) new executors? because tasks are backlogged", log)
    executors = registered_executors(log)
    figure(pytestconfig, f"spark dynamic allocation: requests {requests}, registered {sorted(executors)}, "
                         f"most executor pods at once {most}, admitted {admitted}; "
                         + next((line for line in log.splitlines() if "Job 0 finished" in line), "?"))
    assert requests, log[-4000:]
    assert 1 < len(executors) <= admitted, log[-4000:]
    assert len(seen) <= admitted and most <= admitted, sorted(seen)
