"""kopf wiring for CassandraDatacenter: read, build, apply, run one plan step, write status. Nothing else.

Importing this module registers the handlers (``python -m operators run --only cassandra``).

``SMACK_CASSANDRA_PROBE`` picks how the operator sees Cassandra: ``nodetool`` (default) runs
``nodetool status``/``describecluster`` in a Ready node for the gates and ``nodetool drain``,
``decommission``, ``cleanup`` and ``upgradesstables`` on the node a step works on; ``none`` (a
simulated cluster where no Cassandra process runs, as in the e2e suite) reads the ring from pod
readiness and records each node operation as simulated in an event instead of running it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.utils import parse_quantity
from pydantic import ValidationError

from ..scheduling.api import ServiceClaimSpec
from ..scheduling.binding import ServiceBinding
from ..scheduling.claims import Grant, grants
from ..sdk import runtime
from ..sdk.apply import Applier, Outcome, applier_for, contains
from ..sdk.conditions import get_condition, invalid_spec
from ..sdk.controller import ChildKind, Result, register
from ..sdk.metrics import APPLY_TOTAL, RESOURCES_READY, observe_plans
from ..sdk.plans import HALT, Plan, PlanControlError, PlanControls, parse_controls, reset_patch
from ..sdk.rollout import controller_lag, restart_allowed
from .api import (
    CASSANDRA_DATACENTER,
    CassandraDatacenterSpec,
    CassandraDatacenterStatus,
    NodeStatus,
    owned_config_problems,
)
from .health import (
    ClusterInfo,
    NodetoolProbe,
    RingNode,
    attach_pods,
    decommission_blockers,
    restart_blockers,
    ring_from_pods,
)
from .resources import (
    DATACENTER_LABEL,
    DECOMMISSIONED_ANNOTATION,
    SEED_LABEL,
    Datacenter,
    build,
    claim_spec,
    rack_field,
    seeds,
    service_claim,
)
from .status import (
    BOOTSTRAP,
    CLEANUP,
    UPGRADESSTABLES,
    Observed,
    claim_counts,
    decommission_plan,
    deploy_plan,
    derive,
    mark,
    next_action,
    observe_nodes,
    rack_replicas,
    update_plan,
    update_target,
)

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-cassandra"
KIND = CASSANDRA_DATACENTER.kind
PROBE_ENV = "SMACK_CASSANDRA_PROBE"


def applier() -> Applier:
    return applier_for(FIELD_MANAGER)


def simulated() -> bool:
    """True when no Cassandra process is asked (``SMACK_CASSANDRA_PROBE=none``)."""
    return os.environ.get(PROBE_ENV, "nodetool") == "none"


def reconcile(body: dict[str, Any]) -> Result:
    """One level-triggered pass over a CassandraDatacenter: at most one disruptive step per pass."""
    meta = body["metadata"]
    previous = CassandraDatacenterStatus.model_validate(body.get("status") or {})
    try:
        dc = Datacenter.from_body(body)
    except ValidationError as exc:
        status, message = invalid_spec(previous, exc, meta["generation"])
        _write_status(body, previous, status)
        kopf.warn(body, reason="InvalidSpec", message=message)
        return Result("invalid")

    a = applier()
    pods = a.list_objects("v1", "Pod", dc.namespace, f"{DATACENTER_LABEL}={dc.name}")
    volumes = a.list_objects("v1", "PersistentVolumeClaim", dc.namespace, f"{DATACENTER_LABEL}={dc.name}")
    stateful_sets = {r.name: a.get("apps/v1", "StatefulSet", dc.sts_name(r.name), dc.namespace) for r in dc.racks}
    ring = _ring(body, dc, pods)
    seen = Observed.of(dc, stateful_sets, pods, volumes, ring)
    records = observe_nodes(dc, previous, seen)

    claim = _apply(body, service_claim(dc, claim_counts(dc, seen, records)))
    granted = grants(claim)
    live: dict[tuple[str, str], dict[str, Any]] = {}
    seen = _apply_children(body, dc, seen, records, granted, None, live)
    target = update_target(seen.stateful_sets)
    controls = _controls(body, previous, target)
    now = datetime.now(UTC)
    plans = _plans(dc, seen, records, granted, controls, now)
    action = next_action(plans)
    if action is not None:
        records, bootstrap = _act(body, dc, seen, records, granted, action)
        seen = _apply_children(body, dc, seen, records, granted, bootstrap, live)
        plans = _plans(dc, seen, records, granted, controls, now)
    chosen = _label_seeds(dc, seen)

    status = derive(dc, meta["generation"], seen=seen, records=records, plans=plans, previous=previous,
                    seeds=chosen, target=target)
    _write_status(body, previous, status)
    ready = get_condition(status.conditions, "Ready")
    was_ready = get_condition(previous.conditions, "Ready")
    RESOURCES_READY.labels(KIND, dc.namespace, dc.name).set(ready.status == "True")
    if ready.status == "True" and (was_ready is None or was_ready.status != "True"):
        kopf.info(body, reason="DatacenterReady", message=f"{ready.message}; CQL at "
                                                          f"{dc.client_service}.{dc.namespace}.svc:9042")
    progressing = get_condition(status.conditions, "Progressing")
    return Result("ok", None) if progressing.status == "False" else Result("progressing", 5.0)


def _apply_children(body: dict[str, Any], dc: Datacenter, seen: Observed, records: list[NodeStatus],
                    granted: dict[str, Grant], bootstrap: str | None,
                    live: dict[tuple[str, str], dict[str, Any]]) -> Observed:
    """Apply every child for the replicas the plans allow now; return the observation with the applied
    StatefulSets (their templates say what the pods should run).

    ``live`` holds the objects as last applied in this pass (filled here): a manifest they already
    hold is not sent again, so a second call after a step costs no API call for what did not change.
    """
    replacing = {n.pod: n.replace_address for n in records if n.replace_address}
    for manifest in build(dc, rack_replicas(dc, seen, records, bootstrap), granted, replacing):
        key = (manifest["kind"], manifest["metadata"]["name"])
        if key not in live or not contains(live[key], manifest):
            live[key] = _apply(body, manifest)
    applied = {r.name: live[("StatefulSet", dc.sts_name(r.name))] for r in dc.racks}
    return replace(seen, stateful_sets=applied, replicas={r: sts["spec"]["replicas"] for r, sts in applied.items()})


def _ring(body: dict[str, Any], dc: Datacenter, pods: list[dict[str, Any]]) -> list[RingNode]:
    """The ring with pod names: from ``nodetool status`` in a Ready node, or from readiness when simulated."""
    rack_of = {p["metadata"]["name"]: (dc.rack_of(p["metadata"]["name"]) or ("",))[0] for p in pods}
    by_readiness = ring_from_pods(pods, dc.name, rack_of)
    if simulated():
        return by_readiness
    up = [n.pod for n in by_readiness if n.up_normal]
    if not up:
        return []
    try:
        ring = NodetoolProbe(dc.namespace).status(up[0])
    except Exception as exc:  # any exec or parse error: no node is trusted, so no gate opens
        kopf.warn(body, reason="ProbeFailed", message=f"nodetool status on {up[0]}: {exc}")
        return []
    return attach_pods(ring, pods, dc.name)


def _controls(body: dict[str, Any], previous: CassandraDatacenterStatus, target: str) -> PlanControls:
    """Plan controls from the annotations; a new update target first drops the last update's proceed
    and force-complete entries, so a canary holds again."""
    annotations = dict(body["metadata"].get("annotations") or {})
    if previous.update_target is not None and previous.update_target != target:
        patch = reset_patch(annotations, "update")
        if patch:
            meta = body["metadata"]
            applier().patch_metadata(CASSANDRA_DATACENTER.api_version, KIND, meta["name"], meta["namespace"],
                                     annotations=patch)
            annotations = {k: v for k, v in (annotations | patch).items() if v is not None}
    try:
        return parse_controls(annotations)
    except PlanControlError as exc:
        kopf.warn(body, reason="InvalidPlanControl", message=f"{exc}; no step starts until it is fixed")
        return HALT


def _plans(dc: Datacenter, seen: Observed, records: list[NodeStatus], granted: dict[str, Grant],
           controls: PlanControls, now: datetime) -> list[Plan]:
    return [deploy_plan(dc, seen, records, granted, controls), decommission_plan(dc, seen, records, controls),
            update_plan(dc, seen, records, controls, now=now)]


def _expected(seen: Observed, records: list[NodeStatus]) -> list[str]:
    return sorted({n.pod for n in records if not n.decommissioned} | set(seen.pods))


def _act(body: dict[str, Any], dc: Datacenter, seen: Observed, records: list[NodeStatus],
         granted: dict[str, Grant], action: tuple[str, str, str]) -> tuple[list[NodeStatus], str | None]:
    """Run the one step ``action`` names if its gate allows; return the node records and the node to bootstrap."""
    plan, phase, pod = action
    ring = list(seen.ring.values())
    expected = _expected(seen, records)
    record = next((n for n in records if n.pod == pod), None)
    where = f"{plan} plan, phase {phase}"
    info, blockers = _cluster_info(body, dc, seen)
    blockers += [lag for sts in seen.stateful_sets.values() if (lag := controller_lag(sts))]
    if plan == "deploy" and phase == BOOTSTRAP:
        rack, ordinal = dc.rack_of(pod)
        admitted = granted[rack].count if rack in granted else 0
        blockers += restart_blockers(None, ring, expected, info) + (
            [f"rack {rack} has {admitted} nodes admitted by the meta-controller"] if ordinal >= admitted else []) + (
            [f"volume data-{pod} holds a decommissioned node's data"]
            if DECOMMISSIONED_ANNOTATION in seen.volumes.get(f"data-{pod}", {}) else [])
    elif plan == "decommission":
        capacity = int(parse_quantity(dc.spec.storage.size))
        blockers += decommission_blockers(pod, ring, capacity, expected, info) if record else []
    elif phase in (CLEANUP, UPGRADESSTABLES):
        blockers += restart_blockers(None, ring, expected, info)
    else:
        views = [v for p in seen.pods if (v := seen.view(dc, p))]
        blockers += restart_blockers(pod, ring, expected, info) + restart_allowed(pod, views)
    if blockers:
        log.info("%s: %s waits: %s", where, pod, "; ".join(dict.fromkeys(blockers)))
        return records, None

    if plan == "deploy" and phase == BOOTSTRAP:
        kopf.info(body, reason="BootstrappingNode", message=f"{where}: creating {pod}; every other node is up "
                                                            f"and normal")
        return records, pod
    if phase == CLEANUP:
        return (_persist(body, mark(records, pod, cleanup=False))
                if _node_op(body, dc, pod, "cleanup", where) else records), None
    if phase == UPGRADESSTABLES:
        return (_persist(body, mark(records, pod, sstables=dc.spec.server_version))
                if _node_op(body, dc, pod, "upgradesstables", where) else records), None
    if plan == "decommission":
        if record is None:
            kopf.info(body, reason="RemovingNode", message=f"{where}: removing {pod}, which never joined the ring")
            return records, None
        if not _left(seen, pod) and not _node_op(body, dc, pod, "decommission", where):
            return records, None
        if not dc.spec.storage.delete_claim and f"data-{pod}" in seen.volumes:
            applier().patch_metadata("v1", "PersistentVolumeClaim", f"data-{pod}", dc.namespace,
                                     annotations={DECOMMISSIONED_ANNOTATION: datetime.now(UTC).isoformat()})
        return _persist(body, mark(records, pod, decommissioned=True)), None
    return _restart(body, dc, seen, records, pod, where), None


def _cluster_info(body: dict[str, Any], dc: Datacenter, seen: Observed) -> tuple[ClusterInfo | None, list[str]]:
    """``nodetool describecluster`` from a node that is up (schema agreement), and why it is missing if it is."""
    up = [p for p in seen.pods if seen.up(p)]
    if simulated() or not up:
        return None, []
    try:
        return NodetoolProbe(dc.namespace).describe_cluster(up[0]), []
    except Exception as exc:  # any exec or parse error: the gate stays closed
        kopf.warn(body, reason="ProbeFailed", message=f"nodetool describecluster on {up[0]}: {exc}")
        return None, [f"nodetool describecluster on {up[0]} failed"]


def _left(seen: Observed, pod: str) -> bool:
    """True when a probed ring no longer lists ``pod`` (a decommission finished before a crash)."""
    return not simulated() and bool(seen.ring) and pod not in seen.ring


def _restart(body: dict[str, Any], dc: Datacenter, seen: Observed, records: list[NodeStatus], pod: str,
             where: str) -> list[NodeStatus]:
    """Drain and delete ``pod`` (the StatefulSet recreates it from the current template); for a replace
    request, first record the dead node's address, then delete its volume too."""
    view = seen.view(dc, pod)
    record = next((n for n in records if n.pod == pod), None)
    if view is not None and view.requested == "replace":
        if record is not None and not record.replace_address:
            address = record.ip or (seen.pods[pod].get("status") or {}).get("podIP")
            kopf.info(body, reason="ReplaceAddressRecorded",
                      message=f"{where}: {pod} will replace the dead node {address} on a new volume")
            return _persist(body, mark(records, pod, replace_address=address))
        applier().delete_object("v1", "PersistentVolumeClaim", f"data-{pod}", dc.namespace)
        applier().delete_pod(pod, dc.namespace, uid=view.uid)
        address = record.replace_address if record else None
        kopf.info(body, reason="ReplacingNode", message=f"{where}: replacing {pod} on a new volume with "
                                                        f"-Dcassandra.replace_address_first_boot={address}")
        return records
    if seen.up(pod) and not _node_op(body, dc, pod, "drain", where):
        return records
    applier().delete_pod(pod, dc.namespace, uid=view.uid if view is not None else None)
    why = f"{view.requested} requested" if view is not None and view.requested else "to run the current version " \
                                                                                    "and config"
    kopf.info(body, reason="RestartingNode", message=f"{where}: restarting {pod} {why}")
    return records


