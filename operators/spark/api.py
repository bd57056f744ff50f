"""SparkApplication and ScheduledSparkApplication v1alpha1 (group spark.smack.dev).

Field names follow the Kubeflow Spark operator's v1beta2 API where one exists (``type``,
``mainClass``, ``mainApplicationFile``, ``arguments``, ``sparkConf``, ``driver``,
``executor``, ``dynamicAllocation``, ``deps``, ``restartPolicy``, ``schedule``,
``concurrencyPolicy``), and the Apache Spark operator's for timeouts. Sizes are Spark's:
cores are whole numbers, memory is a Spark byte string ("512m", "2g": a number with an optional
unit k, m, g, t or p, optionally followed by b; a bare number is MiB, as Spark reads
``spark.driver.memory``). Sources: Spark docs, "Running Spark on Kubernetes" and "Configuration";
org.apache.spark.network.util.JavaUtils.byteStringAs.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..sdk import properties
from ..sdk.conditions import Conditions
from ..sdk.crd import CustomResource, PrinterColumn
from ..sdk.models import Model, PositiveQuantity, cel, validations
from ..sdk.names import image_field, label_value_problem, name_length_rule, object_name, qualified_name_problem
from .cron import CRON_PATTERN, Schedule

GROUP = "spark.smack.dev"
DEFAULT_SPARK_VERSION = "3.5.3"

# A Spark memory string: a number above zero and an optional binary unit (k, m, g, t, p, optionally
# followed by b).
MEMORY_PATTERN = r"^0*[1-9][0-9]{0,8}([kKmMgGtTpP][bB]?|[bB])?$"
_UNITS = {"": 2**20, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def memory_bytes(value: str) -> int:
    """Bytes of a Spark memory string: "512m" -> 536870912; a bare number is MiB, as Spark reads
    spark.driver.memory and spark.executor.memory. Raises ValueError for anything else."""
    match = re.fullmatch(r"([0-9]+)([kmgtp]?)(b?)", value.lower())
    if match is None:
        raise ValueError(f"{value!r} is not a Spark memory size (e.g. 512m, 2g)")
    digits, unit, b = match.groups()
    return int(digits) * (_UNITS[unit] if unit or not b else 1)


Memory = Annotated[str, Field(max_length=16, json_schema_extra=validations(cel(
    f"self.matches('{MEMORY_PATTERN}')",
    message_expression="'must be a Spark memory size: a number with an optional unit k, m, g, t or p "
                       "(e.g. 512m, 2g), got: ' + self",
    reason="FieldValueInvalid")))]

# sparkConf keys the operator sets itself, with where each comes from.
OWNED_CONF_KEYS: dict[str, str] = {
    "spark.master": "the operator submits to this Kubernetes cluster",
    "spark.submit.deployMode": "applications run in cluster mode",
    "spark.app.id": "it is derived from the submission ID",
    "spark.kubernetes.namespace": "it is the application's namespace",
    "spark.kubernetes.driver.pod.name": "it is derived from the submission ID",
    "spark.kubernetes.executor.podNamePrefix": "it is derived from the submission ID",
    "spark.driver.host": "it is the driver's headless Service",
    "spark.kubernetes.container.image": "it follows spec.image",
    "spark.driver.cores": "it follows spec.driver.cores",
    "spark.driver.memory": "it follows spec.driver.memory",
    "spark.executor.cores": "it follows spec.executor.cores",
    "spark.executor.memory": "it follows spec.executor.memory",
    "spark.executor.instances": "it follows spec.executor.instances and the admission",
    "spark.dynamicAllocation.enabled": "it follows spec.dynamicAllocation",
    "spark.dynamicAllocation.minExecutors": "it follows spec.dynamicAllocation",
    "spark.dynamicAllocation.maxExecutors": "it follows spec.dynamicAllocation and the admission",
}


# sparkConf's size cap, escaped as written (the driver's ConfigMap holds 1 MiB: Kubernetes docs, "ConfigMaps").
CONF_MAX_BYTES = 256 * 1024


class PodSpecBase(Model):
    """What the driver and the executors have in common (Spark's spark.{driver,executor}.* sizes)."""

    cores: Annotated[int, Field(ge=1, le=256, description="CPU cores (spark.<role>.cores).")] = 1
    core_request: Annotated[PositiveQuantity | None, Field(description=(
        "CPU request of the pod, when it should differ from cores (e.g. 500m); "
        "spark.kubernetes.<role>.request.cores."))] = None
    memory: Annotated[Memory, Field(description="JVM heap (spark.<role>.memory), e.g. 512m or 2g.")] = "1g"
    memory_overhead: Annotated[Memory | None, Field(description=(
        "Non-heap memory added to the pod's request (spark.<role>.memoryOverhead); default: 10% of memory, "
        "at least 384m, as Spark computes it (40% for Python applications)."))] = None
    labels: Annotated[dict[str, Annotated[str, Field(max_length=63)]], Field(
        max_length=32, description="Labels added to the pods.")] = {}
    annotations: Annotated[dict[str, Annotated[str, Field(max_length=4096)]], Field(
        max_length=32, description="Annotations added to the pods.")] = {}

    @field_validator("memory", "memory_overhead")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and memory_bytes(value) <= 0:
            raise ValueError(f"{value} is not allowed: a memory size must be above zero")
        return value

    @model_validator(mode="after")
    def _metadata(self) -> PodSpecBase:
        # Labels and annotations reach the pods and, as spark.kubernetes.executor.label.<key>, spark.properties.
        problems = [p for k, v in self.labels.items() for p in (
            qualified_name_problem("labels", k), label_value_problem(f"labels.{k}", v)) if p]
        problems += [p for k in self.annotations if (p := qualified_name_problem("annotations", k))]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class DriverSpec(PodSpecBase):
    """The driver pod, which the operator creates once the application is admitted."""

    service_account: Annotated[str | None, object_name(
        "ServiceAccount of the driver; it must be allowed to create pods and services in the namespace "
        "(spark.kubernetes.authenticate.driver.serviceAccountName)")] = None


class ExecutorSpec(PodSpecBase):
    """The executor pods, which the driver asks Kubernetes for."""

    instances: Annotated[int, Field(ge=1, le=10000, description=(
        "Executors without dynamic allocation (spark.executor.instances); all are part of the gang."))] = 1


class DynamicAllocation(Model):
    """Spark dynamic allocation: the gang holds minExecutors; up to maxExecutors are elastic."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("!has(self.maxExecutors) || self.minExecutors <= self.maxExecutors",
            "minExecutors must not exceed maxExecutors", field_path=".minExecutors", reason="FieldValueInvalid"),
    )}

    enabled: bool = False
    min_executors: Annotated[int, Field(ge=1, le=10000, description=(
        "Executors admitted with the driver as one gang (at least 1)."))] = 1
    max_executors: Annotated[int | None, Field(ge=1, le=10000, description=(
        "Most executors; those above minExecutors are admitted when there is room. Default: minExecutors."))] = None
    shuffle_tracking_enabled: Annotated[bool, Field(description=(
        "spark.dynamicAllocation.shuffleTracking.enabled (needed without an external shuffle service)."))] = True

    @model_validator(mode="after")
    def _bounds(self) -> DynamicAllocation:
        if self.max_executors is not None and self.min_executors > self.max_executors:
            raise ValueError(f"minExecutors ({self.min_executors}) must not exceed maxExecutors "
                             f"({self.max_executors})")
        return self


class Dependencies(Model):
    """Files shipped to the driver and executors (spark.jars, spark.files, spark.submit.pyFiles,
    spark.jars.packages)."""

    jars: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(max_length=64)] = []
    files: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(max_length=64)] = []
    py_files: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(max_length=64)] = []
    packages: Annotated[list[Annotated[str, Field(max_length=512)]], Field(
        max_length=64, description="Maven coordinates, group:artifact:version.")] = []


class RestartPolicy(Model):
    """When to run the application again, as the Kubeflow operator's restartPolicy.

    A failed run (driver Failed, timed out or lost) is retried ``onFailureRetries`` times with
    OnFailure, always with Always; a failed submission ``onSubmissionFailureRetries`` times. The
    n-th retry waits n × the interval (linear back-off). A preempted run is requeued with OnFailure
    and Always without counting as a failure; with Never it ends FAILED.
    """

    type: Literal["Never", "OnFailure", "Always"] = "Never"
    on_failure_retries: Annotated[int, Field(ge=0, le=1000)] = 3
    on_failure_retry_interval: Annotated[int, Field(ge=0, le=86400, description="Seconds.")] = 10
    on_submission_failure_retries: Annotated[int, Field(ge=0, le=1000)] = 3
    on_submission_failure_retry_interval: Annotated[int, Field(ge=0, le=86400, description="Seconds.")] = 10


class Timeouts(Model):
    """Seconds an application may stay in a phase before it fails with the reason; unset: no limit."""

    submission_seconds: Annotated[int | None, Field(ge=1, le=31536000, description=(
        "From the start of an attempt until its driver pod is created (admission included)."))] = None
    driver_start_seconds: Annotated[int | None, Field(ge=1, le=31536000, description=(
        "From driver pod creation until the driver runs (e.g. an image that never pulls)."))] = 300
    executor_start_seconds: Annotated[int | None, Field(ge=1, le=31536000, description=(
        "From the driver running until the gang's minimum of executors runs."))] = None


def _owned_conf_rules() -> list[dict[str, str]]:
    return [cel(f"self.all(k, k.matches('{properties.KEY_PATTERN}'))",
                f"sparkConf keys have {properties.KEY_ALLOWED}: spark.properties cannot hold others unescaped",
                reason="FieldValueInvalid")] + [
        cel(f"!('{key}' in self)", f"{key} cannot be set: {why}", reason="FieldValueForbidden")
        for key, why in OWNED_CONF_KEYS.items()]


class SparkApplicationSpec(Model):
    """Desired state of a SparkApplication."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("self.type == 'Python' || has(self.mainClass)",
            message_expression="'mainClass is required for a ' + self.type + ' application'",
            field_path=".mainClass", reason="FieldValueRequired"),
        cel("self.type != 'Python' || self.mainApplicationFile.endsWith('.py')",
            "mainApplicationFile of a Python application must be a .py file",
            field_path=".mainApplicationFile", reason="FieldValueInvalid"),
    )}

    type: Annotated[Literal["Scala", "Java", "Python"], Field(description="Language of the application.")]
    spark_version: Annotated[str, Field(max_length=32, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", description=(
        "Spark version the image runs, e.g. 3.5.3."))] = DEFAULT_SPARK_VERSION
    image: Annotated[str | None, image_field(
        "Image of the driver and executors; default apache/spark:<sparkVersion>.")] = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    main_class: Annotated[str | None, Field(max_length=512, pattern=r"^[A-Za-z_$][A-Za-z0-9_$.]*$", description=(
        "Main class of a Scala or Java application, e.g. org.apache.spark.examples.SparkPi."))] = None
    main_application_file: Annotated[str, Field(min_length=1, max_length=2048, description=(
        "The application jar or Python file, e.g. local:///opt/spark/examples/jars/spark-examples.jar."))]
    arguments: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=256)] = []
    spark_conf: Annotated[dict[str, Annotated[str, Field(max_length=4096)]], Field(
        max_length=256, description="Spark properties passed to the driver; keys the operator sets are refused.",
        json_schema_extra=validations(*_owned_conf_rules()))] = {}
    driver: DriverSpec = DriverSpec()
    executor: ExecutorSpec = ExecutorSpec()
    dynamic_allocation: DynamicAllocation = DynamicAllocation()
    deps: Dependencies = Dependencies()
    restart_policy: RestartPolicy = RestartPolicy()
    timeouts: Timeouts = Timeouts()
    ttl_seconds_after_finished: Annotated[int | None, Field(ge=0, le=31536000, description=(
        "Seconds after COMPLETED or FAILED when the driver pod and Services are deleted (the application "
        "and its status stay); unset: they stay."))] = None
    suspend: Annotated[bool, Field(description=(
        "Stop the application (its pods are deleted and its admission released) until set back to false."))] = False
    ui_service: Annotated[bool, Field(description="Create a Service for the driver's web UI (port 4040).")] = False
    priority: Annotated[int | None, Field(ge=-2147483648, le=1000000000, description=(
        "Priority of the application's ServiceClaim within its tenant; default: the tenant's."))] = None
    preemptible: Annotated[bool, Field(description=(
        "May be preempted to make room for another tenant's guaranteed services (batch work)."))] = True
    node_pool: Annotated[str | None, object_name("NodePool the driver and the executors run in")] = None

    @model_validator(mode="after")
    def _checks(self) -> SparkApplicationSpec:
        if self.type != "Python" and not self.main_class:
            raise ValueError(f"mainClass is required for a {self.type} application")
        if self.type == "Python" and not self.main_application_file.endswith(".py"):
            raise ValueError("mainApplicationFile of a Python application must be a .py file")
        problems = properties.key_problems("sparkConf", self.spark_conf)
        size = sum(len(properties.line(k, v)) + 1 for k, v in self.spark_conf.items())
        if size > CONF_MAX_BYTES:
            problems.append(f"sparkConf: {size} bytes as spark.properties, at most {CONF_MAX_BYTES} are allowed "
                            "(the driver's ConfigMap holds 1 MiB in all)")
        if problems:
            raise ValueError("; ".join(problems))
        # Compared after trimming and case-folding (operators.sdk.properties.normalise).
        owned = sorted(properties.owned_keys(self.spark_conf, OWNED_CONF_KEYS))
        if owned:
            raise ValueError(f"sparkConf keys set by the operator cannot be set: {', '.join(owned)} (owned: "
                             f"{', '.join(OWNED_CONF_KEYS)})")
        return self

    @property
    def image_ref(self) -> str:
        return self.image or f"apache/spark:{self.spark_version}"

    @property
    def executors(self) -> tuple[int, int]:
        """(gang minimum, most) executors."""
        if self.dynamic_allocation.enabled:
            low = self.dynamic_allocation.min_executors
            return low, max(low, self.dynamic_allocation.max_executors or low)
        return self.executor.instances, self.executor.instances


