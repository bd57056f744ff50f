"""Kafka's decisions, pure: what one pass observed in, the plans, the one action and the status out.

A pass of the handler (operators.kafka.handlers) reads everything once into an :class:`Observed`
snapshot and calls :func:`decide`, which returns a :class:`Next`: at most one action for this pass,
the status to write and when to look again. The action is chosen in this order:

1. **recover** the pods the recovery plan acts on (:func:`operators.sdk.recovery.recover`), before
   any update step: the update's gates would wait for those pods forever;
2. **unregister** the brokers a scale-down removed, once their pods are gone (UnregisterBroker);
3. **raise metadata.version** (UpdateFeatures) once every node runs the new version;
4. **apply the dynamic broker config** (incrementalAlterConfigs) when its values changed;
5. **restart** the update plan's next pod (delete it; the OnDelete StatefulSet recreates it from the
   new template) once its gates allow: the StatefulSet controller has seen the latest template,
   every other pod is Ready, and Kafka's own gate (operators.kafka.gates) unless the pod itself is
   not Ready (restarting a node that serves nothing cannot lower availability; Strimzi).

Before the children are applied, :func:`hold_brokers` decides the shape of a broker scale-down:
the brokers above ``spec.brokers.replicas`` stay until no partition has a replica on them.

The plans are dcos-commons' (operators.sdk.plans): ``deploy`` (parallel, a step per desired pod),
``update`` (serial: controllers, brokers, broker-config, metadata) and ``recovery``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from ..scheduling.claims import Grant
from ..sdk.builders import digest
from ..sdk.conditions import Condition, get_condition, set_condition
from ..sdk.plans import (
    PROCEED_ANNOTATION,
    Phase,
    Plan,
    PlanControls,
    Status,
    Step,
    Strategy,
    derive_plan,
    render_plan,
)
from ..sdk.recovery import NodeFailure, Recovery, completed_steps, lost_pods, recover, recovery_plan
from ..sdk.rollout import PodView, RestartReason, controller_lag, pod_step, restart_allowed
from . import gates
from .api import METADATA_LEVELS, ROLES, KafkaClusterSpec, KafkaClusterStatus, ListenerStatus, NodeSetStatus, Role
from .config import broker_min_insync_replicas, cluster_default_config, dynamic_config, per_broker_config
from .gates import Answer, Answers, PartitionState, Unanswered, replicas_on, restart_blockers_by_reason
from .resources import (
    CONFIG_HASH_ANNOTATION,
    ROLE_LABEL,
    START_REFUSED,
    VERSION_ANNOTATION,
    ZONE_LABEL,
    Cluster,
    bootstrap_servers,
)

# Requeue policy: how soon to look again when no watch event may come.
PROGRESSING_REQUEUE_SECONDS = 5.0  # while Progressing: a gate may open without an event
SCALE_DOWN_REQUEUE_SECONDS = 15.0  # partitions move off brokers without an event the operator watches


def _wanted(sts: dict[str, Any] | None) -> dict[str, str]:
    annotations = ((sts or {}).get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    return {k: annotations[k] for k in (CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION) if k in annotations}


def node_set_status(cluster: Cluster, role: Role, sts: dict[str, Any] | None, pods: list[dict[str, Any]],
                    grant: Grant | None) -> NodeSetStatus:
    """Counts for one role. A pod is *updated* when it carries the config hash and version of the
    StatefulSet's current template: what restarts it would need, not where it may be scheduled."""
    wanted = _wanted(sts)
    views = [PodView.of(p, wanted) for p in pods if p["metadata"].get("labels", {}).get(ROLE_LABEL) == role]
    return NodeSetStatus(
        desired=cluster.replicas(role),
        admitted=grant.count if grant else 0,
        ready=sum(v.ready and not v.deleting for v in views),
        updated=sum(CONFIG_HASH_ANNOTATION in wanted and v.current for v in views),
    )


METADATA_PHASE, METADATA_STEP = "metadata", "metadata.version"
CONFIG_PHASE, CONFIG_STEP = "broker-config", "dynamic"


def metadata_step(cluster: Cluster, finalized: str | None) -> Step:
    """The last step of an upgrade: raise metadata.version once every node runs the new version."""
    target = cluster.spec.target_metadata_version
    current = finalized or target  # a new cluster is formatted at its target
    if METADATA_LEVELS[current] == METADATA_LEVELS[target]:
        return Step(METADATA_STEP, Status.COMPLETE, f"metadata.version {current}")
    if METADATA_LEVELS[current] > METADATA_LEVELS[target]:
        return Step(METADATA_STEP, Status.ERROR, f"metadata.version {current} is in use and newer than {target}; "
                                                 "Kafka cannot lower it")
    return Step(METADATA_STEP, Status.PENDING, f"raise metadata.version from {current} to {target}")


