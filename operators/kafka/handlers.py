"""kopf wiring for KafkaCluster: read, build, apply, write status. Nothing else.

Importing this module registers the handlers (``python -m operators run --only kafka``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from ..scheduling.api import ServiceClaimSpec
from ..scheduling.binding import ServiceBinding
from ..scheduling.claims import admission_condition, grants
from ..sdk import runtime
from ..sdk.apply import Applier, Outcome, applier_for
from ..sdk.conditions import get_condition, invalid_spec
from ..sdk.controller import ChildKind, Result, register
from ..sdk.metrics import APPLY_TOTAL, RESOURCES_READY, observe_plans, step_started
from ..sdk.plans import HALT, Plan, PlanControlError, Status, parse_controls, reset_patch
from ..sdk.recovery import Recovery, completed_steps, node_failure, recover, recovery_plan
from ..sdk.rollout import PodView, controller_lag, restart_allowed
from .api import KAFKA_CLUSTER, METADATA_LEVELS, KafkaClusterSpec, KafkaClusterStatus
from .health import (
    KAFKA_DEFAULT_MIN_ISR,
    KafkaPythonAdmin,
    PartitionState,
    Role,
    active_controller,
    partitions_from_text,
    replicas_on,
    restart_blockers,
)
from .resources import (
    CLUSTER_LABEL,
    CONTROLLER_NODE_ID_BASE,
    POD_SET_FIELDS,
    ROLE_LABEL,
    Cluster,
    bootstrap_servers,
    build,
    claim_spec,
    digest,
    dynamic_config,
    role_config,
    service_claim,
)
from .status import (
    CONFIG_PHASE,
    CONFIG_STEP,
    METADATA_PHASE,
    METADATA_STEP,
    deploy_plan,
    derive,
    metadata_downgrade,
    update_plan,
    update_target,
)

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
        status, message = invalid_spec(previous, exc, meta["generation"])
        _write_status(body, previous, status)
        kopf.warn(body, reason="InvalidSpec", message=message)
        return Result("invalid")

    cluster, blocked = _hold_brokers(body, cluster)
    claim = _apply(body, service_claim(cluster))
    granted = grants(claim)
    live: dict[str, dict[str, Any]] = {}
    for manifest in build(cluster, granted):
        obj = _apply(body, manifest)
        if manifest["kind"] == "StatefulSet":
            live[obj["metadata"]["labels"][ROLE_LABEL]] = obj
    pods = applier().list_objects("v1", "Pod", cluster.namespace, f"{CLUSTER_LABEL}={cluster.name}")
    annotations = dict(meta.get("annotations") or {})
    target = update_target(cluster, live)
    if previous.update_target not in (None, target) and (patch := reset_patch(annotations, "update")):
        applier().patch_metadata(KAFKA_CLUSTER.api_version, KIND, meta["name"], meta["namespace"], annotations=patch)
        kopf.info(body, reason="PlanControlsReset", message="a new update started: the proceed and force-complete "
                                                            "annotations of the last one are dropped")
        annotations = {k: v for k, v in (annotations | patch).items() if v is not None}
    try:
        controls = parse_controls(annotations)
    except PlanControlError as exc:
        kopf.warn(body, reason="InvalidPlanControl", message=f"{exc}; no pod is restarted until it is fixed")
        controls = HALT
    finalized, applied = previous.metadata_version, previous.dynamic_config
    now = datetime.now(UTC)

    def plan_update() -> tuple[Plan, list[PodView]]:
        plan, views = update_plan(cluster, live, pods, granted, controls, now=now, finalized=finalized,
                                  applied=applied)
        controllers = next(p for p in plan.phases if p.name == "controllers")
        if controllers.status != Status.COMPLETE and (active := _active_controller(cluster)) is not None:
            plan, views = update_plan(cluster, live, pods, granted, controls, now=now, finalized=finalized,
                                      applied=applied, active_controller=active)
        return plan, views

    plan, views = plan_update()
    admission = admission_condition(claim)
    deploy = deploy_plan(cluster, pods, granted, set(completed_steps(previous.plans, "deploy")),
                         admission.message if admission else None)
    recoveries = _recoveries(cluster, live, pods, deploy, previous, now)
    recovery = recovery_plan(recoveries, previous.plans, controls=controls)
    waiting: list[str] = []
    if not recovery.paused and any(r.action for r in recoveries.values()):
        _recover(body, cluster, recoveries)  # before any update step: the gates would wait for these pods
    elif (METADATA_PHASE, METADATA_STEP) in plan.next_steps:
        finalized = _raise_metadata_version(body, cluster, finalized) or finalized
    elif (CONFIG_PHASE, CONFIG_STEP) in plan.next_steps:
        applied = _apply_dynamic_config(body, cluster) or applied
    else:
        waiting = _restart_next(body, cluster, live, plan, views)  # the pods' watch events bring the next pass
    if (finalized, applied) != (previous.metadata_version, previous.dynamic_config):
        plan, views = plan_update()

    status = derive(cluster, meta["generation"], stateful_sets=live, pods=pods, grants=granted,
                    admission=admission, previous=previous, plan=plan, deploy=deploy, recovery=recovery,
                    waiting=waiting, scale_down_blocked=blocked, finalized=finalized, applied=applied,
                    target=target)
    _write_status(body, previous, status)
    ready = get_condition(status.conditions, "Ready")
    was_ready = get_condition(previous.conditions, "Ready")
    RESOURCES_READY.labels(KIND, cluster.namespace, cluster.name).set(ready.status == "True")
    observe_plans(KIND, cluster.namespace, cluster.name, status.plans)
    if ready.status == "True" and (was_ready is None or was_ready.status != "True"):
        kopf.info(body, reason="ClusterReady", message=f"{ready.message}; bootstrap {status.bootstrap_servers}")
    progressing = get_condition(status.conditions, "Progressing")
    due = [r.due_in for r in recoveries.values() if r.due_in is not None]
    if progressing.status == "True":
        due.append(5.0)
    if blocked:
        due.append(15.0)  # partitions move without an event the operator watches: look again
    return Result("ok" if progressing.status == "False" else "progressing", min(due, default=None))


def _hold_brokers(body: dict[str, Any], cluster: Cluster) -> tuple[Cluster, str | None]:
    """The cluster to run during a broker scale-down, and why it waits (None: it does not).

    The brokers above ``spec.brokers.replicas`` stay until no partition has a replica on them
    (:func:`operators.kafka.health.replicas_on`); then the StatefulSet and the claim shrink, and
    the StatefulSet removes the highest ordinals, keeping or deleting their volumes per
    ``deleteClaim``. An assignment that cannot be read keeps them too.
    """
    sts = applier().get("apps/v1", "StatefulSet", cluster.sts_name("broker"), cluster.namespace)
    running = ((sts or {}).get("spec") or {}).get("replicas") or 0
    wanted = cluster.replicas("broker")
    if running <= wanted:
        return cluster, None
    removing = list(range(wanted, running))
    names = ", ".join(map(str, removing))
    try:
        left = replicas_on(removing, _partitions(cluster))
    except Exception as exc:
        return cluster.keeping_brokers(running), f"cannot read the partition assignment: {exc}"
    if left:
        shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
        return cluster.keeping_brokers(running), (
            f"brokers {names} still hold replicas of {len(left)} partitions ({shown}); reassign them to brokers "
            f"0-{wanted - 1} (kafka-reassign-partitions.sh) and the scale-down continues")
    kopf.info(body, reason="RemovingBrokers", message=f"brokers {names} hold no replicas: removing them")
    return cluster, None


def _partitions(cluster: Cluster) -> list[PartitionState]:
    """Every partition and its replicas: from the cluster (describeTopics), or on a simulated cluster
    from the ConfigMap ``<name>-simulated-partitions`` (key ``partitions``; see
    :func:`operators.kafka.health.partitions_from_text`), which tests write; none when it is absent."""
    if _simulated():
        cm = applier().get("v1", "ConfigMap", f"{cluster.name}-simulated-partitions", cluster.namespace)
        return partitions_from_text(((cm or {}).get("data") or {}).get("partitions", ""))
    with _client(cluster) as client:
        return KafkaPythonAdmin(client).describe_partitions()[0]


def _recoveries(cluster: Cluster, live: dict[str, dict[str, Any]], pods: list[dict[str, Any]], deploy: Plan,
                previous: KafkaClusterStatus, now: datetime) -> dict[str, Recovery]:
    """Which pods need recovering (operators.sdk.recovery); reads the nodes of pods that are not Ready."""
    deployed = {s.name for p in deploy.phases for s in p.steps if s.status == Status.COMPLETE}
    ongoing = {s.name for p in previous.plans if p.name == "recovery" for ph in p.phases for s in ph.steps
               if s.status != Status.COMPLETE}
    suspects = {p["spec"]["nodeName"] for p in pods if p.get("spec", {}).get("nodeName")
                and p["metadata"]["name"] in deployed and not PodView.of(p, {}).ready}
    failures = {n: f for n in sorted(suspects) if (f := node_failure(n, applier().get("v1", "Node", n, None)))}
    role_of = {p["metadata"]["name"]: p["metadata"].get("labels", {}).get(ROLE_LABEL) for p in pods}
    templates = {name: (live.get(role) or {}).get("spec", {}).get("template") for name, role in role_of.items()}
    return recover(pods, failures, templates=templates, deployed=deployed, ongoing=ongoing,
                   replaceable={n for n, r in role_of.items() if r == "broker"},
                   timeout=cluster.spec.recovery.node_failure_seconds, now=now)


def _recover(body: dict[str, Any], cluster: Cluster, recoveries: dict[str, Recovery]) -> None:
    """Carry out the recovery actions: restart (delete the pod; it comes back with its volume),
    replace (delete its volume, then force-delete the pod: its node is gone, nothing will confirm a
    graceful stop) and reschedule (delete an unscheduled pod so it is recreated where admitted)."""
    for name, r in sorted(recoveries.items()):
        if r.action == "replace":
            applier().delete_object("v1", "PersistentVolumeClaim", f"data-{name}", cluster.namespace)
            applier().delete_pod(name, cluster.namespace, grace_period_seconds=0, uid=r.uid)
        elif r.action in ("restart", "reschedule"):
            applier().delete_pod(name, cluster.namespace, uid=r.uid)
        else:
            continue
        kopf.event(body, type="Warning" if r.action == "replace" else "Normal",
                   reason={"replace": "ReplacingPod", "restart": "RestartingPod", "reschedule": "ReschedulingPod"}
                   [r.action], message=f"recovery plan: {name}: {r.step.message}")


def _simulated() -> bool:
    """True with ``SMACK_KAFKA_ADMIN=none``: a simulated cluster where no broker runs (the e2e suite)."""
    return os.environ.get("SMACK_KAFKA_ADMIN", "kafka-python") == "none"


@contextlib.contextmanager
def _client(cluster: Cluster) -> Iterator[Any]:
    """A kafka-python ``KafkaAdminClient`` on the first listener; closed on exit. Raises on connect errors."""
    from kafka.admin import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=bootstrap_servers(cluster)[cluster.spec.listeners[0].name],
                              request_timeout_ms=30000)
    try:
        yield client
    finally:
        client.close()


def _admin_call(body: dict[str, Any], cluster: Cluster, what: str, reason: str,
                call: Callable[[Any], None]) -> bool:
    """Run one Admin API step against the cluster; True when it succeeded.

    Simulated (:func:`_simulated`): no call is made and the step is recorded as done, which
    the event says. A failure is reported as a Warning event and the step stays Pending,
    retried on the next pass.
    """
    if _simulated():
        kopf.info(body, reason=reason, message=f"{what} (simulated: SMACK_KAFKA_ADMIN=none)")
        return True
    try:
        with _client(cluster) as client:
            call(client)
    except Exception as exc:  # any client or Kafka error: report, keep the step pending
        kopf.warn(body, reason=f"{reason}Failed", message=f"{what}: {exc}")
        return False
    kopf.info(body, reason=reason, message=what)
    return True


def _kafka_gate(cluster: Cluster, role: Role, ordinal: int) -> list[str]:
    """Strimzi's availability checks for restarting one node (operators.kafka.health); an
    unanswerable question blocks. Nothing to ask on a simulated cluster."""
    if _simulated():
        return []
    min_isr = int(role_config(cluster, "broker").get("min.insync.replicas", KAFKA_DEFAULT_MIN_ISR))
    try:
        with _client(cluster) as client:
            return restart_blockers(KafkaPythonAdmin(client), role, cluster.node_id(role, ordinal), min_isr)
    except Exception as exc:
        return [f"cannot ask the cluster whether {cluster.sts_name(role)}-{ordinal} may restart: {exc}"]


def _active_controller(cluster: Cluster) -> int | None:
    """The ordinal of the active controller (KRaft quorum leader), None when unknown or simulated."""
    if _simulated():
        return None
    try:
        with _client(cluster) as client:
            leader = active_controller(KafkaPythonAdmin(client).describe_quorum())
    except Exception as exc:
        log.warning("cannot describe the KRaft quorum of %s/%s: %s", cluster.namespace, cluster.name, exc)
        return None
    return None if leader is None else leader - CONTROLLER_NODE_ID_BASE


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


def _restart_next(body: dict[str, Any], cluster: Cluster, live: dict[str, dict[str, Any]], plan: Plan,
                  views: list[PodView]) -> list[str]:
    """Delete the next out-of-date pod of the update plan when the gates allow: the StatefulSet
    controller recreates it from the new template (OnDelete). Returns what the step waits for.

    Gates: the StatefulSet controller has seen the latest template (else the new pod could come
    from the old one), every other pod Ready, then Kafka's own (:func:`_kafka_gate`) unless the pod itself
    is not Ready: restarting a node that serves nothing cannot lower availability (Strimzi).
    """
    step = next(((phase, name) for phase, name in plan.next_steps), None)
    if step is None:
        return []
    phase, name = step
    status = next(s.status for p in plan.phases if p.name == phase for s in p.steps if s.name == name)
    if status != "Pending":
        return []
    view = next((v for v in views if v.name == name), None)
    role: Role = "controller" if phase == "controllers" else "broker"
    lag = controller_lag(live.get(role))
    blockers = [lag] if lag else restart_allowed(name, views)
    if not blockers and view is not None and view.ready:
        blockers = _kafka_gate(cluster, role, int(name.rsplit("-", 1)[1]))
    if blockers:
        log.info("update plan: %s waits: %s", name, "; ".join(blockers))
        return [f"{name} waits: {'; '.join(blockers)}"]
    namespace = body["metadata"]["namespace"]
    requested = view.requested if view else None
    if requested == "replace":
        # An explicit request to start over with an empty volume: the claim goes first; it is
        # removed once the pod releases it, and the StatefulSet then creates a new one.
        applier().delete_object("v1", "PersistentVolumeClaim", f"data-{name}", namespace)
        kopf.info(body, reason="ReplacingPod", message=f"replacing {name} with a new volume, as requested")
    applier().delete_pod(name, namespace, uid=view.uid if view else None)
    step_started(KIND, namespace, body["metadata"]["name"], plan.name, phase, name)
    why = f"{requested} requested" if requested else "to apply the current config and version"
    kopf.info(body, reason="RestartingPod", message=f"update plan, phase {phase}: restarting {name} {why}")
    return []


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


SERVICE = ServiceBinding(KAFKA_CLUSTER, _demand, POD_SET_FIELDS)


@runtime.validate(KAFKA_CLUSTER.group, KAFKA_CLUSTER.version, KAFKA_CLUSTER.plural, id="kafka-metadata-version",
                  operations=["UPDATE"], ignore_failures=True)
def _refuse_metadata_downgrade(body: kopf.Body, old: kopf.Body | None, **_: Any) -> None:
    """Refuse a version or metadataVersion whose metadata.version is older than the finalized one."""
    problem = metadata_downgrade((old or {}).get("status", {}).get("metadataVersion"), body.get("spec") or {})
    if problem:
        raise kopf.AdmissionError(problem, code=422)


def setup() -> None:
    """Nothing to do: this module still registers its handlers at import (the next merge moves them here)."""
