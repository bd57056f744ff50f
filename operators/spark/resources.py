"""Pure builders: a SparkApplication and its submission in, the objects that run its driver out.

The operator submits without spark-submit (no JVM per application): it writes what
spark-submit in cluster mode would create — the driver's properties in a ConfigMap, the
driver's headless Service, and the driver pod running the Spark image's entrypoint — and the
driver then asks Kubernetes for its executors as Spark does. Sources (Apache Spark 3.5,
resource-managers/kubernetes/core/src/main/scala/org/apache/spark/deploy/k8s/):

* ``features/DriverCommandFeatureStep.scala``: the driver container's args are
  ``driver --properties-file /opt/spark/conf/spark.properties --class <mainClass> <resource> <args>``;
  a Python application runs ``org.apache.spark.deploy.PythonRunner`` with the .py file as resource;
* ``features/BasicDriverFeatureStep.scala``: container ``spark-kubernetes-driver``, ports
  driver-rpc-port 7078, blockmanager 7079, spark-ui 4040, ``SPARK_DRIVER_BIND_ADDRESS`` from the
  pod IP, memory request = limit = memory + overhead (overhead: max(factor × memory, 384 MiB),
  factor 0.1, or 0.4 for non-JVM applications), cpu request = cores or request.cores;
* ``features/DriverServiceFeatureStep.scala``: a headless Service ``<prefix>-driver-svc`` and
  ``spark.driver.host`` = ``<service>.<namespace>.svc``, with the driver and block manager ports;
* ``Constants.scala``: labels ``spark-app-selector`` (the app id), ``spark-role`` (driver,
  executor), the conf volume at ``/opt/spark/conf`` holding ``spark.properties``;
* ``KubernetesConf.scala``: app id ``spark-<uuid without dashes>``; executors are named
  ``<spark.kubernetes.executor.podNamePrefix>-exec-<n>``;
* ``submit/KubernetesClientApplication.scala``: spark-submit sets ``spark.kubernetes.submitInDriver``,
  ``spark.app.id`` and ``spark.kubernetes.driver.pod.name`` before the driver starts.

Names for application ``pi`` and submission ``3f2a…``: prefix ``pi-3f2a1b2c``; driver pod
``pi-3f2a1b2c-driver``, Service ``pi-3f2a1b2c-driver-svc``, ConfigMap ``pi-3f2a1b2c-driver-conf``,
UI Service ``pi-3f2a1b2c-ui-svc``, executors ``pi-3f2a1b2c-exec-<n>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..scheduling.api import PodRequests, PodSet, ServiceClaimSpec
from ..scheduling.claims import CLAIM_LABEL, POD_SET_LABEL, Grant, claim_manifest, pod_scheduling
from ..sdk import properties
from ..sdk.builders import ServiceObject, service
from ..sdk.objects import object_meta, standard_labels
from .api import GROUP, SPARK_APPLICATION, PodSpecBase, SparkApplicationSpec, memory_bytes

APP_LABEL = f"{GROUP}/app"  # the owning SparkApplication, on every child (wakes its reconcile)
SUBMISSION_LABEL = f"{GROUP}/submission-id"
SCHEDULED_APP_LABEL = f"{GROUP}/scheduled-app"  # a run of a ScheduledSparkApplication
SPARK_ROLE_LABEL = "spark-role"
SPARK_APP_ID_LABEL = "spark-app-selector"
SPARK_APP_NAME_LABEL = "spark-app-name"

CONF_DIR = "/opt/spark/conf"
PROPERTIES_FILE = "spark.properties"
EXECUTOR_TEMPLATE_FILE = "executor-pod-template.yaml"
DRIVER_CONTAINER = "spark-kubernetes-driver"
DRIVER_PORT, BLOCK_MANAGER_PORT, UI_PORT = 7078, 7079, 4040
PYTHON_RUNNER = "org.apache.spark.deploy.PythonRunner"
MIN_OVERHEAD = 384 * 2**20
MASTER = "k8s://https://kubernetes.default.svc:443"
POD_SET_FIELDS = {"driver": "spec.driver", "executor": "spec.executor"}


@dataclass(frozen=True)
class Application(ServiceObject[SparkApplicationSpec]):
    """A SparkApplication as the builders see it: identity plus the validated spec."""

    RESOURCE = SPARK_APPLICATION
    SPEC = SparkApplicationSpec

    def labels(self, component: str) -> dict[str, str]:
        return standard_labels(name="spark", instance=self.name, component=component,
                               version=self.spec.spark_version) | {APP_LABEL: self.name}


@dataclass(frozen=True)
class Submission:
    """The names one submission's objects take, all derived from its ID (a UUID)."""

    app: str
    submission_id: str

    @property
    def prefix(self) -> str:
        # Services are DNS-1035 labels of at most 63 characters: "<prefix>-driver-svc".
        return f"{self.app[:40].rstrip('-.')}-{self.submission_id.replace('-', '')[:8]}"

    @property
    def app_id(self) -> str:
        return f"spark-{self.submission_id.replace('-', '')}"

    @property
    def driver_pod(self) -> str:
        return f"{self.prefix}-driver"

    @property
    def headless_service(self) -> str:
        return f"{self.prefix}-driver-svc"

    @property
    def ui_service(self) -> str:
        return f"{self.prefix}-ui-svc"

    @property
    def config_map(self) -> str:
        return f"{self.prefix}-driver-conf"