def metadata_downgrade(finalized: str | None, spec: dict[str, Any]) -> str | None:
    """Why ``spec`` would need metadata.version below the ``finalized`` one, or None.

    Kafka can raise metadata.version but not lower it past a finalized level (KIP-778), so a
    version whose binaries cannot run the finalized level is refused, naming both.
    """
    if finalized not in METADATA_LEVELS:
        return None
    try:
        target = KafkaClusterSpec.model_validate(spec).target_metadata_version
    except ValueError:
        return None  # the schema reports the spec itself
    if METADATA_LEVELS[target] >= METADATA_LEVELS[finalized]:
        return None
    field = "spec.metadataVersion" if spec.get("metadataVersion") else "spec.version"
    return (f"{field}: the cluster has finalized metadata.version {finalized}; {spec.get('version')} would need "
            f"{target}, and Kafka cannot lower metadata.version")


def config_step(cluster: Cluster, applied: str | None) -> Step:
    """Apply changed values of dynamically updatable broker keys to the running brokers. Keys Kafka
    refused at their value (``cluster.refused_config``) are not set again: a restart applies them."""
    wanted = cluster.dynamic_config
    refused = {k: v for k, v in cluster.refused_config.items() if k not in wanted}
    rolled = f"; Kafka refused {', '.join(sorted(refused))} without a restart: the brokers roll" if refused else ""
    if applied is None or applied == digest(wanted):
        return Step(CONFIG_STEP, Status.COMPLETE, rolled.removeprefix("; "))
    return Step(CONFIG_STEP, Status.PENDING,
                f"set {', '.join(sorted(wanted))} on every broker without a restart{rolled}")


def deploy_plan(cluster: Cluster, pods: list[dict[str, Any]], grants: dict[str, Grant],
                deployed: set[str], admission: str | None) -> Plan:
    """The ``deploy`` plan: a parallel phase per role with a step per desired pod (the StatefulSets
    start their pods together, as KRaft needs its voters at once). A step is Complete once its pod
    was Ready (``deployed``: the steps the last status showed Complete, so a later restart shows in
    the update or recovery plan, not here), Pending while the pod is not admitted (``admission``:
    the claim's message), Starting until the pod exists, Started until it is Ready. A scale-up adds
    steps, as in DC/OS.
    """
    present = {p["metadata"]["name"] for p in pods}
    ready = {p["metadata"]["name"] for p in pods if PodView.of(p, {}).ready}
    phases = []
    for role in ROLES:
        steps = []
        for ordinal in range(cluster.replicas(role)):
            name = cluster.pod_name(role, ordinal)
            if name in deployed or name in ready:
                steps.append(Step(name, Status.COMPLETE))
            elif ordinal >= (grants[role].count if role in grants else 0):
                steps.append(Step(name, Status.PENDING, f"waiting for admission: {admission or 'not answered yet'}"))
            elif name not in present:
                steps.append(Step(name, Status.STARTING, "waiting for the StatefulSet to create the pod"))
            else:
                steps.append(Step(name, Status.STARTED, "waiting for the pod to become Ready"))
        phases.append(Phase(f"{role}s", steps, Strategy.PARALLEL))
    return derive_plan("deploy", phases, strategy=Strategy.PARALLEL)


def update_revision(cluster: Cluster, stateful_sets: dict[Role, dict[str, Any] | None]) -> str:
    """A digest of what the update plan rolls toward: each role's config hash and version, the
    dynamic broker config and the target metadata.version. A new value means a new update."""
    return digest([{r: _wanted(stateful_sets.get(r)) for r in ROLES}, cluster.dynamic_config,
                   cluster.spec.target_metadata_version])


def _restart_order(cluster: Cluster, role: Role, count: int, views: dict[str, PodView],
                   last: int | None) -> list[str]:
    """The pod names of ordinals 0..count-1: not Ready first, the ordinal ``last`` last, otherwise by ordinal."""
    def key(ordinal: int) -> tuple[bool, bool, int]:
        view = views.get(cluster.pod_name(role, ordinal))
        return (view.ready if view is not None else True, ordinal == last, ordinal)
    return [cluster.pod_name(role, i) for i in sorted(range(count), key=key)]


def update_plan(cluster: Cluster, stateful_sets: dict[Role, dict[str, Any] | None], pods: list[dict[str, Any]],
                grants: dict[str, Grant], controls: PlanControls, *, now: datetime,
                finalized: str | None = None, applied: str | None = None,
                active_controller: int | None = None) -> tuple[Plan, list[PodView]]:
    """The ``update`` plan, serial: controllers, then brokers, one pod at a time; then the
    dynamic broker config through the Admin API; then metadata.version raised to the target
    (Kafka's two-step upgrade: binaries first, metadata last).

    Within a role, pods that are not Ready go first (restarting them cannot make things
    worse), then by ordinal; the active controller (``active_controller``, an ordinal, when
    the quorum could be asked) goes last among the controllers, so leadership moves once
    (Strimzi KafkaRoller). The brokers phase is a canary when ``spec.rollout.canary`` is set.
    Only admitted pods take part. Returns the plan and every pod's view, which the readiness
    gate between steps needs.
    """
    views: list[PodView] = []
    phases = []
    timeout = float(cluster.spec.rollout.pod_ready_timeout_seconds)
    for role in ROLES:
        wanted = _wanted(stateful_sets.get(role))
        mine = {v.name: v for v in (PodView.of(p, wanted) for p in pods
                                    if p["metadata"].get("labels", {}).get(ROLE_LABEL) == role)}
        views += mine.values()
        count = grants[role].count if role in grants else 0
        names = _restart_order(cluster, role, count, mine, active_controller if role == "controller" else None)
        steps = [pod_step(n, mine.get(n), now=now, timeout=timeout) for n in names]
        canary = cluster.spec.rollout.canary if role == "broker" else 0
        phases.append(Phase(f"{role}s", steps, Strategy.SERIAL_CANARY, canary) if canary
                      else Phase(f"{role}s", steps))
    phases.append(Phase(CONFIG_PHASE, [config_step(cluster, applied)]))
    phases.append(Phase(METADATA_PHASE, [metadata_step(cluster, finalized)]))
    return derive_plan("update", phases, controls=controls), views