def _node_op(body: dict[str, Any], dc: Datacenter, pod: str, command: str, where: str) -> bool:
    """Run ``nodetool <command>`` on ``pod``; True when done. Simulated clusters record it in an event."""
    reason = {"drain": "DrainedNode", "decommission": "DecommissionedNode", "cleanup": "CleanedUpNode",
              "upgradesstables": "UpgradedSSTables"}[command]
    if simulated():
        kopf.info(body, reason=reason, message=f"{where}: nodetool {command} on {pod} "
                                               f"(simulated: {PROBE_ENV}=none)")
        return True
    try:
        NodetoolProbe(dc.namespace).run(pod, command)
    except Exception as exc:  # any exec or nodetool error: report, the step stays pending and is retried
        kopf.warn(body, reason=f"{reason}Failed", message=f"{where}: nodetool {command} on {pod}: {exc}")
        return False
    kopf.info(body, reason=reason, message=f"{where}: nodetool {command} on {pod}")
    return True


def _persist(body: dict[str, Any], records: list[NodeStatus]) -> list[NodeStatus]:
    """Write the node records now, before anything else happens: the record of a step done on a node."""
    meta = body["metadata"]
    applier().patch_status(CASSANDRA_DATACENTER.api_version, KIND, meta["name"], meta["namespace"],
                           {"nodes": [n.wire() for n in records]})
    return records