def pod_memory(role: PodSpecBase, python: bool) -> int:
    """Bytes a driver or executor pod requests: heap plus overhead, as Spark sizes its pods."""
    heap = memory_bytes(role.memory)
    if role.memory_overhead is not None:
        return heap + memory_bytes(role.memory_overhead)
    return heap + max(int(heap * (0.4 if python else 0.1)), MIN_OVERHEAD)


def _mebibytes(amount: int) -> str:
    return f"{-(-amount // 2**20)}Mi"


def pod_requests(role: PodSpecBase, python: bool) -> dict[str, str]:
    return {"cpu": role.core_request or str(role.cores), "memory": _mebibytes(pod_memory(role, python))}


def claim_spec(spec: SparkApplicationSpec) -> ServiceClaimSpec:
    """The gang: one driver and the minimum of executors, all or nothing; executors above the
    minimum (dynamic allocation's maxExecutors) are admitted when there is room."""
    python = spec.type == "Python"
    low, high = spec.executors
    return ServiceClaimSpec(
        pod_sets=[PodSet(name="driver", count=1, node_pool=spec.node_pool,
                         requests=PodRequests(**pod_requests(spec.driver, python))),
                  PodSet(name="executor", count=high, min_count=low, node_pool=spec.node_pool,
                         requests=PodRequests(**pod_requests(spec.executor, python)))],
        priority=spec.priority, preemptible=spec.preemptible)


def service_claim(app: Application) -> dict[str, Any]:
    return claim_manifest(name=app.name, namespace=app.namespace, labels=app.labels("claim"), owner=app.owner,
                          spec=claim_spec(app.spec))


