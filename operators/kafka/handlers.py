"""kopf wiring for KafkaCluster: one pass observes, decides (operators.kafka.plans), acts and reports.

Only I/O lives here; every decision is :func:`operators.kafka.plans.decide`'s. :func:`setup`
registers the handlers (``python -m operators run --only kafka`` calls it with the settings read
at start-up), so importing this module registers nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf
from pydantic import ValidationError

from ..scheduling.api import ServiceClaimSpec
from ..scheduling.binding import ServiceBinding
from ..scheduling.claims import admission_condition, grants
from ..sdk import runtime
from ..sdk.apply import Client, client_for
from ..sdk.controller import ChildKind, ReconcileOutcome, Result, register
from ..sdk.events import Recorder, run_operation
from ..sdk.metrics import gate_blocked, step_started
from ..sdk.recovery import node_failure
from ..sdk.rollout import RestartReason
from ..sdk.service import ServiceContext
from .admin import KafkaAdmin
from .api import KAFKA_CLUSTER, KafkaClusterSpec, KafkaClusterStatus, Role
from .config import stale_defaults
from .gates import Answer, Answers
from .plans import (
    Action,
    AdminStep,
    ApplyDynamicConfig,
    Next,
    Observed,
    RaiseMetadataVersion,
    RecoverPods,
    RestartPod,
    ScaleDown,
    UnregisterBrokers,
    decide,
    gated_roles,
    hold_brokers,
    metadata_downgrade,
    missing_racks,
    nodes_to_check,
    scaling_down,
    unlabelled_brokers,
)
from .resources import (
    CLUSTER_LABEL,
    POD_SET_FIELDS,
    ROLE_LABEL,
    ZONE_LABEL,
    Cluster,
    build,
    claim_spec,
    service_claim,
)
from .settings import Settings

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-kafka"
KIND = KAFKA_CLUSTER.kind
T = TypeVar("T")
RECOVERY_EVENTS = {"replace": ("Warning", "ReplacingPod"), "restart": ("Normal", "RestartingPod"),
                   "reschedule": ("Normal", "ReschedulingPod")}


def setup(settings: Settings) -> None:
    """Register the KafkaCluster handlers with kopf: the reconcile loop (using the Admin implementation
    ``settings`` chooses) and the metadata.version webhook (the demand check is :data:`SERVICE`'s,
    served by meta's webhook)."""
    register(KAFKA_CLUSTER, functools.partial(reconcile, settings=settings),
             children=[ChildKind("apps", "v1", "statefulsets"), ChildKind("", "v1", "pods"),
                       ChildKind("scheduling.smack.dev", "v1alpha1", "serviceclaims")],
             owner_label=CLUSTER_LABEL)
    runtime.validate(KAFKA_CLUSTER.group, KAFKA_CLUSTER.version, KAFKA_CLUSTER.plural, id="kafka-metadata-version",
                     operations=["UPDATE"], ignore_failures=True)(_refuse_metadata_downgrade)


def client() -> Client:
    return client_for(FIELD_MANAGER)


def reconcile(body: dict[str, Any], *, settings: Settings) -> Result:
    """One level-triggered pass over a KafkaCluster: observe → decide → act (at most one
    disruptive action) → report."""
    ctx = ServiceContext.of(client(), KAFKA_CLUSTER, body)
    previous = KafkaClusterStatus.model_validate(body.get("status") or {})
    try:
        cluster = Cluster.from_body(body)
    except ValidationError as exc:
        return ctx.refuse_spec(previous, exc)
    shape, partitions = _shape(ctx.recorder, settings, cluster)
    claim, live = _apply_children(ctx, shape.cluster)
    observed = _observe(settings, body, previous, shape, claim, live, partitions)
    controls = ctx.plan_controls(previous.update_revision, observed.target,
                                 halted="no pod is restarted until it is fixed")
    decision = decide(observed, controls, datetime.now(UTC))
    if decision.action is not None:
        decision = _act(ctx.recorder, settings, observed.cluster, decision)
    _report(ctx, previous, decision)
    return Result(ReconcileOutcome.PROGRESSING if decision.progressing else ReconcileOutcome.OK, decision.requeue_after)


def _shape(recorder: Recorder, settings: Settings, cluster: Cluster) -> tuple[ScaleDown, Answer | None]:
    """The cluster to run this pass (:func:`operators.kafka.plans.hold_brokers`), and the partitions
    read for it during a broker scale-down."""
    sts = client().get("apps/v1", "StatefulSet", cluster.sts_name("broker"), cluster.namespace)
    running = ((sts or {}).get("spec") or {}).get("replicas") or 0
    partitions = _ask(settings, cluster, lambda a: a.describe_partitions()) if scaling_down(cluster, running) else None
    shape = hold_brokers(cluster, running, partitions)
    if shape.removing:
        recorder.info("RemovingBrokers", f"brokers {', '.join(map(str, shape.removing))} hold no replicas: "
                                         "removing them")
    return shape, partitions


def _apply_children(ctx: ServiceContext, cluster: Cluster) -> tuple[dict[str, Any], dict[Role, dict[str, Any] | None]]:
    """Apply the ServiceClaim, then every child the admitted part of it allows; the claim and the
    live StatefulSets by role, as applied."""
    claim = ctx.apply_child(service_claim(cluster))
    live: dict[Role, dict[str, Any] | None] = {}
    for manifest in build(cluster, grants(claim)):
        obj = ctx.apply_child(manifest)
        if manifest["kind"] == "StatefulSet":
            live[obj["metadata"]["labels"][ROLE_LABEL]] = obj
    return claim, live


def _observe(settings: Settings, body: dict[str, Any], previous: KafkaClusterStatus, shape: ScaleDown,
             claim: dict[str, Any], live: dict[Role, dict[str, Any] | None], partitions: Answer | None) -> Observed:
    """Read what the pass decides on: the pods, the nodes of pods in trouble, and the answers of
    the Kafka gates this pass may need (each asked once; the partitions may already be known)."""
    cluster = shape.cluster
    pods = client().list_objects("v1", "Pod", cluster.namespace, f"{CLUSTER_LABEL}={cluster.name}")
    nodes = {n: client().get("v1", "Node", n, None) for n in nodes_to_check(pods, previous)}
    failures = {n: f for n, node in nodes.items() if (f := node_failure(n, node))}
    _warn_missing_racks(cluster, pods, nodes)
    gated = gated_roles(live, pods)
    if partitions is None and "broker" in gated:
        partitions = _ask(settings, cluster, lambda a: a.describe_partitions())
    brokers = _ask(settings, cluster, lambda a: a.describe_brokers()) if "broker" in gated else None
    quorum = _ask(settings, cluster, lambda a: a.describe_quorum()) if "controller" in gated else None
    if quorum is not None and quorum.error is not None:
        log.warning("cannot describe the KRaft quorum of %s/%s: %s", cluster.namespace, cluster.name, quorum.error)
    return Observed(cluster=cluster, generation=body["metadata"]["generation"], previous=previous,
                    stateful_sets=live, grants=grants(claim), admission=admission_condition(claim), pods=pods,
                    failures=failures, answers=Answers(partitions, quorum, brokers), scale_down=shape)


def _warn_missing_racks(cluster: Cluster, pods: list[dict[str, Any]], nodes: dict[str, Any]) -> None:
    """Log the brokers without a rack on a zoned node (:func:`operators.kafka.plans.missing_racks`);
    ``nodes`` are those already read this pass, the others are read here (none when every broker
    carries its zone, as on Kubernetes 1.35+)."""
    def zone(name: str) -> str | None:
        node = nodes.get(name) or client().get("v1", "Node", name, None) or {}
        return (node.get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
    for gap in missing_racks(pods, {n: zone(n) for n in unlabelled_brokers(pods)}):
        log.warning("KafkaCluster %s/%s: %s", cluster.namespace, cluster.name, gap)


def _ask(settings: Settings, cluster: Cluster, question: Callable[[KafkaAdmin], T]) -> Answer[T]:
    """Ask the cluster's Admin API one question, on a connection of its own."""
    def asked() -> T:
        with settings.connect(cluster, client()) as admin:
            return question(admin)
    return Answer.ask(asked)


def _act(recorder: Recorder, settings: Settings, cluster: Cluster, decision: Next) -> Next:
    """Carry out this pass's one action; the Next to report once it was done, ``decision`` itself when
    an Admin step failed (its step stays Pending and the next pass tries again)."""
    action: Action | None = decision.action
    match action:
        case RecoverPods():
            _recover(recorder, cluster, action)
        case UnregisterBrokers():
            if not _admin_step(recorder, settings, cluster, action,
                               lambda a: [a.unregister_broker(b) for b in action.brokers]):
                return decision
        case RaiseMetadataVersion():
            if not _admin_step(recorder, settings, cluster, action,
                               lambda a: a.update_features({"metadata.version": action.level})):
                return decision
        case ApplyDynamicConfig():
            return _apply_config(recorder, settings, cluster, decision, action)
        case RestartPod():
            _restart(recorder, cluster, action)
    return decision.succeeded or decision


def _apply_config(recorder: Recorder, settings: Settings, cluster: Cluster, decision: Next,
                  action: ApplyDynamicConfig) -> Next:
    """Set the dynamic config: the cluster-wide keys on the cluster default, the per-broker keys on
    each broker. A key Kafka refuses does not hold back the others: it is reported and applied by a
    rolling restart instead (as Strimzi's roller does)."""
    refused: dict[str, str] = {}

    def call(admin: KafkaAdmin) -> None:
        current = admin.cluster_default_keys()
        stale = stale_defaults(current, action.values)
        if action.cluster_default or stale:
            refused.update(admin.alter_broker_configs(None, action.cluster_default, delete=stale))
        # A refused key's old value on the cluster default would override the value the roll writes to
        # the brokers' files (a dynamic default wins over a static one): delete it.
        if masking := sorted(k for k in refused if k in current and k not in stale):
            admin.alter_broker_configs(None, {}, delete=masking)
        for broker in action.brokers if action.per_broker else ():
            for key, why in admin.alter_broker_configs(broker, action.per_broker).items():
                refused.setdefault(key, f"broker {broker}: {why}")

    if not _admin_step(recorder, settings, cluster, action, call):
        return decision
    if not refused or decision.refused is None:
        return decision.succeeded or decision
    recorder.warn("DynamicConfigRefused", "Kafka refused to change " + "; ".join(
        f"{k}={action.values.get(k, '(delete)')} ({why})" for k, why in sorted(refused.items()))
        + " without a restart: the brokers roll to apply it")
    return decision.refused(refused)


def _recover(recorder: Recorder, cluster: Cluster, action: RecoverPods) -> None:
    for name, r in action.pods:
        if r.action == "replace":
            client().delete_object("v1", "PersistentVolumeClaim", cluster.volume_claim_name(name), cluster.namespace)
            client().delete_pod(name, cluster.namespace, grace_period_seconds=0, uid=r.uid)
        else:
            client().delete_pod(name, cluster.namespace, uid=r.uid)
        type_, reason = RECOVERY_EVENTS[r.action]
        recorder.event(type_, reason, f"recovery plan: {name}: {r.step.message}")


def _admin_step(recorder: Recorder, settings: Settings, cluster: Cluster,
                step: AdminStep, call: Callable[[KafkaAdmin], object]) -> bool:
    def run() -> None:
        with settings.connect(cluster, client()) as admin:
            call(admin)
    return run_operation(recorder, step.what, step.reason, run, note=settings.note)


def _restart(recorder: Recorder, cluster: Cluster, action: RestartPod) -> None:
    if action.reason is RestartReason.REPLACE_REQUESTED:
        # An explicit request to start over with an empty volume: the claim goes first; it is
        # removed once the pod releases it, and the StatefulSet then creates a new one.
        client().delete_object("v1", "PersistentVolumeClaim", cluster.volume_claim_name(action.name),
                                cluster.namespace)
        recorder.info("ReplacingPod", f"replacing {action.name} with a new volume, as requested")
    client().delete_pod(action.name, cluster.namespace, uid=action.uid)
    step_started(KIND, cluster.namespace, cluster.name, action.plan, action.phase, action.name)
    recorder.info("RestartingPod", f"update plan, phase {action.phase}: restarting {action.name} {action.reason.note}")


def _report(ctx: ServiceContext, previous: KafkaClusterStatus, decision: Next) -> None:
    """Write the status, export the plans and readiness, and say when the cluster became Ready."""
    for waits in decision.waiting:
        log.info("update plan: %s", waits)
    if decision.held is not None:
        gate_blocked("kafka", decision.held.blockers)
    ctx.write_status(previous, decision.status)
    ctx.report(previous, decision.status, ready_reason="ClusterReady",
               ready_detail=f"bootstrap {decision.status.bootstrap_servers}")


def _demand(body: dict[str, Any]) -> ServiceClaimSpec | None:
    try:
        return claim_spec(KafkaClusterSpec.model_validate(body.get("spec") or {}))
    except ValidationError:
        return None


SERVICE = ServiceBinding(KAFKA_CLUSTER, _demand, POD_SET_FIELDS)


def _refuse_metadata_downgrade(body: kopf.Body, old: kopf.Body | None, **_: Any) -> None:
    """Refuse a version or metadataVersion whose metadata.version is older than the finalized one."""
    problem = metadata_downgrade((old or {}).get("status", {}).get("metadataVersion"), body.get("spec") or {})
    if problem:
        raise kopf.AdmissionError(problem, code=422)
