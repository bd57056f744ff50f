"""kopf wiring for KafkaCluster: read, build, apply, write status. Nothing else.

Importing this module registers the handlers (``python -m operators run --only kafka``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from ..meta.api import ServiceClaimSpec
from ..meta.webhook import register_service
from ..sdk.apply import Applier, Outcome, applier_for
from ..sdk.claims import admission_condition, grants
from ..sdk.conditions import Condition, get_condition, set_condition
from ..sdk.controller import ChildKind, Result, register
from ..sdk.metrics import APPLY_TOTAL, RESOURCES_READY
from ..sdk.plans import HALT, Plan, PlanControlError, parse_controls
from ..sdk.rollout import PodView, restart_allowed
from .api import KAFKA_CLUSTER, METADATA_LEVELS, KafkaClusterSpec, KafkaClusterStatus
from .health import KafkaPythonAdmin
from .resources import (
    CLUSTER_LABEL,
    POD_SET_FIELDS,
    ROLE_LABEL,
    Cluster,
    bootstrap_servers,
    build,
    claim_spec,
    digest,
    dynamic_config,
    service_claim,
)
from .status import CONFIG_PHASE, CONFIG_STEP, METADATA_PHASE, METADATA_STEP, derive, metadata_downgrade, update_plan

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-kafka"
KIND = KAFKA_CLUSTER.kind



def applier() -> Applier:
    return applier_for(FIELD_MANAGER)


def reconcile(body: dict[str, Any]) -> Result:
    """One level-triggered pass over a KafkaCluster: children from spec, status from children."""
    meta = body["metadata"]
    previous = KafkaClusterStatus.model_validate(body.get("status") or {})
    try:
        cluster = Cluster.from_body(body)
    except ValidationError as exc:
        # The CRD schema rejects bad specs at apply time; this catches what it cannot
        # express. Nothing is touched: the last good children keep running.
        message = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        status = previous.model_copy(update={"conditions": set_condition(previous.conditions, Condition(
            type="Ready", status="False", reason="InvalidSpec", message=message,
            observed_generation=meta["generation"]))})
        _write_status(body, previous, status)
        kopf.warn(body, reason="InvalidSpec", message=message)
        return Result("invalid")

    claim = _apply(body, service_claim(cluster))
    granted = grants(claim)
    live: dict[str, dict[str, Any]] = {}
    for manifest in build(cluster, granted):
        obj = _apply(body, manifest)
        if manifest["kind"] == "StatefulSet":
            live[obj["metadata"]["labels"][ROLE_LABEL]] = obj
    pods = applier().list_objects("v1", "Pod", cluster.namespace, f"{CLUSTER_LABEL}={cluster.name}")
    try:
        controls = parse_controls(meta.get("annotations"))
    except PlanControlError as exc:
        kopf.warn(body, reason="InvalidPlanControl", message=f"{exc}; no pod is restarted until it is fixed")
        controls = HALT
    finalized, applied = previous.metadata_version, previous.dynamic_config
    now = datetime.now(UTC)
    plan, views = update_plan(cluster, live, pods, granted, controls, now=now, finalized=finalized, applied=applied)
    if (METADATA_PHASE, METADATA_STEP) in plan.next_steps:
        finalized = _raise_metadata_version(body, cluster, finalized) or finalized
    elif (CONFIG_PHASE, CONFIG_STEP) in plan.next_steps:
        applied = _apply_dynamic_config(body, cluster) or applied
    else:
        _restart_next(body, plan, views)  # the pods' watch events bring the next pass
    if (finalized, applied) != (previous.metadata_version, previous.dynamic_config):
        plan, views = update_plan(cluster, live, pods, granted, controls, now=now, finalized=finalized,
                                  applied=applied)

    status = derive(cluster, meta["generation"], stateful_sets=live, pods=pods, grants=granted,
                    admission=admission_condition(claim), previous=previous, plan=plan, finalized=finalized,
                    applied=applied)
    _write_status(body, previous, status)
    ready = get_condition(status.conditions, "Ready")
    was_ready = get_condition(previous.conditions, "Ready")
    RESOURCES_READY.labels(KIND, cluster.namespace, cluster.name).set(ready.status == "True")
    if ready.status == "True" and (was_ready is None or was_ready.status != "True"):
        kopf.info(body, reason="ClusterReady", message=f"{ready.message}; bootstrap {status.bootstrap_servers}")
    progressing = get_condition(status.conditions, "Progressing")
    return Result("ok", None) if progressing.status == "False" else Result("progressing", 5.0)


def _admin_call(body: dict[str, Any], cluster: Cluster, what: str, reason: str,
                call: Callable[[Any], None]) -> bool:
    """Run one Admin API step against the cluster; True when it succeeded.

    With ``SMACK_KAFKA_ADMIN=none`` (a simulated cluster where no broker runs, as in the e2e
    suite) no call is made and the step is recorded as done, which the event says. A failure
    is reported as a Warning event and the step stays Pending, retried on the next pass.
    """
    if os.environ.get("SMACK_KAFKA_ADMIN", "kafka-python") == "none":
        kopf.info(body, reason=reason, message=f"{what} (simulated: SMACK_KAFKA_ADMIN=none)")
        return True
    try:
        from kafka.admin import KafkaAdminClient

        client = KafkaAdminClient(bootstrap_servers=bootstrap_servers(cluster)[cluster.spec.listeners[0].name],
                                  request_timeout_ms=30000)
        try:
            call(client)
        finally:
            client.close()
    except Exception as exc:  # any client or Kafka error: report, keep the step pending
        kopf.warn(body, reason=f"{reason}Failed", message=f"{what}: {exc}")
        return False
    kopf.info(body, reason=reason, message=what)
    return True


def _raise_metadata_version(body: dict[str, Any], cluster: Cluster, current: str | None) -> str | None:
    """Finalize metadata.version at the target (UpdateFeatures, KIP-584); return it, or None."""
    target = cluster.spec.target_metadata_version
    done = _admin_call(body, cluster, f"metadata.version {current} -> {target}", "MetadataVersionRaised",
                       lambda c: c.update_features({"metadata.version": METADATA_LEVELS[target]}))
    return target if done else None


def _apply_dynamic_config(body: dict[str, Any], cluster: Cluster) -> str | None:
    """Set the dynamically updatable keys on every broker (incrementalAlterConfigs); return their digest."""
    wanted = dynamic_config(cluster)
    brokers = range(cluster.replicas("broker"))
    done = _admin_call(body, cluster, f"set {', '.join(f'{k}={v}' for k, v in sorted(wanted.items()))} on brokers "
                                      f"{', '.join(map(str, brokers))}", "DynamicConfigApplied",
                       lambda c: [KafkaPythonAdmin(c).alter_broker_configs(b, wanted) for b in brokers])
    return digest(wanted) if done else None


def _restart_next(body: dict[str, Any], plan: Plan, views: list[PodView]) -> None:
    """Delete the next out-of-date pod of the update plan when the gate allows: the StatefulSet
    controller recreates it from the new template (OnDelete)."""
    step = next(((phase, name) for phase, name in plan.next_steps), None)
    if step is None:
        return
    phase, name = step
    status = next(s.status for p in plan.phases if p.name == phase for s in p.steps if s.name == name)
    if status != "Pending":
        return
    blockers = restart_allowed(name, views)
    if blockers:
        log.info("update plan: %s waits: %s", name, "; ".join(blockers))
        return
    namespace = body["metadata"]["namespace"]
    requested = next((v.requested for v in views if v.name == name), None)
    if requested == "replace":
        # An explicit request to start over with an empty volume: the claim goes first; it is
        # removed once the pod releases it, and the StatefulSet then creates a new one.
        applier().delete_object("v1", "PersistentVolumeClaim", f"data-{name}", namespace)
        kopf.info(body, reason="ReplacingPod", message=f"replacing {name} with a new volume, as requested")
    applier().delete_pod(name, namespace)
    why = f"{requested} requested" if requested else "to apply the current config and version"
    kopf.info(body, reason="RestartingPod", message=f"update plan, phase {phase}: restarting {name} {why}")


def _apply(body: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    outcome, obj = applier().apply(manifest)
    APPLY_TOTAL.labels(KIND, manifest["kind"], outcome.value).inc()
    if outcome is not Outcome.UNCHANGED:
        kopf.info(body, reason=f"{manifest['kind']}{outcome.value.capitalize()}",
                  message=f"{outcome.value.capitalize()} {manifest['kind']} {manifest['metadata']['name']}")
    return obj


def _write_status(body: dict[str, Any], previous: KafkaClusterStatus, status: KafkaClusterStatus) -> None:
    if status.wire() == previous.wire():
        return  # nothing changed: write nothing
    meta = body["metadata"]
    applier().patch_status(KAFKA_CLUSTER.api_version, KIND, meta["name"], meta["namespace"], status.wire())


register(
    KAFKA_CLUSTER,
    reconcile,
    children=[ChildKind("apps", "v1", "statefulsets"), ChildKind("", "v1", "pods"),
              ChildKind("scheduling.smack.dev", "v1alpha1", "serviceclaims")],
    cluster_label=CLUSTER_LABEL,
)


def _demand(body: dict[str, Any]) -> ServiceClaimSpec | None:
    try:
        return claim_spec(KafkaClusterSpec.model_validate(body.get("spec") or {}))
    except ValidationError:
        return None


register_service(KAFKA_CLUSTER, _demand, POD_SET_FIELDS)


@kopf.on.validate(KAFKA_CLUSTER.group, KAFKA_CLUSTER.version, KAFKA_CLUSTER.plural, id="kafka-metadata-version",
                  operations=["UPDATE"], ignore_failures=True)
def _refuse_metadata_downgrade(body: kopf.Body, old: kopf.Body | None, **_: Any) -> None:
    """Refuse a version or metadataVersion whose metadata.version is older than the finalized one."""
    problem = metadata_downgrade((old or {}).get("status", {}).get("metadataVersion"), body.get("spec") or {})
    if problem:
        raise kopf.AdmissionError(problem, code=422)