def spark_properties(app: Application, sub: Submission, executors: int, submitted_ms: int) -> dict[str, str]:
    """The Spark properties the driver reads: the user's sparkConf plus what spark-submit sets.

    ``executors`` is the admitted number: spark.executor.instances, or the dynamic allocation cap.
    """
    spec, python = app.spec, app.spec.type == "Python"
    conf = dict(spec.spark_conf) | {
        "spark.master": MASTER,
        "spark.submit.deployMode": "cluster",
        "spark.kubernetes.submitInDriver": "true",
        "spark.app.name": app.name,
        "spark.app.id": sub.app_id,
        "spark.app.submitTime": str(submitted_ms),
        "spark.kubernetes.namespace": app.namespace,
        "spark.kubernetes.driver.pod.name": sub.driver_pod,
        "spark.kubernetes.executor.podNamePrefix": sub.prefix,
        "spark.kubernetes.container.image": spec.image_ref,
        "spark.kubernetes.resource.type": "python" if python else "java",
        "spark.driver.host": f"{sub.headless_service}.{app.namespace}.svc",
        "spark.driver.port": str(DRIVER_PORT),
        "spark.driver.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.ui.port": str(UI_PORT),
        "spark.kubernetes.executor.podTemplateFile": f"{CONF_DIR}/{EXECUTOR_TEMPLATE_FILE}",
    }
    for role, role_spec in (("driver", spec.driver), ("executor", spec.executor)):
        conf[f"spark.{role}.cores"] = str(role_spec.cores)
        conf[f"spark.{role}.memory"] = role_spec.memory
        if role_spec.memory_overhead:
            conf[f"spark.{role}.memoryOverhead"] = role_spec.memory_overhead
        if role_spec.core_request:
            conf[f"spark.kubernetes.{role}.request.cores"] = role_spec.core_request
    if spec.image_pull_policy:
        conf["spark.kubernetes.container.image.pullPolicy"] = spec.image_pull_policy
    if spec.driver.service_account:
        conf["spark.kubernetes.authenticate.driver.serviceAccountName"] = spec.driver.service_account
    if spec.dynamic_allocation.enabled:
        conf |= {"spark.dynamicAllocation.enabled": "true",
                 "spark.dynamicAllocation.minExecutors": str(spec.dynamic_allocation.min_executors),
                 "spark.dynamicAllocation.maxExecutors": str(executors),
                 "spark.dynamicAllocation.shuffleTracking.enabled":
                     str(spec.dynamic_allocation.shuffle_tracking_enabled).lower()}
    else:
        conf["spark.executor.instances"] = str(executors)
    jars = list(spec.deps.jars) + ([] if python else [spec.main_application_file])
    for key, values in (("spark.jars", jars), ("spark.files", spec.deps.files),
                        ("spark.submit.pyFiles", spec.deps.py_files), ("spark.jars.packages", spec.deps.packages)):
        if values:
            conf[key] = ",".join(values)
    for key, value in (executor_labels(app, sub) | spec.executor.labels).items():
        conf[f"spark.kubernetes.executor.label.{key}"] = value
    for key, value in spec.executor.annotations.items():
        conf[f"spark.kubernetes.executor.annotation.{key}"] = value
    return dict(sorted(conf.items()))


def executor_labels(app: Application, sub: Submission) -> dict[str, str]:
    """Labels the driver puts on its executors (besides Spark's own): the claim's and the app's."""
    return {APP_LABEL: app.name, SUBMISSION_LABEL: sub.submission_id, CLAIM_LABEL: app.name,
            POD_SET_LABEL: "executor"}


def properties_text(conf: dict[str, str]) -> str:
    """``spark.properties``: one ``key=value`` line per property, escaped as java.util.Properties reads it
    (:mod:`operators.sdk.properties`), so no value can start another key."""
    return properties.dumps(conf)


def executor_pod_template(app: Application, sub: Submission, grant: Grant | None) -> dict[str, Any]:
    """The executor pod template (spark.kubernetes.executor.podTemplateFile): the granted nodes."""
    selector = {SPARK_APP_ID_LABEL: sub.app_id, SPARK_ROLE_LABEL: "executor"}
    spec = pod_scheduling(grant, [], selector) if grant and grant.nodes else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": executor_labels(app, sub)}, "spec": spec}


def config_map(app: Application, sub: Submission, executors: int, grant: Grant | None,
               submitted_ms: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": object_meta(name=sub.config_map, namespace=app.namespace, labels=_driver_labels(app, sub),
                                    owner=app.owner),
            "data": {PROPERTIES_FILE: properties_text(spark_properties(app, sub, executors, submitted_ms)),
                     EXECUTOR_TEMPLATE_FILE: yaml.safe_dump(executor_pod_template(app, sub, grant), sort_keys=False)}}


def _driver_labels(app: Application, sub: Submission) -> dict[str, str]:
    return app.labels("driver") | {SUBMISSION_LABEL: sub.submission_id, SPARK_APP_ID_LABEL: sub.app_id,
                                   SPARK_APP_NAME_LABEL: app.name[:63].rstrip("-."), SPARK_ROLE_LABEL: "driver"}


def driver_args(spec: SparkApplicationSpec) -> list[str]:
    """The driver container's args: the Spark image's entrypoint.sh runs ``driver`` mode with them."""
    main_class = PYTHON_RUNNER if spec.type == "Python" else spec.main_class
    return ["driver", "--properties-file", f"{CONF_DIR}/{PROPERTIES_FILE}", "--class", main_class,
            spec.main_application_file, *spec.arguments]