def derive(cluster: Cluster, generation: int, *, stateful_sets: dict[Role, dict[str, Any] | None],
           pods: list[dict[str, Any]], grants: dict[str, Grant], admission: Condition | None,
           previous: KafkaClusterStatus, plan: Plan | None = None, deploy: Plan | None = None,
           recovery: Plan | None = None, waiting: Sequence[str] = (), scale_down_blocked: str | None = None,
           finalized: str | None = None, applied: str | None = None, target: str | None = None,
           lost: Mapping[str, str] | None = None, removed: Sequence[int] = (),
           at: str | None = None) -> KafkaClusterStatus:
    """The new status of ``cluster`` from its claim's admission, StatefulSets and pods.

    ``admission`` is the ServiceClaim's Admitted condition (None before the meta-controller
    saw it). Ready is True when every desired controller and broker pod is ready. ``version``
    is set once every pod runs the current spec, so it names what actually runs. ``plan``,
    ``deploy`` and ``recovery`` are the derived plans, ``waiting`` what the next update step
    waits for (its gates), ``scale_down_blocked`` why brokers to be removed are kept, ``lost`` the pods
    whose node failed (operators.sdk.recovery.lost_pods): Degraded (NodeLost) names their nodes;
    ``removed`` the removed brokers still to unregister (:func:`removed_brokers`).
    Condition transition times are kept when a status does not change.
    """
    sets = {role: node_set_status(cluster, role, stateful_sets.get(role), pods, grants.get(role))
            for role in ROLES}
    ready = all(s.ready >= s.desired for s in sets.values())
    updated = all(s.updated >= s.desired for s in sets.values())
    admitted = _admitted_condition(sets, admission)
    conditions = previous.conditions
    for c in (_ready_condition(sets, admitted, start_refusals(pods)), admitted,
              _progressing_condition(cluster, sets, admitted, plan, recovery, waiting, scale_down_blocked),
              _scaling_down_condition(cluster, previous, scale_down_blocked),
              _degraded_condition(lost or {}, previous)):
        if c is not None:
            conditions = set_condition(conditions, c.model_copy(update={"observed_generation": generation}), at=at)

    servers = bootstrap_servers(cluster)
    return KafkaClusterStatus(
        observed_generation=generation,
        conditions=conditions,
        cluster_id=cluster.cluster_id,
        version=cluster.spec.version if ready and updated else previous.version,
        metadata_version=finalized or previous.metadata_version or (
            cluster.spec.target_metadata_version if ready else None),
        dynamic_config_hash=applied or previous.dynamic_config_hash or (
            digest(cluster.dynamic_config) if ready else None),
        # A refusal is kept while the spec asks for the refused value; a new value is tried dynamically.
        refused_config={k: v for k, v in cluster.refused_config.items() if dynamic_config(cluster.spec).get(k) == v},
        removed_brokers=list(removed),
        bootstrap_servers=next(iter(servers.values())),
        listeners=[ListenerStatus(name=n, bootstrap_servers=s) for n, s in servers.items()],
        brokers=sets["broker"],
        controllers=sets["controller"],
        plans=[render_plan(p) for p in (deploy, plan, recovery) if p is not None] or previous.plans,
        update_revision=target or previous.update_revision,
    )


def _degraded_condition(lost: Mapping[str, str], previous: KafkaClusterStatus) -> Condition | None:
    """Degraded: True while a pod's node is lost (NotReady or gone), naming pod and node (the recovery plan
    says what is done about it); False once none is, and absent until a node was first lost."""
    if lost:
        return Condition(type="Degraded", status="True", reason="NodeLost",
                         message="; ".join(f"{pod} on {why}" for pod, why in lost.items()))
    if get_condition(previous.conditions, "Degraded") is None:
        return None
    return Condition(type="Degraded", status="False", reason="NoNodeLost", message="every pod's node is Ready")


def _counts(sets: dict[Role, NodeSetStatus]) -> str:
    return ", ".join(f"{sets[r].ready}/{sets[r].desired} {r}s ready" for r in ("broker", "controller"))