def _label_seeds(dc: Datacenter, seen: Observed) -> list[str]:
    """Label the seed pods for the seed Service (and unlabel the others); return the seeds."""
    chosen = seeds(dc, [p for p in seen.pods if seen.up(p)])
    for name, pod in seen.pods.items():
        want = "true" if name in chosen else None
        if (pod["metadata"].get("labels") or {}).get(SEED_LABEL) != want and pod["metadata"].get(
                "deletionTimestamp") is None:
            applier().patch_metadata("v1", "Pod", name, dc.namespace, labels={SEED_LABEL: want})
    return [p for p in chosen if p in seen.pods]


def _apply(body: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    outcome, obj = applier().apply(manifest)
    APPLY_TOTAL.labels(KIND, manifest["kind"], outcome.value).inc()
    if outcome is not Outcome.UNCHANGED:
        kopf.info(body, reason=f"{manifest['kind']}{outcome.value.capitalize()}",
                  message=f"{outcome.value.capitalize()} {manifest['kind']} {manifest['metadata']['name']}")
    return obj


def _write_status(body: dict[str, Any], previous: CassandraDatacenterStatus,
                  status: CassandraDatacenterStatus) -> None:
    meta = body["metadata"]
    observe_plans(KIND, meta["namespace"], meta["name"], status.plans)
    if status.wire() == previous.wire():
        return  # nothing changed: write nothing
    applier().patch_status(CASSANDRA_DATACENTER.api_version, KIND, meta["name"], meta["namespace"], status.wire())


register(
    CASSANDRA_DATACENTER,
    reconcile,
    children=[ChildKind("apps", "v1", "statefulsets"), ChildKind("", "v1", "pods"),
              ChildKind("", "v1", "persistentvolumeclaims"),
              ChildKind("scheduling.smack.dev", "v1alpha1", "serviceclaims")],
    cluster_label=DATACENTER_LABEL,
)


def _demand(body: dict[str, Any]) -> ServiceClaimSpec | None:
    try:
        return claim_spec(CassandraDatacenterSpec.model_validate(body.get("spec") or {}))
    except ValidationError:
        return None


SERVICE = ServiceBinding(CASSANDRA_DATACENTER, _demand, rack_field)


@runtime.validate(CASSANDRA_DATACENTER.group, CASSANDRA_DATACENTER.version, CASSANDRA_DATACENTER.plural,
                  id="cassandra-owned-config", operations=["CREATE", "UPDATE"], ignore_failures=True)
def _refuse_owned_config(body: kopf.Body, **_: Any) -> None:
    """Refuse cassandra.yaml keys the operator owns, naming each and where its value comes from."""
    problems = owned_config_problems((body.get("spec") or {}).get("config") or {})
    if problems:
        raise kopf.AdmissionError("; ".join(problems), code=422)