State = Literal["NEW", "SUBMITTED", "RUNNING", "SUCCEEDING", "FAILING", "COMPLETED", "FAILED",
                "SUBMISSION_FAILED", "PENDING_RERUN", "SUSPENDING", "SUSPENDED", "RESUMING"]


class ApplicationState(Model):
    state: State = "NEW"
    error_message: str | None = None


class StateTransition(Model):
    """One entry of the state history: the state entered, when, and why."""

    state: State
    time: str
    message: str | None = None


class DriverInfo(Model):
    pod_name: str | None = None
    headless_service_name: str | None = None
    web_ui_service_name: str | None = None
    web_ui_port: int | None = None


HISTORY_LIMIT = 20


class SparkApplicationStatus(Model):
    """Observed state of a SparkApplication. Every timer (back-off, timeouts, TTL) is derived from the
    transition times here, so an operator restart resumes them."""

    observed_generation: int | None = None
    conditions: Conditions = []
    application_state: ApplicationState = ApplicationState()
    state_history: Annotated[list[StateTransition], Field(description=(
        f"The last {HISTORY_LIMIT} states entered, oldest first."))] = []
    submission_id: Annotated[str | None, Field(description=(
        "ID of the current submission; the driver pod's name derives from it, and it is written before "
        "the driver pod is created."))] = None
    spark_application_id: str | None = Field(default=None, description="spark.app.id of the current submission.")
    driver_info: DriverInfo = DriverInfo()
    submission_attempts: int = 0
    execution_attempts: int = 0
    last_submission_attempt_time: str | None = None
    termination_time: str | None = None
    executors: Annotated[int | None, Field(description="Executors admitted for the current submission.")] = None


