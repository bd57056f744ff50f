"""Pure decisions for a CassandraDatacenter: node records, plans, the next action and the status.

Everything here is computed from what the cluster shows (StatefulSets, pods, volumes, the ring)
and from the node records kept in ``status.nodes`` (what has no pod-visible trace: a node joined,
left the ring, needs cleanup or upgradesstables, replaces a dead node). Three plans, each serial:

* ``deploy``: phase ``bootstrap``, one step per node of ``size`` in bootstrap order (round-robin over
  the racks, so each rack grows by one in turn), each node created only once every other node is up
  and normal; then phase ``cleanup``: ``nodetool cleanup`` on every node that lost ranges to a node
  that joined after the first deploy (a scale-up).
* ``decommission``: one step per node leaving on scale-down, taken from the rack with the most nodes
  (ties: the last rack), its highest ordinal (cass-operator's order): decommission, then the pod is
  removed (StatefulSet replicas - 1) and, per ``storage.deleteClaim``, its volume.
* ``update``: an optional ``canary`` phase (the first ``spec.rollout.canary`` nodes), then one phase per rack
  in rack order, one node at a time: drain and restart every node whose pod runs an older config or
  version, or that a person asked to restart or replace (pod annotations smack.dev/restart,
  smack.dev/replace); then ``upgradesstables`` on every node after a major version upgrade. After a
  canary the next phase waits for ``smack.dev/plan-proceed=update=1``.

One pass is :func:`decide`: the :class:`Observed` snapshot in (objects, the probe's ring and
cluster information, the previous status), and out a :class:`Next`: the claim and children to apply,
the seed labels, at most one node action whose gate is open (or the :class:`Wait` naming its
blockers), the status and when to look again. The handler only carries it out. The cluster information
costs a JVM start in a pod, so the handler reads it only when :func:`needs_cluster_info` says the first
decision would act on a node, and then decides again with it.

Sources: cass-operator ReconcileAllRacks (one disruptive action per pass, new nodes to the racks
with the fewest, decommission from the rack with the most), DC/OS Cassandra plans,
shared/anchors/cassandra-anchors.md (b).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from kubernetes.utils import parse_quantity

from ..scheduling.claims import Grant, grants
from ..sdk.builders import digest
from ..sdk.conditions import Condition, set_condition
from ..sdk.plans import IN_FLIGHT, Phase, Plan, PlanControls, Status, Step, Strategy, derive_plan, render_plan
from ..sdk.recovery import NodeFailure, lost_pods
from ..sdk.rollout import PodView, controller_lag, pod_step, restart_allowed
from .api import CassandraDatacenterStatus, NodeStatus, major
from .gates import Blocker, ClusterInfo, RingNode, decommission_blockers, restart_blockers
from .resources import (
    CONFIG_HASH_ANNOTATION,
    DECOMMISSIONED_ANNOTATION,
    DRAINED_ANNOTATION,
    SEED_LABEL,
    VERSION_ANNOTATION,
    Datacenter,
    build,
    config_hash,
    config_map,
    seeds,
    service_claim,
)

ROLLOUT_TIMEOUT = 1800.0  # seconds a restarted node may take to become Ready before the update stops
# Seconds to the next pass while a plan works: a node's progress in the ring sends no watch event.
PROGRESS_REQUEUE = 5.0
BOOTSTRAP, CLEANUP, DECOMMISSION, CANARY, UPGRADESSTABLES = (
    "bootstrap", "cleanup", "decommission", "canary", "upgradesstables")


def wanted(sts: Mapping[str, Any] | None) -> dict[str, str]:
    """The annotations a pod of this StatefulSet must carry to be up to date (its template's)."""
    annotations = ((sts or {}).get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    return {k: annotations[k] for k in (CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION) if k in annotations}


def update_revision(dc: Datacenter) -> str:
    """A digest of what every rack's pods should run (the annotations its StatefulSet template gets);
    a new value starts a new update (and canary)."""
    return digest({r.name: {CONFIG_HASH_ANNOTATION: config_hash(config_map(dc, r.name, {})),
                            VERSION_ANNOTATION: dc.spec.server_version} for r in dc.racks})


def stale_views(pods: Sequence[Mapping[str, Any]], previous: CassandraDatacenterStatus) -> set[str]:
    """Pods whose own ``nodetool`` view of the ring is stale, so they must not answer for it: drained
    (gossip off, the node still lists itself UN; real-services Finding 5a) or decommissioned."""
    drained = {p["metadata"]["name"] for p in pods if DRAINED_ANNOTATION in (p["metadata"].get("annotations") or {})}
    return drained | {n.pod for n in previous.nodes if n.decommissioned}


@dataclass(frozen=True)
class Observed:
    """Everything one pass reads, once: live replicas per rack, pods by name, volumes (name -> annotations),
    the ring by pod, the live StatefulSets by rack, the ServiceClaim (None: none yet), ``nodetool
    describecluster`` (None: not known), the probe questions that failed (each one blocks every step),
    the previous status, the object's generation, and the failed nodes among those of pods not Ready
    (operators.sdk.recovery.unready_nodes)."""

    dc: Datacenter
    replicas: Mapping[str, int]
    pods: Mapping[str, Mapping[str, Any]]
    volumes: Mapping[str, Mapping[str, str]]
    ring: Mapping[str, RingNode]
    stateful_sets: Mapping[str, Mapping[str, Any] | None]
    claim: Mapping[str, Any] | None = None
    info: ClusterInfo | None = None
    probe_failures: tuple[str, ...] = ()
    previous: CassandraDatacenterStatus = field(default_factory=CassandraDatacenterStatus)
    generation: int = 0
    failures: Mapping[str, NodeFailure] = field(default_factory=dict)  # failed nodes under pods, by node name

    @classmethod
    def of(cls, dc: Datacenter, stateful_sets: Mapping[str, Mapping[str, Any] | None],
           pods: Sequence[Mapping[str, Any]], volumes: Sequence[Mapping[str, Any]],
           ring: Sequence[RingNode], **read: Any) -> Observed:
        """From the listed objects; ``read`` sets the other fields (claim, info, probe_failures, previous,
        generation)."""
        return cls(
            dc=dc,
            replicas={r.name: ((stateful_sets.get(r.name) or {}).get("spec") or {}).get("replicas", 0) or 0
                      for r in dc.racks},
            pods={p["metadata"]["name"]: p for p in pods if dc.rack_of(p["metadata"]["name"])},
            volumes={v["metadata"]["name"]: v["metadata"].get("annotations") or {} for v in volumes},
            ring={n.pod: n for n in ring if n.pod},
            stateful_sets=dict(stateful_sets),
            **read,
        )

    def drained(self, pod: str) -> bool:
        """True when ``pod`` was drained by a restart that has not deleted it yet."""
        return DRAINED_ANNOTATION in ((self.pods.get(pod) or {}).get("metadata", {}).get("annotations") or {})

    def view(self, dc: Datacenter, pod: str) -> PodView | None:
        body = self.pods.get(pod)
        if body is None:
            return None
        rack = dc.rack_of(pod)[0]
        return PodView.of(body, wanted(self.stateful_sets.get(rack)))

    def up(self, pod: str) -> bool:
        node = self.ring.get(pod)
        return node is not None and node.up_normal


# --------------------------------------------------------------------------- node records


def observe_nodes(dc: Datacenter, previous: CassandraDatacenterStatus, seen: Observed) -> list[NodeStatus]:
    """``status.nodes`` from the previous records and what is observed now.

    A node gets a record once it is up and normal (it joined); a node that joins after the first
    deploy marks every older node for cleanup. A record goes once its pod is gone and it was
    decommissioned or is beyond its rack's replicas. A replacement's ``replaceAddress`` is cleared
    once the new pod is up and normal.
    """
    records = {n.pod: n for n in previous.nodes}
    out: dict[str, NodeStatus] = {}
    joined_now: list[str] = []
    for pod in sorted(set(records) | set(seen.pods), key=lambda p: _order_key(dc, p)):
        rack, ordinal = dc.rack_of(pod) or ("", 0)
        body, node, record = seen.pods.get(pod), seen.ring.get(pod), records.get(pod)
        if body is None and record is not None and (record.decommissioned or ordinal >= seen.replicas.get(rack, 0)):
            continue  # left the ring and its pod is gone
        if record is None:
            if node is None or not node.up_normal:
                continue  # not joined yet: the deploy plan shows it
            version = (body or {}).get("metadata", {}).get("annotations", {}).get(VERSION_ANNOTATION)
            record = NodeStatus(pod=pod, rack=rack, version=version, sstables=version)
            joined_now.append(pod)
        annotations = (body or {}).get("metadata", {}).get("annotations") or {}
        ip = ((body or {}).get("status") or {}).get("podIP")
        update: dict[str, Any] = {
            "state": node.code if node is not None else "DN",
            "ip": ip or record.ip,
            "host_id": (node.host_id if node is not None and node.host_id else record.host_id),
            "version": annotations.get(VERSION_ANNOTATION, record.version),
        }
        view = seen.view(dc, pod)
        if record.replace_address and view is not None and view.requested is None and seen.up(pod):
            update |= {"replace_address": None, "replaced": record.replace_address}  # the replacement joined
        out[pod] = record.model_copy(update=update)
    if previous.initialized and joined_now:
        for pod, record in out.items():
            if pod not in joined_now and not record.decommissioned:
                out[pod] = record.model_copy(update={"cleanup": True})
    return list(out.values())


def _order_key(dc: Datacenter, pod: str) -> tuple[int, int]:
    """Bootstrap order: by ordinal, then by rack (round-robin over the racks)."""
    rack, ordinal = dc.rack_of(pod) or ("", 0)
    index = next((i for i, r in enumerate(dc.racks) if r.name == rack), len(dc.racks))
    return ordinal, index


def bootstrap_order(dc: Datacenter) -> list[str]:
    """The datacenter's nodes in the order they join: one per rack in turn, racks in spec order."""
    sizes = dc.spec.rack_sizes()
    return [dc.pod_name(r.name, i) for i in range(max(sizes.values())) for r in dc.racks if i < sizes[r.name]]


def present(dc: Datacenter, seen: Observed, records: Sequence[NodeStatus]) -> dict[str, int]:
    """Nodes per rack that exist in any form: replicas, pods, or records of nodes not yet gone."""
    counts = dict(seen.replicas)
    for pod in list(seen.pods) + [n.pod for n in records]:
        rack, ordinal = dc.rack_of(pod)
        counts[rack] = max(counts.get(rack, 0), ordinal + 1)
    return counts


def leaving_order(dc: Datacenter, counts: Mapping[str, int]) -> list[str]:
    """The nodes to decommission, in order: from the rack with the most nodes above its share of
    ``size`` (ties: the last rack), its highest ordinal first."""
    counts, sizes, order = dict(counts), dc.spec.rack_sizes(), []
    racks = [r.name for r in dc.racks]
    while True:
        over = [r for r in racks if counts.get(r, 0) > sizes[r]]
        if not over:
            return order
        rack = max(reversed(over), key=lambda r: counts[r])  # reversed: the last rack wins ties
        counts[rack] -= 1
        order.append(dc.pod_name(rack, counts[rack]))


# --------------------------------------------------------------------------- plans


def deploy_plan(dc: Datacenter, seen: Observed, records: Sequence[NodeStatus], grants: Mapping[str, Grant],
                controls: PlanControls) -> Plan:
    """Bootstrap one node at a time, then clean up the nodes a scale-up took ranges from."""
    joined = {n.pod for n in records if not n.decommissioned}
    steps = []
    for pod in bootstrap_order(dc):
        rack, ordinal = dc.rack_of(pod)
        grant = grants.get(rack)
        if pod in joined:
            steps.append(Step(pod, Status.COMPLETE))
        elif pod in seen.pods:
            steps.append(Step(pod, Status.STARTED, "bootstrapping: waiting for the node to be up and normal"))
        elif ordinal < seen.replicas.get(rack, 0):
            steps.append(Step(pod, Status.STARTING, "waiting for the StatefulSet to create the pod"))
        elif grant is None or ordinal >= grant.count:
            steps.append(Step(pod, Status.PENDING, f"waiting for the meta-controller to admit rack {rack}'s node"))
        elif DECOMMISSIONED_ANNOTATION in seen.volumes.get(f"data-{pod}", {}):
            steps.append(Step(pod, Status.PENDING, f"volume data-{pod} holds the data of a node that was "
                                                   f"decommissioned; delete it to add this node"))
        else:
            steps.append(Step(pod, Status.PENDING))
    cleanup = [Step(n.pod, Status.PENDING, "nodetool cleanup: new nodes took some of its token ranges")
               if n.cleanup else Step(n.pod, Status.COMPLETE) for n in records if not n.decommissioned]
    return derive_plan("deploy", [Phase(BOOTSTRAP, steps), Phase(CLEANUP, cleanup)], controls=controls)


def decommission_plan(dc: Datacenter, seen: Observed, records: Sequence[NodeStatus], controls: PlanControls) -> Plan:
    """The nodes leaving on scale-down; each step: decommission, remove the pod, then (deleteClaim) its volume."""
    by_pod = {n.pod: n for n in records}
    steps = []
    for pod in leaving_order(dc, present(dc, seen, records)):
        record = by_pod.get(pod)
        rack, ordinal = dc.rack_of(pod)
        if pod in seen.pods and ordinal < seen.replicas.get(rack, 0):
            if record is None:
                steps.append(Step(pod, Status.PENDING, "never joined the ring: removed without decommission"))
            elif record.decommissioned:
                steps.append(Step(pod, Status.STARTED, "left the ring; removing its pod"))
            else:
                steps.append(Step(pod, Status.PENDING, "nodetool decommission: stream its data to the other nodes"))
        elif pod in seen.pods or (record is not None and ordinal < seen.replicas.get(rack, 0)):
            steps.append(Step(pod, Status.STARTING, "removing its pod"))
        elif dc.spec.storage.delete_claim and f"data-{pod}" in seen.volumes:
            steps.append(Step(pod, Status.STARTING, "deleting its volume (storage.deleteClaim)"))
        else:
            steps.append(Step(pod, Status.COMPLETE))
    return derive_plan("decommission", [Phase(DECOMMISSION, steps)], controls=controls)


def update_plan(dc: Datacenter, seen: Observed, records: Sequence[NodeStatus], controls: PlanControls, *,
                now: datetime) -> Plan:
    """Restart out-of-date or requested nodes rack by rack, one at a time; then upgradesstables. A leaving
    node is not restarted, unless a person asked to replace it (a dead node cannot be decommissioned)."""
    leaving = {p for p in leaving_order(dc, present(dc, seen, records)) if not _replace_requested(dc, seen, p)}
    joined = {n.pod for n in records}
    by_rack: dict[str, list[str]] = {}
    for pod in sorted(joined | set(seen.pods), key=lambda p: _order_key(dc, p)):
        if pod not in leaving and (pod in joined or pod in seen.pods):
            by_rack.setdefault(dc.rack_of(pod)[0], []).append(pod)
    canary = [p for r in dc.racks for p in by_rack.get(r.name, [])][:dc.spec.rollout.canary]
    phases = []
    if canary:
        phases.append(Phase(CANARY, [_restart_step(dc, seen, p, now) for p in canary]))
    for rack in dc.racks:
        pods = [p for p in by_rack.get(rack.name, []) if p not in canary]
        if not pods:
            continue  # every node of the rack is in the canary
        views = {p: seen.view(dc, p) for p in pods}
        pods.sort(key=lambda p: (views[p].ready if views[p] else True, dc.rack_of(p)[1]))  # down nodes first
        gated = bool(canary) and not any(p.strategy.canary for p in phases)
        phases.append(Phase(rack.name, [_restart_step(dc, seen, p, now) for p in pods],
                            strategy=Strategy.SERIAL_CANARY if gated else Strategy.SERIAL, canary=1))
    version = dc.spec.server_version
    sstables = [Step(n.pod, Status.PENDING, f"nodetool upgradesstables: SSTables from {n.sstables}, node runs "
                                            f"{version}")
                if n.sstables and major(n.sstables) < major(version) else Step(n.pod, Status.COMPLETE)
                for n in records if n.pod not in leaving]
    phases.append(Phase(UPGRADESSTABLES, sstables))
    return derive_plan("update", phases, controls=controls)


def _replace_requested(dc: Datacenter, seen: Observed, pod: str) -> bool:
    view = seen.view(dc, pod)
    return view is not None and view.requested == "replace"


def _restart_step(dc: Datacenter, seen: Observed, pod: str, now: datetime) -> Step:
    return pod_step(pod, seen.view(dc, pod), now=now, timeout=ROLLOUT_TIMEOUT)


def in_flight(plans: Sequence[Plan]) -> list[str]:
    """Steps started and not finished, as "plan/phase/step": while any runs, no other action starts."""
    return [f"{plan.name}/{phase.name}/{step.name}" for plan in plans for phase in plan.phases
            for step in phase.steps if step.status in IN_FLIGHT]


def next_action(plans: Sequence[Plan]) -> tuple[str, str, str] | None:
    """The one step to act on now as (plan, phase, step), or None: the first plan's first pending candidate.

    Plans are tried in the order given (deploy, decommission, update); nothing starts while a step is
    in flight anywhere, so at most one node is ever bootstrapping, leaving or restarting.
    """
    if in_flight(plans):
        return None
    for plan in plans:
        for phase_name, step_name in plan.next_steps:
            phase = next(p for p in plan.phases if p.name == phase_name)
            step = next(s for s in phase.steps if s.name == step_name)
            if step.status is Status.PENDING:
                return plan.name, phase_name, step_name
    return None


def rack_replicas(dc: Datacenter, seen: Observed, records: Sequence[NodeStatus],
                  bootstrap: str | None) -> dict[str, int]:
    """Pods per rack the StatefulSets should run now: as they are, plus the node to bootstrap, minus
    leaving nodes at the top of a rack that are decommissioned (or never joined)."""
    out = dict(seen.replicas)
    if bootstrap:
        rack, ordinal = dc.rack_of(bootstrap)
        out[rack] = max(out.get(rack, 0), ordinal + 1)
    leaving = set(leaving_order(dc, present(dc, seen, records)))
    by_pod = {n.pod: n for n in records}
    for rack in dc.racks:
        while out.get(rack.name, 0) > 0:
            top = dc.pod_name(rack.name, out[rack.name] - 1)
            record = by_pod.get(top)
            if top not in leaving or (record is not None and not record.decommissioned):
                break
            out[rack.name] -= 1
    return out


def claim_counts(dc: Datacenter, seen: Observed, records: Sequence[NodeStatus]) -> dict[str, int]:
    """Pods per rack to claim: the spec's share of ``size``, or more while leaving nodes still hold capacity."""
    sizes, counts = dc.spec.rack_sizes(), present(dc, seen, records)
    return {r.name: max(sizes[r.name], counts.get(r.name, 0)) for r in dc.racks}


# --------------------------------------------------------------------------- status


def _phase(plan: Plan, name: str):
    return next(p for p in plan.phases if p.name == name)


def _incomplete(plan: Plan, *phases: str) -> bool:
    return any(s.status is not Status.COMPLETE for p in plan.phases if not phases or p.name in phases
               for s in p.steps)


def derive(dc: Datacenter, generation: int, *, seen: Observed, records: list[NodeStatus],
           plans: Sequence[Plan], previous: CassandraDatacenterStatus, seeds: list[str],
           target: str, at: str | None = None) -> CassandraDatacenterStatus:
    """The new status of ``dc``: node records, counts, conditions and plans.

    Ready is True when ``size`` nodes are up and normal and none is leaving. ``version`` is set once
    every node runs ``serverVersion``. A node down because its Kubernetes node failed is Degraded
    (NodeLost, the node named), not an update in progress: its update step, waiting for a pod that
    runs the current spec, neither makes Updating True nor stalls the plan. Condition transition
    times are kept while a status holds.
    """
    deploy, decommission, update = (next(p for p in plans if p.name == n) for n in
                                    ("deploy", "decommission", "update"))
    members = [n for n in records if not n.decommissioned]
    up = [n for n in members if n.state == "UN"]
    size = dc.spec.size
    busy = in_flight(plans)
    down = [n.pod for n in members if n.state != "UN"]
    replacing = [n.pod for n in members if n.replace_address]
    requested = [p for p in seen.pods if (v := seen.view(dc, p)) and v.requested == "replace"]
    lost = lost_pods(seen.pods.values(), seen.failures)
    # Pods current in spec whose step waits only for their lost node: no update is in progress for them.
    stranded = {p for p in lost if (v := seen.view(dc, p)) is not None and v.restart_reason is None}
    restarts = [s for p in update.phases if p.name != UPGRADESSTABLES for s in p.steps if s.name not in stranded]
    leaving = [s.name for s in _phase(decommission, DECOMMISSION).steps]
    initialized = previous.initialized or not _incomplete(deploy, BOOTSTRAP)
    ready = len(up) >= size and not leaving

    def cond(type_: str, status: bool, reason: str, message: str) -> Condition:
        return Condition(type=type_, status="True" if status else "False", reason=reason, message=message,
                         observed_generation=generation)

    counts = f"{len(up)}/{size} nodes up and normal"
    errors = [f"{plan.name}/{p.name}/{s.name}: {s.message}" for plan in plans for p in plan.phases for s in p.steps
              if s.status is Status.ERROR and not (plan is update and s.name in stranded)]
    paused = [plan.name for plan in plans if plan.status is Status.WAITING]
    scaling_up = previous.initialized and _incomplete(deploy)
    updating = any(s.status is not Status.COMPLETE for s in restarts) or _incomplete(update, UPGRADESSTABLES)
    degraded = bool(down) and initialized and not (scaling_up or leaving or updating or replacing or requested)
    conditions = [
        cond("Ready", ready, "AllNodesUp" if ready else "NodesNotReady", counts),
        cond("ScalingUp", scaling_up, "ScalingUp" if scaling_up else "Idle",
             _first_open(deploy) if scaling_up else f"{len(members)} nodes in the ring"),
        cond("ScalingDown", bool(leaving), "Decommissioning" if leaving else "Idle",
             f"leaving: {', '.join(leaving)}" if leaving else "no node is leaving"),
        cond("Updating", updating, "RollingUpdate" if updating else "Idle",
             _first_open(update) if updating else f"every node runs {dc.spec.server_version} and the current config"),
        cond("ReplacingNodes", bool(replacing or requested), "Replacing" if replacing or requested else "Idle",
             "; ".join([f"{n.pod} replaces {n.replace_address}" for n in members if n.replace_address]
                       + [f"{p}: replace requested" for p in requested if p not in replacing]) or "no replacement"),
        cond("Degraded", bool(lost) or degraded,
             "NodeLost" if lost else "NodesDown" if degraded else "NoNodeDown" if not down else "ProcedureRunning",
             "; ".join(f"{p} on {why}" for p, why in lost.items()) if lost else
             f"down with no procedure running: {', '.join(down)}" if degraded else
             f"down while a plan works on the datacenter: {', '.join(down)}" if down else "every node is up"),
    ]
    waiting_on_lost = stranded and all(plan.status is Status.COMPLETE or (plan is update and not updating)
                                       for plan in plans)
    if errors:
        progressing = cond("Progressing", False, "Stalled", "; ".join(errors))
    elif waiting_on_lost:
        progressing = cond("Progressing", False, "NodeLost", "waiting for lost nodes: " + "; ".join(
            f"{p} on {lost[p]}" for p in sorted(stranded)))
    elif any(plan.status is not Status.COMPLETE for plan in plans):
        reason = ("Paused" if paused and not busy else "Deploying" if not initialized else "ScalingDown" if leaving
                  else "ScalingUp" if scaling_up else "Updating")
        open_plan = next(plan for plan in plans if plan.status is not Status.COMPLETE)
        message = (f"plans waiting: {', '.join(paused)} (pause or canary; smack.dev/plan-pause, "
                   f"smack.dev/plan-proceed)" if reason == "Paused" else f"{open_plan.name}: {_first_open(open_plan)}")
        progressing = cond("Progressing", reason != "Paused", reason, message)
    else:
        progressing = cond("Progressing", False, "Stable", f"{counts}; every plan complete")
    merged = previous.conditions
    for c in (conditions[0], progressing, *conditions[1:]):
        merged = set_condition(merged, c, at=at)

    all_current = not any(s.status is not Status.COMPLETE for s in restarts)
    return CassandraDatacenterStatus(
        observed_generation=generation,
        conditions=merged,
        version=dc.spec.server_version if ready and all_current else previous.version,
        initialized=initialized,
        size=len(members),
        ready=len(up),
        seeds=seeds,
        nodes=records,
        update_revision=target,
        plans=[render_plan(p) for p in plans],
    )


def _first_open(plan: Plan) -> str:
    step = next(((p, s) for p in plan.phases for s in p.steps if s.status is not Status.COMPLETE), None)
    if step is None:
        return "complete"
    phase, s = step
    return f"phase {phase.name}, {s.name}: {s.status}" + (f" ({s.message})" if s.message else "")


def mark(records: Sequence[NodeStatus], pod: str, **fields: Any) -> list[NodeStatus]:
    """``records`` with ``pod``'s record updated."""
    return [n.model_copy(update=fields) if n.pod == pod else n for n in records]


# --------------------------------------------------------------------------- one pass: decide


@dataclass(frozen=True)
class Bootstrap:
    """Create ``pod``: :attr:`Next.children` already holds its StatefulSet with one more replica."""

    pod: str
    where: str


@dataclass(frozen=True)
class NodeOperation:
    """``nodetool <command>`` (cleanup or upgradesstables) on ``pod``; ``records`` once it is done."""

    pod: str
    where: str
    command: str
    reason: str
    records: tuple[NodeStatus, ...]


@dataclass(frozen=True)
class Decommission:
    """``pod`` leaves the ring: ``nodetool decommission`` when ``run`` (False: the probed ring no longer
    lists it, a decommission finished before a crash); then ``stamp``, the volume kept for it
    (``storage.deleteClaim`` false), gets :data:`DECOMMISSIONED_ANNOTATION` = ``at``; ``records`` once done.
    The pod goes on the next pass, when the node records say it left."""

    pod: str
    where: str
    run: bool
    stamp: str | None
    at: str
    records: tuple[NodeStatus, ...]


@dataclass(frozen=True)
class Restart:
    """Drain ``pod`` (when ``drain``: it is up and not drained yet), mark it drained, delete it (uid
    ``uid`` as a precondition); the StatefulSet recreates it from the current template."""

    pod: str
    where: str
    uid: str | None
    drain: bool
    why: str


@dataclass(frozen=True)
class RecordReplaceAddress:
    """The first step of a replacement: keep the dead node's ``address`` in ``records`` (``replaceAddress``);
    the ConfigMap passes it to the new node from the next pass on."""

    pod: str
    where: str
    address: str | None
    records: tuple[NodeStatus, ...]


@dataclass(frozen=True)
class Replace:
    """Delete ``volume`` and ``pod`` (uid ``uid``): the new pod starts on a new volume with
    ``-Dcassandra.replace_address_first_boot=<address>``."""

    pod: str
    where: str
    uid: str | None
    volume: str
    address: str | None


@dataclass(frozen=True)
class Wait:
    """The step ``pod`` is next but its gate is closed: ``blockers``, one sentence each."""

    pod: str
    where: str
    blockers: tuple[str, ...]


Action = Bootstrap | NodeOperation | Decommission | Restart | RecordReplaceAddress | Replace | Wait
_MAINTENANCE = {CLEANUP: "CleanedUpNode", UPGRADESSTABLES: "UpgradedSSTables"}


@dataclass(frozen=True)
class Next:
    """What one pass does, in order: apply ``claim`` and ``children``, set the seed label on the pods of
    ``seed_labels`` (value None removes it), carry out ``action``, write ``status`` (see
    :meth:`status_after`), and look again after ``requeue_after`` seconds (None: on the next event)."""

    claim: dict[str, Any]
    children: list[dict[str, Any]]
    seed_labels: Mapping[str, str | None]
    action: Action | None
    status: CassandraDatacenterStatus
    requeue_after: float | None

    def status_after(self, done: bool) -> CassandraDatacenterStatus:
        """The status to write once the action ran: with the node records it leaves when it was ``done``."""
        records = getattr(self.action, "records", None)
        return self.status.model_copy(update={"nodes": list(records)}) if done and records is not None else self.status


def decide(seen: Observed, controls: PlanControls, now: datetime) -> Next:
    """The next pass for a datacenter from what it read (``now``: aware, UTC). Pure.

    The plans are derived once, from the replicas the StatefulSets get in this pass. Plans are tried in
    the order deploy, decommission, update; the first pending step is the one candidate, and its gate
    (:func:`blockers`) decides whether it runs now or waits.
    """
    dc = seen.dc
    records = observe_nodes(dc, seen.previous, seen)
    granted = grants(dict(seen.claim)) if seen.claim is not None else {}
    replacing = {n.pod: n.replace_address for n in records if n.replace_address}
    children = build(dc, rack_replicas(dc, seen, records, None), granted, replacing)
    settled = _as_applied(seen, children)
    plans = [deploy_plan(dc, settled, records, granted, controls), decommission_plan(dc, settled, records, controls),
             update_plan(dc, settled, records, controls, now=now)]
    step = replacement_first(plans, next_action(plans), settled)
    held = [*(Blocker(f, "probe_failed") for f in seen.probe_failures),
            *(Blocker(lag, "controller_lag") for sts in seen.stateful_sets.values() if (lag := controller_lag(sts)))]
    action = _action(settled, records, granted, step, held, now) if step is not None else None
    if isinstance(action, Bootstrap):
        children = build(dc, rack_replicas(dc, settled, records, action.pod), granted, replacing)
    if isinstance(action, Wait) and step is not None:
        plans = with_blockers(plans, step, action.blockers)
    chosen = seeds(dc, [p for p in seen.pods if seen.up(p)])
    status = derive(dc, seen.generation, seen=settled, records=records, plans=plans, previous=seen.previous,
                    seeds=[p for p in chosen if p in seen.pods], target=update_revision(dc))
    progressing = next(c for c in status.conditions if c.type == "Progressing").status == "True"
    return Next(claim=service_claim(dc, claim_counts(dc, seen, records)), children=children,
                seed_labels=_seed_labels(seen, chosen), action=action, status=status,
                requeue_after=PROGRESS_REQUEUE if progressing else None)


def replacement_first(plans: Sequence[Plan], step: tuple[str, str, str] | None,
                      seen: Observed) -> tuple[str, str, str] | None:
    """``step``, unless it is the decommission of a node a person asked to replace: then the update plan's
    replacement of that node (``nodetool decommission`` cannot run on a dead node; once the replacement is
    up and normal the decommission streams its data away as usual). Plans as :func:`next_action` takes them."""
    if step is None or step[0] != "decommission" or not _replace_requested(seen.dc, seen, step[2]):
        return step
    update = next_action([p for p in plans if p.name == "update"])
    return update if update is not None and update[2] == step[2] else step


def with_blockers(plans: Sequence[Plan], step: tuple[str, str, str], blockers: Sequence[str]) -> list[Plan]:
    """``plans`` with the message of ``step`` (plan, phase, pod) saying what its gate sees ("waiting: …"),
    so that ``status.plans`` and the Progressing condition report it."""
    plan_name, phase_name, pod = step
    def told(s: Step) -> Step:
        wait = "waiting: " + "; ".join(blockers)
        return replace(s, message=f"{s.message}; {wait}" if s.message else wait) if s.name == pod else s
    return [replace(p, phases=tuple(replace(ph, steps=tuple(told(s) for s in ph.steps)) if ph.name == phase_name
                                    else ph for ph in p.phases)) if p.name == plan_name else p for p in plans]


def needs_cluster_info(seen: Observed, nxt: Next) -> bool:
    """Whether the pass that decided ``nxt`` from ``seen`` must read ``nodetool describecluster`` and decide again.

    Only when it is about to act on a node without having read it: schema agreement can only close a gate,
    so a pass that waits or has nothing to do needs no answer. Each question starts a JVM in a pod (about
    3.7 s and one CPU-second on a small machine), and a settled datacenter asks none.
    """
    return seen.info is None and not seen.probe_failures and nxt.action is not None and not isinstance(
        nxt.action, Wait)


def _as_applied(seen: Observed, children: Sequence[Mapping[str, Any]]) -> Observed:
    """``seen`` with the StatefulSets as this pass applies them: their templates say what pods should run,
    their replicas what the plans work with."""
    by_name = {c["metadata"]["name"]: c for c in children if c["kind"] == "StatefulSet"}
    applied = {r.name: by_name[seen.dc.sts_name(r.name)] for r in seen.dc.racks}
    return replace(seen, stateful_sets=applied, replicas={r: sts["spec"]["replicas"] for r, sts in applied.items()})


def blockers(seen: Observed, records: Sequence[NodeStatus], granted: Mapping[str, Grant],
             step: tuple[str, str, str], held: Sequence[str] = ()) -> list[str]:
    """Why ``step`` (plan, phase, pod) may not run now (empty: go), with ``seen`` as this pass applies it.

    Every step waits for what ``held`` names (failed probe questions, StatefulSet controllers that lag
    behind the live objects); then a
    bootstrap needs every node UN, an admitted slot and a volume that held no decommissioned node; a
    decommission (of a node that joined) :func:`~.gates.decommission_blockers` against the volume size;
    cleanup and upgradesstables every node UN; a restart or replacement every other node UN and Ready.
    """
    plan, phase, pod = step
    dc, ring, info = seen.dc, list(seen.ring.values()), seen.info
    expected = sorted({n.pod for n in records if not n.decommissioned} | set(seen.pods))
    out = list(held)
    if plan == "deploy" and phase == BOOTSTRAP:
        rack, ordinal = dc.rack_of(pod)
        admitted = granted[rack].count if rack in granted else 0
        out += restart_blockers(None, ring, expected, info)
        out += [Blocker(f"rack {rack} has {admitted} nodes admitted by the meta-controller", "not_admitted")
                ] if ordinal >= admitted else []
        out += ([Blocker(f"volume data-{pod} holds a decommissioned node's data", "decommissioned_volume")]
                if DECOMMISSIONED_ANNOTATION in seen.volumes.get(f"data-{pod}", {}) else [])
    elif plan == "decommission":
        capacity = int(parse_quantity(dc.spec.storage.size))
        out += decommission_blockers(pod, ring, capacity, expected, info) if any(n.pod == pod for n in records) else []
    elif phase in (CLEANUP, UPGRADESSTABLES):
        out += restart_blockers(None, ring, expected, info)
    else:
        views = [v for p in seen.pods if (v := seen.view(dc, p))]
        out += restart_blockers(pod, ring, expected, info)
        out += [Blocker(b, "pod_not_ready") for b in restart_allowed(pod, views)]
    return list(dict.fromkeys(out))


def _action(seen: Observed, records: list[NodeStatus], granted: Mapping[str, Grant],
            step: tuple[str, str, str], held: Sequence[str], now: datetime) -> Action:
    """The action for the one candidate step: what it does to the node, or the :class:`Wait` for its gate."""
    plan, phase, pod = step
    where = f"{plan} plan, phase {phase}"
    closed = blockers(seen, records, granted, step, held)
    if closed:
        return Wait(pod, where, tuple(closed))
    dc = seen.dc
    record = next((n for n in records if n.pod == pod), None)
    if plan == "deploy" and phase == BOOTSTRAP:
        return Bootstrap(pod, where)
    if phase in _MAINTENANCE:
        done = {"cleanup": False} if phase == CLEANUP else {"sstables": dc.spec.server_version}
        return NodeOperation(pod, where, phase, _MAINTENANCE[phase], tuple(mark(records, pod, **done)))
    if plan == "decommission":
        if record is None:  # the StatefulSet drops it in this pass's apply (rack_replicas)
            return Wait(pod, where, (Blocker("never joined the ring: its pod goes when the StatefulSet shrinks",
                                             "not_joined"),))
        volume = f"data-{pod}"
        return Decommission(pod, where, run=not (seen.ring and pod not in seen.ring),
                            stamp=volume if not dc.spec.storage.delete_claim and volume in seen.volumes else None,
                            at=now.isoformat(), records=tuple(mark(records, pod, decommissioned=True)))
    view = seen.view(dc, pod)
    uid = view.uid if view is not None else None
    if view is not None and view.requested == "replace":
        if record is not None and not record.replace_address:
            # The dead node's address: as its record last saw it, else the pod's own while it still has one.
            address = record.ip or (seen.pods[pod].get("status") or {}).get("podIP")
            return RecordReplaceAddress(pod, where, address, tuple(mark(records, pod, replace_address=address)))
        return Replace(pod, where, uid, f"data-{pod}", record.replace_address if record else None)
    why = f"{view.requested} requested" if view is not None and view.requested else "to run the current version " \
                                                                                    "and config"
    return Restart(pod, where, uid, drain=seen.up(pod) and not seen.drained(pod), why=why)


def held_by_apply(action: Action | None, before: Mapping[str, Mapping[str, Any] | None],
                  applied: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why ``action`` must wait for the next pass although its gate was open: applying the children in
    this pass changed a StatefulSet (its generation moved from ``before``, by rack, to ``applied``), and a
    pod touched before the controller sees the change could come back from the old template. A bootstrap
    is part of the apply itself, and a wait or a report touches no pod."""
    if action is None or isinstance(action, Bootstrap | Wait):
        return []
    return [Blocker(f"StatefulSet {sts['metadata']['name']} changed in this pass; the controller has not observed "
                    "it yet", "controller_lag")
            for rack, sts in applied.items()
            if (sts.get("metadata") or {}).get("generation") != ((before.get(rack) or {}).get("metadata") or {})
            .get("generation")]


def _seed_labels(seen: Observed, chosen: Collection[str]) -> dict[str, str | None]:
    """The seed label each pod must get (None: removed), for the pods whose label is not that yet; pods
    being deleted are left alone."""
    out: dict[str, str | None] = {}
    for name, pod in seen.pods.items():
        want = "true" if name in chosen else None
        if (pod["metadata"].get("labels") or {}).get(SEED_LABEL) != want and pod["metadata"].get(
                "deletionTimestamp") is None:
            out[name] = want
    return out