def _admitted_condition(sets: dict[Role, NodeSetStatus], admission: Condition | None) -> Condition:
    """Admitted: every desired pod is admitted (the claim's message), or how many are and why not."""
    if all(s.admitted >= s.desired for s in sets.values()):
        return Condition(type="Admitted", status="True", reason="Admitted",
                         message=admission.message if admission else "admitted")
    if admission is None:
        return Condition(type="Admitted", status="Unknown", reason="Pending",
                         message="the meta-controller has not answered the claim yet")
    granted = ", ".join(f"{sets[r].admitted}/{sets[r].desired} {r}s" for r in ("broker", "controller"))
    return Condition(type="Admitted", status="False",
                     reason=admission.reason if admission.status != "True" else "ScalingUp",
                     message=f"{granted} admitted: {admission.message}")


def _ready_condition(sets: dict[Role, NodeSetStatus], admitted: Condition, refusals: Sequence[str]) -> Condition:
    """Ready: every desired controller and broker pod is Ready; else why not, with the start
    script's refusals (:func:`start_refusals`) first."""
    counts = _counts(sets)
    if all(s.ready >= s.desired for s in sets.values()):
        return Condition(type="Ready", status="True", reason="AllNodesReady", message=counts)
    if admitted.status != "True":
        return Condition(type="Ready", status="False", reason="NotAdmitted", message=f"{counts}; {admitted.message}")
    if refusals:
        return Condition(type="Ready", status="False", reason="StartRefused", message="; ".join([counts, *refusals]))
    return Condition(type="Ready", status="False", reason="NodesNotReady", message=counts)


def start_refusals(pods: Sequence[dict[str, Any]]) -> list[str]:
    """``<pod>: <why>`` for every pod whose start script refused to start Kafka (the ``kafka``
    container's termination message, current or last, carries :data:`START_REFUSED`). Sorted."""
    out = []
    for p in pods:
        for c in (p.get("status") or {}).get("containerStatuses") or []:
            if c.get("name") != "kafka":
                continue
            for state in (c.get("state") or {}, c.get("lastState") or {}):
                message = (state.get("terminated") or {}).get("message") or ""
                line = next((ln for ln in message.splitlines() if ln.startswith(START_REFUSED)), None)
                if line:
                    out.append(f"{p['metadata']['name']}: {line}")
                    break
    return sorted(out)


def _progressing_condition(cluster: Cluster, sets: dict[Role, NodeSetStatus], admitted: Condition,
                           plan: Plan | None, recovery: Plan | None, waiting: Sequence[str],
                           scale_down_blocked: str | None) -> Condition:
    """Progressing: what the operator is doing (True) or why it stands still (False), first match wins."""
    def cond(status: str, reason: str, message: str) -> Condition:
        return Condition(type="Progressing", status=status, reason=reason, message=message)

    if admitted.status != "True":
        return cond("True", "WaitingForAdmission", admitted.message)
    if scale_down_blocked:
        return cond("False", "ScaleDownBlocked", scale_down_blocked)
    if recovery is not None and recovery.status != Status.COMPLETE:
        failing = next(f"{s.name}: {s.message}" for p in recovery.phases for s in p.steps
                       if s.status != Status.COMPLETE)
        return cond("True", "Recovering", f"recovery plan: {failing}")
    if not all(s.ready >= s.desired for s in sets.values()):
        return cond("True", "Deploying", f"waiting for pods: {_counts(sets)}")
    if plan is not None and plan.status == "Error":
        failed = next(f"{s.name}: {s.message}" for p in plan.phases for s in p.steps if s.status == "Error")
        return cond("False", "RolloutStalled", f"update plan stopped at {failed}")
    if not all(s.updated >= s.desired for s in sets.values()):
        stale = sum(s.desired - s.updated for s in sets.values())
        canary = next((p for p in plan.phases if p.awaiting_proceed), None) if plan is not None else None
        if plan is not None and plan.paused:
            return cond("False", "RolloutPaused", f"{stale} pods run an older config or version; the update plan "
                                                  "is paused")
        if canary is not None:
            done = sum(s.status == Status.COMPLETE for s in canary.steps)
            return cond("False", "CanaryWaiting", (
                f"{done} {canary.name} updated; the canary waits for approval: kubectl annotate --overwrite "
                f"kafkacluster {cluster.name} {PROCEED_ANNOTATION}=update/{canary.name}={done + 1}"))
        return cond("True", "RollingUpdate", "; ".join([
            f"{stale} pods run an older config or version; restarting them one at a time", *waiting]))
    if plan is not None and plan.status != "Complete":
        pending = next(s.message for p in plan.phases for s in p.steps if s.status != "Complete")
        return cond("True", "ApplyingChanges", pending)
    return cond("False", "Stable", "every pod runs the current spec")


def _scaling_down_condition(cluster: Cluster, previous: KafkaClusterStatus,
                            scale_down_blocked: str | None) -> Condition | None:
    """ScalingDown: True while brokers to remove still hold replicas, False once they were removed;
    None (left as it is, or absent) otherwise."""
    if scale_down_blocked:
        return Condition(type="ScalingDown", status="True", reason="BrokersNotEmpty", message=scale_down_blocked)
    was = get_condition(previous.conditions, "ScalingDown")
    if was is not None and was.status == "True":
        return Condition(type="ScalingDown", status="False", reason="BrokersRemoved", message=(
            f"the brokers above {cluster.replicas('broker')} held no replicas and were removed"))
    return None


# --------------------------------------------------------------------------- scale-down shape