def driver_pod(app: Application, sub: Submission, grant: Grant | None) -> dict[str, Any]:
    """The driver pod, on the nodes the claim's driver pod set was granted."""
    spec, python = app.spec, app.spec.type == "Python"
    requests = pod_requests(spec.driver, python)
    labels = spec.driver.labels | _driver_labels(app, sub) | {CLAIM_LABEL: app.name, POD_SET_LABEL: "driver"}
    local_dir = "/var/data/spark-local"
    env = [
        {"name": "SPARK_DRIVER_BIND_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SPARK_APPLICATION_ID", "value": sub.app_id},
        {"name": "SPARK_CONF_DIR", "value": CONF_DIR},
        {"name": "SPARK_LOCAL_DIRS", "value": local_dir},
    ]
    container: dict[str, Any] = {
        "name": DRIVER_CONTAINER,
        "image": spec.image_ref,
        "args": driver_args(spec),
        "env": env,
        "ports": [{"name": "driver-rpc-port", "containerPort": DRIVER_PORT, "protocol": "TCP"},
                  {"name": "blockmanager", "containerPort": BLOCK_MANAGER_PORT, "protocol": "TCP"},
                  {"name": "spark-ui", "containerPort": UI_PORT, "protocol": "TCP"}],
        "resources": {"requests": requests, "limits": {"memory": requests["memory"]}},
        # A failed driver's log tail becomes its terminated state's message: the exit reason status shows.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "spark-conf-volume-driver", "mountPath": CONF_DIR},
                         {"name": "spark-local-dir-1", "mountPath": local_dir}],
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": "spark-conf-volume-driver", "configMap": {"name": sub.config_map}},
                    {"name": "spark-local-dir-1", "emptyDir": {}}],
    }
    if spec.driver.service_account:
        pod_spec["serviceAccountName"] = spec.driver.service_account
    if grant and grant.nodes:
        pod_spec |= pod_scheduling(grant, [], {SPARK_APP_ID_LABEL: sub.app_id, SPARK_ROLE_LABEL: "driver"})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": object_meta(name=sub.driver_pod, namespace=app.namespace, labels=labels, owner=app.owner,
                                    annotations=spec.driver.annotations or None),
            "spec": pod_spec}


def headless_service(app: Application, sub: Submission) -> dict[str, Any]:
    """The driver's stable name for its executors: spark.driver.host."""
    return service(name=sub.headless_service, namespace=app.namespace, labels=_driver_labels(app, sub),
                   owner=app.owner, selector={SPARK_APP_ID_LABEL: sub.app_id, SPARK_ROLE_LABEL: "driver"},
                   ports=[("driver-rpc-port", DRIVER_PORT), ("blockmanager", BLOCK_MANAGER_PORT),
                          ("spark-ui", UI_PORT)], headless=True)


def ui_service(app: Application, sub: Submission) -> dict[str, Any]:
    """The Spark UI of the running driver, for ``kubectl port-forward`` or an Ingress."""
    return service(name=sub.ui_service, namespace=app.namespace, labels=_driver_labels(app, sub), owner=app.owner,
                   selector={SPARK_APP_ID_LABEL: sub.app_id, SPARK_ROLE_LABEL: "driver"},
                   ports=[("spark-ui", UI_PORT)])


def submission_objects(app: Application, sub: Submission, grants: dict[str, Grant],
                       submitted_ms: int) -> list[dict[str, Any]]:
    """Everything one submission creates, the driver pod last (it mounts the ConfigMap)."""
    executors = grants["executor"].count if "executor" in grants else app.spec.executors[0]
    objects = [config_map(app, sub, executors, grants.get("executor"), submitted_ms), headless_service(app, sub)]
    if app.spec.ui_service:
        objects.append(ui_service(app, sub))
    return objects + [driver_pod(app, sub, grants.get("driver"))]


def submission_children(sub: Submission) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of a submission's objects, the driver pod first: what cleanup deletes.
    Executors are deleted by label (and garbage-collected with the driver, their owner in Spark)."""
    return [("v1", "Pod", sub.driver_pod), ("v1", "Service", sub.headless_service),
            ("v1", "Service", sub.ui_service), ("v1", "ConfigMap", sub.config_map)]