SPARK_APPLICATION = CustomResource(
    group=GROUP,
    kind="SparkApplication",
    plural="sparkapplications",
    short_names=("sparkapp",),
    object_validations=(name_length_rule(63, "the driver pod and the executors carry it as a label value"),),
    categories=("smack", "spark"),
    spec=SparkApplicationSpec,
    status=SparkApplicationStatus,
    printer_columns=(
        PrinterColumn("State", ".status.applicationState.state"),
        PrinterColumn("Attempts", ".status.executionAttempts", "integer"),
        PrinterColumn("Driver", ".status.driverInfo.podName", priority=1),
        PrinterColumn("Admitted", '.status.conditions[?(@.type=="Admitted")].status'),
        PrinterColumn("Message", ".status.applicationState.errorMessage", priority=1),
    ),
)


# ---------------------------------------------------------------------------------------------
# ScheduledSparkApplication

class ScheduledSparkApplicationSpec(Model):
    """A SparkApplication run on a cron schedule (UTC)."""

    schedule: Annotated[str, Field(max_length=128, description=(
        "Cron schedule in UTC: five fields (minute hour day-of-month month day-of-week) with *, lists, "
        "ranges and steps, or @hourly, @daily, @weekly, @monthly, @yearly."),
        json_schema_extra=validations(cel(
            f"self.matches('{CRON_PATTERN}')",
            message_expression="'must be a cron schedule of five fields (minute hour day-of-month month "
                               "day-of-week, e.g. \"*/5 * * * *\") or @hourly, @daily, @weekly, @monthly, "
                               "@yearly, got: ' + self",
            reason="FieldValueInvalid")))]
    concurrency_policy: Annotated[Literal["Allow", "Forbid", "Replace"], Field(description=(
        "Allow: runs may overlap. Forbid: a run is skipped while the previous one is active. Replace: the "
        "active run is deleted and the new one starts."))] = "Allow"
    successful_run_history_limit: Annotated[int, Field(ge=0, le=100)] = 1
    failed_run_history_limit: Annotated[int, Field(ge=0, le=100)] = 1
    suspend: Annotated[bool, Field(description="No new run starts while true.")] = False
    template: SparkApplicationSpec

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        Schedule.parse(value)
        return value