@dataclass(frozen=True)
class ScaleDown:
    """The shape of a broker scale-down this pass.

    ``cluster`` is what runs: the spec's, or one that keeps the brokers above
    ``spec.brokers.replicas`` while ``blocked`` says why. ``removing`` names the brokers whose
    removal starts now (their StatefulSet and the claim shrink when this cluster is applied).
    """

    cluster: Cluster
    blocked: str | None = None
    removing: tuple[int, ...] = ()


def scaling_down(cluster: Cluster, running: int) -> bool:
    """True when the broker StatefulSet runs more brokers (``running``) than the spec wants."""
    return running > cluster.replicas("broker")


def hold_brokers(cluster: Cluster, running: int,
                 partitions: Answer[tuple[list[PartitionState], int | None]] | None) -> ScaleDown:
    """The cluster to run during a broker scale-down, and why it waits.

    The brokers above ``spec.brokers.replicas`` stay until no partition has a replica on them
    (:func:`operators.kafka.gates.replicas_on`); then the StatefulSet and the claim shrink, and
    the StatefulSet removes the highest ordinals, keeping or deleting their volumes per
    ``deleteClaim``. An assignment that cannot be read (``partitions`` failed, or was not asked)
    keeps them too. ``running`` is the broker StatefulSet's ``spec.replicas``.
    """
    wanted = cluster.replicas("broker")
    if running <= wanted:
        return ScaleDown(cluster)
    removing = tuple(range(wanted, running))
    kept = cluster.keeping_brokers(running)
    if partitions is None or partitions.error is not None:
        why = partitions.error if partitions is not None else "not asked"
        return ScaleDown(kept, f"cannot read the partition assignment: {why}")
    left = replicas_on(removing, partitions.get("describe partitions")[0])
    if left:
        names = ", ".join(map(str, removing))
        shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
        return ScaleDown(kept, (
            f"brokers {names} still hold replicas of {len(left)} partitions ({shown}); reassign them to brokers "
            f"0-{wanted - 1} (kafka-reassign-partitions.sh) and the scale-down continues"))
    return ScaleDown(cluster, removing=removing)


# --------------------------------------------------------------------------- one pass: observed → next


@dataclass(frozen=True)
class Observed:
    """Everything one pass reads, each thing once.

    ``cluster`` is the cluster as it runs this pass (``scale_down.cluster``); ``generation`` its
    ``metadata.generation``; ``previous`` the status the pass started from; ``stateful_sets`` the
    live StatefulSets by role as applied this pass (None: absent); ``grants`` and ``admission``
    the ServiceClaim's admission (:func:`operators.scheduling.claims.grants`, ``admission_condition``);
    ``pods`` every pod of the cluster; ``failures`` the failed nodes among
    :func:`nodes_to_check` by name; ``answers`` what the cluster's Admin API said, asked only for
    :func:`gated_roles` (and the partitions of a scale-down).
    """

    cluster: Cluster
    generation: int
    previous: KafkaClusterStatus
    stateful_sets: dict[Role, dict[str, Any] | None]
    grants: dict[str, Grant]
    admission: Condition | None
    pods: list[dict[str, Any]]
    failures: dict[str, NodeFailure] = field(default_factory=dict)
    answers: Answers = Answers()
    scale_down: ScaleDown | None = None

    @cached_property
    def target(self) -> str:
        """The update target of the live StatefulSets (:func:`update_revision`); a new one starts a new update."""
        return update_revision(self.cluster, self.stateful_sets)

    @cached_property
    def active_controller(self) -> int | None:
        """The ordinal of the active controller (the KRaft quorum leader), None when unknown."""
        quorum = self.answers.quorum
        leader = gates.active_controller(quorum.value) if quorum is not None and quorum.value is not None else None
        if leader is None:
            return None
        role, ordinal = self.cluster.node_of(leader)
        return ordinal if role == "controller" else None


def missing_racks(pods: Sequence[dict[str, Any]],
                  zones: dict[str, str | None]) -> list[str]:
    """The broker pods bound to a node with a zone (``zones``: node name -> its
    ``topology.kubernetes.io/zone``) that do not carry it: their ``broker.rack`` is unset, so Kafka
    may put every replica of a partition in one zone. Sorted messages, one per pod."""
    out = []
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        node = (p.get("spec") or {}).get("nodeName")
        if labels.get(ROLE_LABEL) != "broker" or not node or ZONE_LABEL in labels or not zones.get(node):
            continue
        out.append(f"{p['metadata']['name']} on node {node} (zone {zones[node]}) has no {ZONE_LABEL} label, so "
                   "broker.rack is unset: the API server copies it at binding only with the PodTopologyLabels "
                   "admission plugin (Kubernetes 1.35+)")
    return sorted(out)


def unlabelled_brokers(pods: Sequence[dict[str, Any]]) -> list[str]:
    """The nodes of bound broker pods without a zone label: the nodes :func:`missing_racks` needs. Sorted."""
    return sorted({p["spec"]["nodeName"] for p in pods
                   if (p["metadata"].get("labels") or {}).get(ROLE_LABEL) == "broker"
                   and (p.get("spec") or {}).get("nodeName")
                   and ZONE_LABEL not in (p["metadata"].get("labels") or {})})


