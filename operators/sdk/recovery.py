"""Failure recovery for the pods of a StatefulSet, pure: what failed and what to do about it.

The ``recovery`` plan (dcos-commons' recovery plan, shared/anchors/operator-framework-anchors.md)
shows the pods that were up once and are not now, and the action each needs:

* a pod whose phase is Failed is **restarted** in place: deleted, so the StatefulSet recreates it
  with the same volume (a container that crashes is restarted by the kubelet; the step only shows it);
* a pod whose node is NotReady (or gone) waits for the node; when the service allows it and the node
  has been NotReady for longer than its timeout, the pod is **replaced**: its volume and the pod are
  deleted and it starts elsewhere, empty (the service re-replicates its data);
* a pod that is not scheduled and whose placement differs from the StatefulSet's template (the
  meta-controller moved its admission off a lost node) is **rescheduled**: deleted, so it is
  recreated with the new placement. It runs nothing, so this is always safe.

Everything is read from the cluster: the node's Ready condition and its lastTransitionTime give
the failure's age, so an operator restarted in the middle does the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from .plans import NO_CONTROLS, Phase, Plan, PlanControls, PlanStatus, Status, Step, Strategy, derive_plan

Action = Literal["restart", "replace", "reschedule"]


@dataclass(frozen=True)
class NodeFailure:
    """A node that is not Ready: ``since`` is when its Ready condition left True (None: the node is gone)."""

    name: str
    since: datetime | None


def node_failure(name: str, node: Mapping[str, Any] | None) -> NodeFailure | None:
    """The failure of node ``name`` (its object, None when deleted), or None when it is Ready."""
    if node is None:
        return NodeFailure(name, None)
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") == "True":
        return None
    since = (ready or {}).get("lastTransitionTime")
    if isinstance(since, str):
        since = datetime.fromisoformat(since.replace("Z", "+00:00"))
    return NodeFailure(name, since)


@dataclass(frozen=True)
class Recovery:
    """One pod's recovery step, and the action to take now (None: wait and show the step)."""

    step: Step
    action: Action | None = None
    due_in: float | None = None  # seconds until a waiting replacement becomes due
    uid: str | None = None  # the pod incarnation the action is for


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def misplaced(pod: Mapping[str, Any], template: Mapping[str, Any] | None) -> bool:
    """True when ``pod`` is not scheduled and its affinity differs from the StatefulSet ``template``'s."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName") or template is None:
        return False
    return (spec.get("affinity") or {}) != ((template.get("spec") or {}).get("affinity") or {})


def recover(pods: Iterable[Mapping[str, Any]], failures: Mapping[str, NodeFailure], *,
            templates: Mapping[str, Mapping[str, Any] | None], deployed: set[str], ongoing: set[str],
            replaceable: set[str], timeout: float | None, now: datetime) -> dict[str, Recovery]:
    """The recovery of every pod that needs one, by pod name.

    Args:
        pods: the service's pods.
        failures: failed nodes by name (see :func:`node_failure`); a pod's node not in it is Ready.
        templates: the StatefulSet pod template by pod name (None when unknown).
        deployed: names of the pods that were up once; the others are still being deployed.
        ongoing: pods whose recovery the last status showed unfinished: followed until Ready.
        replaceable: pods that may be replaced on a node failure (the service's policy).
        timeout: seconds a node may be NotReady before its replaceable pods are replaced; None waits
            for the node.
        now: the current time (timezone-aware).
    """
    out: dict[str, Recovery] = {}
    for pod in pods:
        meta = pod["metadata"]
        name = meta["name"]
        if meta.get("deletionTimestamp") is not None:
            if name in ongoing:
                out[name] = Recovery(Step(name, Status.STARTING, "stopping the failed pod"))
            continue
        if misplaced(pod, templates.get(name)):
            out[name] = Recovery(Step(name, Status.PENDING, "not scheduled, and its admission moved to other "
                                                            "nodes: recreating it there"), "reschedule",
                                 uid=meta.get("uid"))
            continue
        if name not in deployed or _ready(pod):
            continue
        node = (pod.get("spec") or {}).get("nodeName")
        failure = failures.get(node) if node else None
        if (pod.get("status") or {}).get("phase") == "Failed":
            out[name] = Recovery(Step(name, Status.PENDING, "the pod failed: restarting it with its volume"),
                                 "restart", uid=meta.get("uid"))
        elif failure is not None:
            out[name] = replace(_node_lost(name, failure, name in replaceable, timeout, now), uid=meta.get("uid"))
        elif name in ongoing:
            out[name] = Recovery(Step(name, Status.STARTED, "waiting for the pod to become Ready"))
    return out


def describe_failure(failure: NodeFailure) -> str:
    """``node <name> is gone`` or ``node <name> NotReady since <RFC 3339>``."""
    return (f"node {failure.name} is gone" if failure.since is None else
            f"node {failure.name} NotReady since {failure.since.isoformat().replace('+00:00', 'Z')}")


def unready_nodes(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """The nodes of the pods that are bound and not Ready: the only ones whose failure can explain a pod
    down (read these, not every node). Sorted, each once."""
    def ready(pod: Mapping[str, Any]) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (pod.get("status") or {}).get("conditions") or [])
    return sorted({n for p in pods if (n := (p.get("spec") or {}).get("nodeName")) and not ready(p)})


def lost_pods(pods: Iterable[Mapping[str, Any]], failures: Mapping[str, NodeFailure]) -> dict[str, str]:
    """The pods whose node failed, by name: ``<pod> on <describe_failure>`` (the Degraded condition's
    words: a pod down because its node is lost is no update in progress)."""
    out = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in failures and pod["metadata"].get("deletionTimestamp") is None:
            out[pod["metadata"]["name"]] = describe_failure(failures[node])
    return dict(sorted(out.items()))


def _node_lost(name: str, failure: NodeFailure, replaceable: bool, timeout: float | None,
               now: datetime) -> Recovery:
    lost = describe_failure(failure)
    if not replaceable or timeout is None:
        why = "waiting for the node to come back" + ("" if replaceable else "; this pod is never replaced "
                                                                           "automatically")
        return Recovery(Step(name, Status.PENDING, f"{lost}; {why}"))
    waited = (now - failure.since).total_seconds() if failure.since else timeout
    if waited < timeout:
        return Recovery(Step(name, Status.PENDING, f"{lost}; replaced with a new volume on another node in "
                                                   f"{timeout - waited:.0f}s"), due_in=timeout - waited)
    return Recovery(Step(name, Status.PENDING, f"{lost} for {waited:.0f}s: replacing it with a new volume on "
                                               "another node"), "replace")


def completed_steps(plans: Iterable[PlanStatus], plan: str) -> list[str]:
    """Names of the steps of ``plan`` that ``status.plans`` showed Complete, in plan order."""
    return [s.name for p in plans if p.name == plan for ph in p.phases for s in ph.steps
            if s.status == Status.COMPLETE]


def recovery_plan(recoveries: Mapping[str, Recovery], previous: Iterable[PlanStatus], *,
                  controls: PlanControls = NO_CONTROLS, keep: int = 10) -> Plan:
    """The ``recovery`` plan: one parallel phase ``pods`` with a step per pod in recovery, after the
    last ``keep`` recoveries the previous status showed, now Complete (``previous`` is ``status.plans``)."""
    shown = [s for p in previous if p.name == "recovery" for ph in p.phases for s in ph.steps]
    done = [Step(s.name, Status.COMPLETE, s.message if s.status == Status.COMPLETE else "recovered")
            for s in shown if s.name not in recoveries][-keep:]
    steps = done + [r.step for _, r in sorted(recoveries.items())]
    return derive_plan("recovery", [Phase("pods", steps, Strategy.PARALLEL)], controls=controls)