class ScheduledSparkApplicationStatus(Model):
    observed_generation: int | None = None
    conditions: Conditions = []
    schedule_state: Literal["Scheduled", "Suspended", "Invalid"] | None = None
    last_run: str | None = Field(default=None, description="Scheduled time of the last run started or skipped.")
    next_run: str | None = None
    last_run_name: str | None = None
    past_successful_run_names: list[str] = []
    past_failed_run_names: list[str] = []
    skipped_runs: int = Field(default=0, description="Runs skipped by concurrencyPolicy Forbid.")


SCHEDULED_SPARK_APPLICATION = CustomResource(
    group=GROUP,
    kind="ScheduledSparkApplication",
    plural="scheduledsparkapplications",
    short_names=("scheduledsparkapp",),
    # Each run is a SparkApplication <name>-<unix time, 10 digits>, whose name is a label value.
    object_validations=(name_length_rule(63 - 11, "each run is a SparkApplication <name>-<10-digit time>, "
                                                  "whose name (a label value) has at most 63"),),
    categories=("smack", "spark"),
    spec=ScheduledSparkApplicationSpec,
    status=ScheduledSparkApplicationStatus,
    printer_columns=(
        PrinterColumn("Schedule", ".spec.schedule"),
        PrinterColumn("Suspend", ".spec.suspend", "boolean"),
        PrinterColumn("Last Run", ".status.lastRun", "date"),
        PrinterColumn("Last Run Name", ".status.lastRunName"),
        PrinterColumn("Next Run", ".status.nextRun", priority=1),
    ),
)