def nodes_to_check(pods: Sequence[dict[str, Any]], previous: KafkaClusterStatus) -> list[str]:
    """The nodes whose failure a recovery may depend on: those of pods that were deployed (the last
    status showed their deploy step Complete) and are not Ready now. Sorted, each once."""
    deployed = set(completed_steps(previous.plans, "deploy"))
    return sorted({p["spec"]["nodeName"] for p in pods if (p.get("spec") or {}).get("nodeName")
                   and p["metadata"]["name"] in deployed and not PodView.of(p, {}).ready})


def gated_roles(stateful_sets: dict[Role, dict[str, Any] | None], pods: Sequence[dict[str, Any]]) -> frozenset[Role]:
    """The roles whose Kafka gate this pass may ask: those with a pod the update would restart.

    Brokers need the partitions, controllers the quorum (also to restart the active one last).
    """
    return frozenset(role for role in ROLES for p in pods
                     if p["metadata"].get("labels", {}).get(ROLE_LABEL) == role
                     and PodView.of(p, _wanted(stateful_sets.get(role))).restart_reason is not None)


@dataclass(frozen=True)
class RecoverPods:
    """Carry out the recovery plan's actions, one per pod: restart (delete the pod; it comes back
    with its volume), replace (delete its volume, then force-delete the pod: its node is gone and
    nothing will confirm a graceful stop) and reschedule (delete an unscheduled pod so that it is
    recreated where it is admitted). ``pods`` is ``(pod name, recovery)`` by name."""

    pods: tuple[tuple[str, Recovery], ...]


@dataclass(frozen=True)
class UnregisterBrokers:
    """Unregister ``brokers`` (node ids) from the controllers (KRaft UnregisterBroker, KIP-631) once a
    scale-down removed their pods: a removed broker stays registered (fenced) otherwise, and a later
    broker of the same id would inherit its registration (Strimzi's reconcile unregisters them too,
    KafkaReconciler "node unregistration")."""

    brokers: tuple[int, ...]

    reason = "BrokersUnregistered"

    @property
    def what(self) -> str:
        return f"unregister brokers {', '.join(map(str, self.brokers))} from the controllers"


