"""kopf wiring for CassandraDatacenter: observe → decide → act → report. Only I/O lives here.

:func:`setup` registers the handlers (``python -m operators run --only cassandra`` calls it with
the :class:`~.settings.Settings` read at start-up). A pass reads everything once into an
:class:`~.plans.Observed` (objects and the probe's ring), lets the pure :func:`~.plans.decide`
choose (twice when it would act on a node: first without the cluster information, then with it, see
:func:`~.plans.needs_cluster_info`), applies the claim and children, carries out at most one node action,
and writes the status. Events go through one :class:`~operators.sdk.events.Recorder` per pass.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from ..scheduling.api import SERVICE_CLAIM, ServiceClaimSpec
from ..scheduling.binding import ServiceBinding
from ..sdk import runtime
from ..sdk.apply import Client, client_for
from ..sdk.controller import ChildKind, ReconcileOutcome, Result, register
from ..sdk.events import Recorder, run_operation
from ..sdk.metrics import gate_blocked
from ..sdk.recovery import node_failure, unready_nodes
from ..sdk.service import ServiceContext
from .api import CASSANDRA_DATACENTER, CassandraDatacenterSpec, CassandraDatacenterStatus, owned_config_problems
from .gates import reason_of
from .nodetool import Probe, ProbeError, answering_node
from .plans import (
    Action,
    Bootstrap,
    Decommission,
    Next,
    NodeOperation,
    Observed,
    RecordReplaceAddress,
    Replace,
    Restart,
    Wait,
    decide,
    held_by_apply,
    needs_cluster_info,
    stale_views,
    update_revision,
)
from .resources import (
    DATACENTER_LABEL,
    DECOMMISSIONED_ANNOTATION,
    DRAINED_ANNOTATION,
    SEED_LABEL,
    Datacenter,
    claim_spec,
    rack_field,
)
from .settings import Settings

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-cassandra"
KIND = CASSANDRA_DATACENTER.kind


def client() -> Client:
    return client_for(FIELD_MANAGER)


def reconcile(settings: Settings, body: dict[str, Any]) -> Result:
    """One level-triggered pass over a CassandraDatacenter: at most one disruptive step per pass."""
    ctx = ServiceContext.of(client(), CASSANDRA_DATACENTER, body)
    previous = CassandraDatacenterStatus.model_validate(body.get("status") or {})
    try:
        dc = Datacenter.from_body(body)
    except ValidationError as exc:
        return ctx.refuse_spec(previous, exc)
    probe = settings.probe_for(dc.namespace)
    seen = _observe(probe, ctx.recorder, dc, body, previous)
    controls = ctx.plan_controls(previous.update_revision, update_revision(dc),
                                 halted="no step starts until it is fixed")
    now = datetime.now(UTC)
    nxt = decide(seen, controls, now)
    if needs_cluster_info(seen, nxt):  # a gate is about to open: ask for schema agreement, then decide again
        seen = _with_cluster_info(probe, ctx.recorder, seen)
        nxt = decide(seen, controls, now)
    done = _act(probe, ctx, seen, nxt)
    return _report(ctx, dc, previous, nxt.status_after(done), nxt.requeue_after)


# --------------------------------------------------------------------------- observe


def _observe(probe: Probe, rec: Recorder, dc: Datacenter, body: dict[str, Any],
             previous: CassandraDatacenterStatus) -> Observed:
    """Read the datacenter's objects and the nodes of pods not Ready, then ask the probe for the ring (not
    the cluster information: see :func:`_with_cluster_info`)."""
    a = client()
    selector = f"{DATACENTER_LABEL}={dc.name}"
    pods = a.list_objects("v1", "Pod", dc.namespace, selector)
    volumes = a.list_objects("v1", "PersistentVolumeClaim", dc.namespace, selector)
    stateful_sets = {r.name: a.get("apps/v1", "StatefulSet", dc.sts_name(r.name), dc.namespace) for r in dc.racks}
    claim = a.get(SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind, dc.name, dc.namespace)
    rack_of = {p["metadata"]["name"]: (dc.rack_of(p["metadata"]["name"]) or ("",))[0] for p in pods}
    try:
        ring = probe.ring(pods, dc.name, rack_of, stale_views(pods, previous))
    except ProbeError as exc:  # no node is trusted, so no gate opens
        rec.warn("ProbeFailed", str(exc))
        ring = []
    failures = {n: f for n in unready_nodes(pods) if (f := node_failure(n, a.get("v1", "Node", n, None)))}
    return Observed.of(dc, stateful_sets, pods, volumes, ring, claim=claim, previous=previous,
                       generation=body["metadata"]["generation"], failures=failures)


def _with_cluster_info(probe: Probe, rec: Recorder, seen: Observed) -> Observed:
    """``seen`` with ``nodetool describecluster`` from a node whose view is fresh (none: unchanged); a failure
    becomes a probe failure, which closes every gate."""
    source = answering_node(seen.ring.values(), stale_views(list(seen.pods.values()), seen.previous))
    if source is None:
        return seen
    try:
        return replace(seen, info=probe.describe_cluster(source))
    except Exception as exc:  # any exec or parse error: every gate stays closed
        rec.warn("ProbeFailed", f"nodetool describecluster on {source}: {exc}")
        return replace(seen, probe_failures=(*seen.probe_failures, f"nodetool describecluster on {source} failed"))


# --------------------------------------------------------------------------- act


def _act(probe: Probe, ctx: ServiceContext, seen: Observed, nxt: Next) -> bool:
    """Apply the claim and the children, label the seeds, then carry out the one node action unless the
    apply changed a StatefulSet under it. True when the action is done (its node records hold)."""
    dc = seen.dc
    ctx.apply_child(nxt.claim)
    applied = {(m["kind"], m["metadata"]["name"]): ctx.apply_child(m) for m in nxt.children}
    for pod, value in nxt.seed_labels.items():
        ctx.client.patch_metadata("v1", "Pod", pod, dc.namespace, labels={SEED_LABEL: value})
    held = held_by_apply(nxt.action, seen.stateful_sets,
                         {r.name: applied[("StatefulSet", dc.sts_name(r.name))] for r in dc.racks})
    action = Wait(nxt.action.pod, nxt.action.where, tuple(held)) if held else nxt.action
    return _node_action(probe, ctx.recorder, dc, action) if action is not None else False


def _node_action(probe: Probe, rec: Recorder, dc: Datacenter, action: Action) -> bool:
    """Carry out one node action of :mod:`.plans`; True when it is done."""
    def nodetool(pod: str, command: str, reason: str) -> bool:
        return run_operation(rec, f"{action.where}: nodetool {command} on {pod}", reason,
                             lambda: probe.run(pod, command), note=probe.note)

    if isinstance(action, Wait):
        gate_held(action)
        return False
    a = client()
    match action:
        case Bootstrap(pod, where):
            rec.info("BootstrappingNode", f"{where}: creating {pod}; every other node is up and normal")
        case NodeOperation(pod, _, command, reason):
            return nodetool(pod, command, reason)
        case Decommission(pod, _, run, stamp, at):
            if run and not nodetool(pod, "decommission", "DecommissionedNode"):
                return False
            if stamp is not None:
                a.patch_metadata("v1", "PersistentVolumeClaim", stamp, dc.namespace,
                                 annotations={DECOMMISSIONED_ANNOTATION: at})
        case RecordReplaceAddress(pod, where, address):
            rec.info("ReplaceAddressRecorded", f"{where}: {pod} will replace the dead node {address} on a new volume")
        case Replace(pod, where, uid, volume, address):
            a.delete_object("v1", "PersistentVolumeClaim", volume, dc.namespace)
            a.delete_pod(pod, dc.namespace, uid=uid)
            rec.info("ReplacingNode", f"{where}: replacing {pod} on a new volume with "
                                      f"-Dcassandra.replace_address_first_boot={address}")
        case Restart(pod, where, uid, drain, why):
            if drain:
                if not nodetool(pod, "drain", "DrainedNode"):
                    return False
                a.patch_metadata("v1", "Pod", pod, dc.namespace, annotations={DRAINED_ANNOTATION: "true"})
            a.delete_pod(pod, dc.namespace, uid=uid)
            rec.info("RestartingNode", f"{where}: restarting {pod} {why}")
    return True


def gate_held(wait: Wait) -> None:
    """Log a closed gate and count it in smack_gate_blocked_total{service="cassandra"}, once per reason."""
    log.info("%s: %s waits: %s", wait.where, wait.pod, "; ".join(wait.blockers))
    gate_blocked("cassandra", [reason_of(b) for b in wait.blockers])


# --------------------------------------------------------------------------- report


def _report(ctx: ServiceContext, dc: Datacenter, previous: CassandraDatacenterStatus,
            status: CassandraDatacenterStatus, requeue_after: float | None) -> Result:
    """Write the status, export the readiness and plan metrics, and announce the datacenter turning Ready."""
    ctx.write_status(previous, status)
    ctx.report(previous, status, ready_reason="DatacenterReady",
               ready_detail=f"CQL at {dc.client_service}.{dc.namespace}.svc:9042")
    return Result() if requeue_after is None else Result(ReconcileOutcome.PROGRESSING, requeue_after)


# --------------------------------------------------------------------------- registration


def setup(settings: Settings) -> None:
    """Register the CassandraDatacenter handlers with kopf: the reconcile loop (using ``settings``' probe),
    and the owned-config webhook (the demand check is :data:`SERVICE`'s, served by meta's webhook)."""
    register(
        CASSANDRA_DATACENTER,
        functools.partial(reconcile, settings),
        children=[ChildKind("apps", "v1", "statefulsets"), ChildKind("", "v1", "pods"),
                  ChildKind("", "v1", "persistentvolumeclaims"),
                  ChildKind("scheduling.smack.dev", "v1alpha1", "serviceclaims")],
        owner_label=DATACENTER_LABEL,
    )
    runtime.validate(CASSANDRA_DATACENTER.group, CASSANDRA_DATACENTER.version, CASSANDRA_DATACENTER.plural,
                     id="cassandra-owned-config", operations=["CREATE", "UPDATE"],
                     ignore_failures=True)(_refuse_owned_config)


def _demand(body: dict[str, Any]) -> ServiceClaimSpec | None:
    try:
        return claim_spec(CassandraDatacenterSpec.model_validate(body.get("spec") or {}))
    except ValidationError:
        return None


SERVICE = ServiceBinding(CASSANDRA_DATACENTER, _demand, rack_field)


def _refuse_owned_config(body: kopf.Body, **_: Any) -> None:
    """Refuse cassandra.yaml keys the operator owns, naming each and where its value comes from."""
    problems = owned_config_problems((body.get("spec") or {}).get("config") or {})
    if problems:
        raise kopf.AdmissionError("; ".join(problems), code=422)
