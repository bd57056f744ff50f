"""Pure status derivation: what the claim, the StatefulSets and the pods say about a KafkaCluster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..scheduling.claims import Grant
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
from ..sdk.rollout import PodView, pod_step
from .api import METADATA_LEVELS, KafkaClusterSpec, KafkaClusterStatus, ListenerStatus, NodeSetStatus
from .resources import (
    CONFIG_HASH_ANNOTATION,
    ROLE_LABEL,
    ROLES,
    VERSION_ANNOTATION,
    Cluster,
    Role,
    bootstrap_servers,
    digest,
    dynamic_config,
)


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
    """Apply changed values of dynamically updatable broker keys to the running brokers."""
    wanted = dynamic_config(cluster)
    if applied is None or applied == digest(wanted):
        return Step(CONFIG_STEP, Status.COMPLETE)
    return Step(CONFIG_STEP, Status.PENDING, f"set {', '.join(sorted(wanted))} on every broker without a restart")


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
            name = f"{cluster.sts_name(role)}-{ordinal}"
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


def update_target(cluster: Cluster, stateful_sets: dict[Role, dict[str, Any] | None]) -> str:
    """A digest of what the update plan rolls toward: each role's config hash and version, the
    dynamic broker config and the target metadata.version. A new value means a new update."""
    return digest([{r: _wanted(stateful_sets.get(r)) for r in ROLES}, dynamic_config(cluster),
                   cluster.spec.target_metadata_version])


def _restart_order(names: list[str], views: dict[str, PodView], last: int | None) -> list[str]:
    """Pods that are not Ready first, the ordinal ``last`` last, otherwise by ordinal."""
    def key(name: str) -> tuple[bool, bool, int]:
        ordinal = int(name.rsplit("-", 1)[1])
        return (views[name].ready if name in views else True, ordinal == last, ordinal)
    return sorted(names, key=key)


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
        names = _restart_order([f"{cluster.sts_name(role)}-{i}" for i in range(count)], mine,
                               active_controller if role == "controller" else None)
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
           at: str | None = None) -> KafkaClusterStatus:
    """The new status of ``cluster`` from its claim's admission, StatefulSets and pods.

    ``admission`` is the ServiceClaim's Admitted condition (None before the meta-controller
    saw it). Ready is True when every desired controller and broker pod is ready. ``version``
    is set once every pod runs the current spec, so it names what actually runs. ``plan``,
    ``deploy`` and ``recovery`` are the derived plans, ``waiting`` what the next update step
    waits for (its gates), ``scale_down_blocked`` why brokers to be removed are kept. Condition
    transition times are kept when a status does not change.
    """
    sets = {role: node_set_status(cluster, role, stateful_sets.get(role), pods, grants.get(role))
            for role in ROLES}
    admitted = all(s.admitted >= s.desired for s in sets.values())
    ready = all(s.ready >= s.desired for s in sets.values())
    updated = all(s.updated >= s.desired for s in sets.values())
    counts = ", ".join(f"{sets[r].ready}/{sets[r].desired} {r}s ready" for r in ("broker", "controller"))

    def cond(type_: str, status: str, reason: str, message: str) -> Condition:
        return Condition(type=type_, status=status, reason=reason, message=message, observed_generation=generation)

    if admitted:
        admitted_cond = cond("Admitted", "True", "Admitted", admission.message if admission else "admitted")
    elif admission is None:
        admitted_cond = cond("Admitted", "Unknown", "Pending", "the meta-controller has not answered the claim yet")
    else:
        granted = ", ".join(f"{sets[r].admitted}/{sets[r].desired} {r}s" for r in ("broker", "controller"))
        admitted_cond = cond("Admitted", "False", admission.reason if admission.status != "True" else "ScalingUp",
                             f"{granted} admitted: {admission.message}")
    if ready:
        ready_cond = cond("Ready", "True", "AllNodesReady", counts)
    elif not admitted:
        ready_cond = cond("Ready", "False", "NotAdmitted", f"{counts}; {admitted_cond.message}")
    else:
        ready_cond = cond("Ready", "False", "NodesNotReady", counts)
    if not admitted:
        progressing = cond("Progressing", "True", "WaitingForAdmission", admitted_cond.message)
    elif scale_down_blocked:
        progressing = cond("Progressing", "False", "ScaleDownBlocked", scale_down_blocked)
    elif recovery is not None and recovery.status != Status.COMPLETE:
        failing = next(f"{s.name}: {s.message}" for p in recovery.phases for s in p.steps
                       if s.status != Status.COMPLETE)
        progressing = cond("Progressing", "True", "Recovering", f"recovery plan: {failing}")
    elif not ready:
        progressing = cond("Progressing", "True", "Deploying", f"waiting for pods: {counts}")
    elif plan is not None and plan.status == "Error":
        failed = next(f"{s.name}: {s.message}" for p in plan.phases for s in p.steps if s.status == "Error")
        progressing = cond("Progressing", "False", "RolloutStalled", f"update plan stopped at {failed}")
    elif not updated:
        stale = sum(s.desired - s.updated for s in sets.values())
        canary = next((p for p in plan.phases if p.awaiting_proceed), None) if plan is not None else None
        if plan is not None and plan.paused:
            progressing = cond("Progressing", "False", "RolloutPaused",
                               f"{stale} pods run an older config or version; the update plan is paused")
        elif canary is not None:
            done = sum(s.status == Status.COMPLETE for s in canary.steps)
            progressing = cond("Progressing", "False", "CanaryWaiting", (
                f"{done} {canary.name} updated; the canary waits for approval: kubectl annotate --overwrite "
                f"kafkacluster {cluster.name} {PROCEED_ANNOTATION}=update/{canary.name}={done + 1}"))
        else:
            progressing = cond("Progressing", "True", "RollingUpdate", "; ".join([
                f"{stale} pods run an older config or version; restarting them one at a time", *waiting]))
    elif plan is not None and plan.status != "Complete":
        pending = next(s.message for p in plan.phases for s in p.steps if s.status != "Complete")
        progressing = cond("Progressing", "True", "ApplyingChanges", pending)
    else:
        progressing = cond("Progressing", "False", "Stable", "every pod runs the current spec")
    conditions = previous.conditions
    for c in (ready_cond, admitted_cond, progressing):
        conditions = set_condition(conditions, c, at=at)
    was_scaling_down = get_condition(previous.conditions, "ScalingDown")
    if scale_down_blocked:
        conditions = set_condition(conditions, cond("ScalingDown", "True", "BrokersNotEmpty", scale_down_blocked),
                                   at=at)
    elif was_scaling_down is not None and was_scaling_down.status == "True":
        conditions = set_condition(conditions, cond("ScalingDown", "False", "BrokersRemoved", (
            f"the brokers above {cluster.replicas('broker')} held no replicas and were removed")), at=at)

    servers = bootstrap_servers(cluster)
    return KafkaClusterStatus(
        observed_generation=generation,
        conditions=conditions,
        cluster_id=cluster.cluster_id,
        version=cluster.spec.version if ready and updated else previous.version,
        metadata_version=finalized or previous.metadata_version or (
            cluster.spec.target_metadata_version if ready else None),
        dynamic_config=applied or previous.dynamic_config or (digest(dynamic_config(cluster)) if ready else None),
        bootstrap_servers=next(iter(servers.values())),
        listeners=[ListenerStatus(name=n, bootstrap_servers=s) for n, s in servers.items()],
        brokers=sets["broker"],
        controllers=sets["controller"],
        plans=[render_plan(p) for p in (deploy, plan, recovery) if p is not None] or previous.plans,
        update_target=target or previous.update_target,
    )