def removed_brokers(o: Observed) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The brokers a scale-down removed that are still registered as far as the status knows (the last
    status' ``removedBrokers`` and those whose removal starts this pass), less ids the spec wants again;
    and of those, the ones whose pods are gone (to unregister now)."""
    wanted = o.cluster.replicas("broker")
    removing = o.scale_down.removing if o.scale_down else ()
    pending = tuple(sorted(b for b in {*o.previous.removed_brokers, *removing} if b >= wanted))
    names = {p["metadata"]["name"] for p in o.pods}
    return pending, tuple(b for b in pending if o.cluster.pod_name("broker", b) not in names)


@dataclass(frozen=True)
class RaiseMetadataVersion:
    """Finalize metadata.version at ``target`` (UpdateFeatures, KIP-584) from ``current`` (None: unknown)."""

    current: str | None
    target: str

    reason = "MetadataVersionRaised"

    @property
    def level(self) -> int:
        """The feature level UpdateFeatures takes for ``target``."""
        return METADATA_LEVELS[self.target]

    @property
    def what(self) -> str:
        return f"metadata.version {self.current} -> {self.target}"


@dataclass(frozen=True)
class ApplyDynamicConfig:
    """Set the dynamically updatable ``values`` (incrementalAlterConfigs): the cluster-wide keys once on
    the cluster default (:attr:`cluster_default`), the per-broker keys on every broker of ``brokers``
    (:attr:`per_broker`)."""

    values: dict[str, str]
    brokers: tuple[int, ...]

    reason = "DynamicConfigApplied"

    @property
    def cluster_default(self) -> dict[str, str]:
        return cluster_default_config(self.values)

    @property
    def per_broker(self) -> dict[str, str]:
        return per_broker_config(self.values)

    @property
    def what(self) -> str:
        """What every broker of ``brokers`` takes (through the cluster default or its own resource)."""
        return (f"set {', '.join(f'{k}={v}' for k, v in sorted(self.values.items()))} on brokers "
                f"{', '.join(map(str, self.brokers))}")


@dataclass(frozen=True)
class RestartPod:
    """Delete pod ``name`` (``role``, ``ordinal``) of the update plan's ``phase``: the StatefulSet
    recreates it from the current template (OnDelete). For ``REPLACE_REQUESTED`` its volume claim
    goes first, so it comes back empty. ``uid`` is the pod incarnation the restart is for."""

    plan: str
    phase: str
    name: str
    role: Role
    ordinal: int
    uid: str | None
    reason: RestartReason


Action = RecoverPods | UnregisterBrokers | RaiseMetadataVersion | ApplyDynamicConfig | RestartPod
AdminStep = UnregisterBrokers | RaiseMetadataVersion | ApplyDynamicConfig


@dataclass(frozen=True)
class Next:
    """What one pass does and reports.

    ``action`` is at most one action, None when there is nothing to do or the next step waits
    (``waiting`` says for what, ``held`` the same by reason). ``status`` is the status to write,
    ``requeue_after`` seconds to look again sooner than the resync (None: on the next event). For an Admin step,
    ``succeeded`` is the Next once it succeeded (its outcome is recorded in status:
    ``metadataVersion``, ``dynamicConfigHash``); on failure ``status`` keeps the step Pending. For
    :class:`ApplyDynamicConfig`, ``refused`` gives the Next once Kafka took some keys and refused the
    others (key -> Kafka's error): the refused values are recorded in ``refusedConfig`` and applied by
    a rolling restart, and the step completes with the rest.
    """

    action: Action | None
    status: KafkaClusterStatus
    requeue_after: float | None
    waiting: tuple[str, ...] = ()
    held: Waiting | None = None
    succeeded: Next | None = None
    refused: Callable[[Mapping[str, str]], Next] | None = None

    @property
    def progressing(self) -> bool:
        return get_condition(self.status.conditions, "Progressing").status != "False"


def decide(o: Observed, controls: PlanControls, now: datetime) -> Next:
    """The plans, the one action and the status of one pass over ``o`` at ``now`` (aware, UTC);
    ``controls`` are the plan-control annotations in force. See the module docstring for the order."""
    finalized, applied = o.previous.metadata_version, o.previous.dynamic_config_hash
    plan, views = _update(o, controls, now, finalized, applied)
    deploy = deploy_plan(o.cluster, o.pods, o.grants, set(completed_steps(o.previous.plans, "deploy")),
                         o.admission.message if o.admission else None)
    recoveries = _recoveries(o, deploy, now)
    recovery = recovery_plan(recoveries, o.previous.plans, controls=controls)
    action: Action | None = None
    waiting: Waiting | None = None
    _, gone = removed_brokers(o)
    if not recovery.paused and any(r.action for r in recoveries.values()):
        action = RecoverPods(tuple((n, r) for n, r in sorted(recoveries.items()) if r.action))
    elif gone:
        action = UnregisterBrokers(gone)
    elif (METADATA_PHASE, METADATA_STEP) in plan.next_steps:
        action = RaiseMetadataVersion(finalized, o.cluster.spec.target_metadata_version)
    elif (CONFIG_PHASE, CONFIG_STEP) in plan.next_steps:
        action = ApplyDynamicConfig(o.cluster.dynamic_config, tuple(range(o.cluster.replicas("broker"))))
    else:
        action, waiting = _restart_next(o, plan, views)
        plan = _with_message(plan, waiting)
    next_ = _next(o, action, plan, deploy, recovery, recoveries, waiting, finalized, applied)
    if isinstance(action, UnregisterBrokers):
        succeeded = _next(o, None, plan, deploy, recovery, recoveries, None, finalized, applied, action.brokers)
        return replace(next_, succeeded=succeeded)
    if isinstance(action, RaiseMetadataVersion):
        done, _ = _update(o, controls, now, action.target, applied)
        succeeded = _next(o, None, done, deploy, recovery, recoveries, None, action.target, applied)
        return replace(next_, succeeded=succeeded)
    if isinstance(action, ApplyDynamicConfig):
        def after(refused: Mapping[str, str]) -> Next:
            cluster = replace(o.cluster, refused_config={**o.cluster.refused_config,
                                                         **{k: action.values[k] for k in refused
                                                            if k in action.values}})
            taken = replace(o, cluster=cluster)
            applied = digest(cluster.dynamic_config)
            done, _ = _update(taken, controls, now, finalized, applied)
            return _next(taken, None, done, deploy, recovery, recoveries, None, finalized, applied)
        return replace(next_, succeeded=after({}), refused=after)
    return next_


def _update(o: Observed, controls: PlanControls, now: datetime, finalized: str | None,
            applied: str | None) -> tuple[Plan, list[PodView]]:
    return update_plan(o.cluster, o.stateful_sets, o.pods, o.grants, controls, now=now, finalized=finalized,
                       applied=applied, active_controller=o.active_controller)


def _recoveries(o: Observed, deploy: Plan, now: datetime) -> dict[str, Recovery]:
    """Which pods need recovering (operators.sdk.recovery): brokers may be replaced on a new volume
    after ``spec.recovery.nodeFailureTimeoutSeconds``; controllers only wait for their node."""
    deployed = {s.name for p in deploy.phases for s in p.steps if s.status == Status.COMPLETE}
    ongoing = {s.name for p in o.previous.plans if p.name == "recovery" for ph in p.phases for s in ph.steps
               if s.status != Status.COMPLETE}
    role_of = {p["metadata"]["name"]: p["metadata"].get("labels", {}).get(ROLE_LABEL) for p in o.pods}
    templates = {name: (o.stateful_sets.get(role) or {}).get("spec", {}).get("template")
                 for name, role in role_of.items()}
    return recover(o.pods, o.failures, templates=templates, deployed=deployed, ongoing=ongoing,
                   replaceable={n for n, r in role_of.items() if r == "broker"},
                   timeout=o.cluster.spec.recovery.node_failure_timeout_seconds, now=now)


# Why a restart waits, besides Kafka's own gates (gates.MIN_ISR, REGISTRATION, QUORUM): the label
# ``reason`` of smack_gate_blocked_total.
STATEFULSET_LAG, PODS_NOT_READY, UNANSWERED = "statefulset-lag", "pods-not-ready", "unanswered"
SHOWN_BLOCKERS = 3  # blockers of one reason a held step's message shows (Waiting.message)


@dataclass(frozen=True)
class Waiting:
    """The update plan's next step held by its gates: ``step`` (phase, step name), ``blockers`` by
    reason (:data:`STATEFULSET_LAG`, :data:`PODS_NOT_READY`, :data:`UNANSWERED`, gates.MIN_ISR,
    gates.REGISTRATION, gates.QUORUM) -> their messages."""

    step: tuple[str, str]
    blockers: Mapping[str, Sequence[str]]

    @property
    def message(self) -> str:
        """``waiting: <blocker>; <blocker>``, the step's message while it waits: the cause first (a broker
        fenced or not answering, then the quorum), then what it would do to the partitions; at most
        :data:`SHOWN_BLOCKERS` of each reason, the rest counted (``(+N more)``), so the message stays
        readable when a stopped broker leaves every partition it held at its minimum ISR."""
        causes = sorted(self.blockers.items(), key=lambda item: item[0] == gates.MIN_ISR)
        parts = []
        for _, blockers in causes:
            parts += blockers[:SHOWN_BLOCKERS]
            if len(blockers) > SHOWN_BLOCKERS:
                parts[-1] += f" (+{len(blockers) - SHOWN_BLOCKERS} more)"
        return "waiting: " + "; ".join(parts)


def _restart_next(o: Observed, plan: Plan, views: list[PodView]) -> tuple[RestartPod | None, Waiting | None]:
    """The restart of the update plan's next pod when its gates allow, else what it waits for."""
    if not plan.next_steps:
        return None, None
    phase, name = plan.next_steps[0]
    status = next(s.status for p in plan.phases if p.name == phase for s in p.steps if s.name == name)
    members = {o.cluster.pod_name(r, i): (r, i) for r in ROLES
               for i in range(o.grants[r].count if r in o.grants else 0)}
    if status != Status.PENDING or name not in members:
        return None, None
    role, ordinal = members[name]
    view = next((v for v in views if v.name == name), None)
    lag = controller_lag(o.stateful_sets.get(role))
    blockers: dict[str, list[str]] = {STATEFULSET_LAG: [lag]} if lag else {}
    if not blockers and (not_ready := restart_allowed(name, views)):
        blockers = {PODS_NOT_READY: not_ready}
    if not blockers and view is not None and view.ready:
        try:
            blockers = restart_blockers_by_reason(
                o.answers, role, o.cluster.node_id(role, ordinal), broker_min_insync_replicas(o.cluster.spec),
                brokers=range(o.grants["broker"].count if "broker" in o.grants else 0))
        except Unanswered as exc:
            blockers = {UNANSWERED: [f"cannot ask the cluster whether {name} may restart: {exc}"]}
    if blockers:
        return None, Waiting((phase, name), blockers)
    reason = (view.restart_reason if view is not None else None) or RestartReason.OUTDATED
    return RestartPod(plan.name, phase, name, role, ordinal, view.uid if view else None, reason), None


def _with_message(plan: Plan, waiting: Waiting | None) -> Plan:
    """``plan`` with the waiting step's message saying what it waits for."""
    if waiting is None:
        return plan
    phase_name, step_name = waiting.step
    phases = tuple(replace(ph, steps=tuple(replace(s, message=waiting.message) if s.name == step_name else s
                                           for s in ph.steps)) if ph.name == phase_name else ph
                   for ph in plan.phases)
    return replace(plan, phases=phases)


def _next(o: Observed, action: Action | None, plan: Plan, deploy: Plan, recovery: Plan,
          recoveries: dict[str, Recovery], waiting: Waiting | None, finalized: str | None,
          applied: str | None, unregistered: tuple[int, ...] = ()) -> Next:
    blocked = o.scale_down.blocked if o.scale_down else None
    pending, _ = removed_brokers(o)
    status = derive(o.cluster, o.generation, stateful_sets=o.stateful_sets, pods=o.pods, grants=o.grants,
                    admission=o.admission, previous=o.previous, plan=plan, deploy=deploy, recovery=recovery,
                    waiting=waiting_lines(waiting), scale_down_blocked=blocked, finalized=finalized, applied=applied,
                    target=o.target, lost=lost_pods(o.pods, o.failures),
                    removed=[b for b in pending if b not in unregistered])
    due = [r.due_in for r in recoveries.values() if r.due_in is not None]
    if get_condition(status.conditions, "Progressing").status == "True":
        due.append(PROGRESSING_REQUEUE_SECONDS)
    if blocked:
        due.append(SCALE_DOWN_REQUEUE_SECONDS)
    return Next(action, status, min(due, default=None), waiting_lines(waiting), waiting)


def waiting_lines(waiting: Waiting | None) -> tuple[str, ...]:
    """``<pod> waits: <blockers>``, the line of the Progressing condition (none when nothing waits)."""
    if waiting is None:
        return ()
    return (f"{waiting.step[1]} waits: {waiting.message.removeprefix('waiting: ')}",)
