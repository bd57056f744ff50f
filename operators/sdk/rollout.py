"""The OnDelete rollout engine, pure: which pods are out of date and which one to restart next.

A StatefulSet with ``updateStrategy: OnDelete`` only creates a pod from its new template
when the old pod is deleted; deciding when is the operator's job. Each pod's step in the
update plan comes from what the cluster shows (level-triggered, nothing in memory):

* Complete — the pod carries the wanted annotations (config hash, version) and is Ready;
* Started  — it carries them and is not Ready yet (Error once ``timeout`` seconds passed
  since it was created: the rollout stops with the reason);
* Starting — it is being deleted, or is missing and about to be recreated;
* Pending  — it runs an older config or version.

The caller builds phases in the service's safe order and asks :func:`derive_plan` for the
next step; :func:`restart_allowed` is the gate between steps: every other pod of the
service must be Ready first (the readiness gate; a service adds its own checks).
Source: Strimzi KafkaRoller's loop (restart one pod, wait for readiness, then the next),
shared/anchors/kafka-anchors.md b1; dcos-commons step states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .objects import DOMAIN
from .plans import Status, Step

# Operator controls on a pod: `kubectl annotate pod NAME smack.dev/restart=true` restarts it
# in the update plan's order, behind the same gate; `smack.dev/replace=true` also deletes its
# volumes first, so it comes back empty (DC/OS `pod restart` / `pod replace`). The new pod is
# created without the annotation, so each request is carried out once.
RESTART_ANNOTATION = f"{DOMAIN}/restart"
REPLACE_ANNOTATION = f"{DOMAIN}/replace"


@dataclass(frozen=True)
class PodView:
    """What the rollout needs to know about one pod."""

    name: str
    ready: bool
    deleting: bool
    current: bool          # carries every wanted annotation value
    created: datetime | None
    requested: str | None = None  # "restart" or "replace" when a person asked for it
    uid: str | None = None

    @classmethod
    def of(cls, pod: Mapping[str, Any], wanted: Mapping[str, str]) -> PodView:
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        conditions = (pod.get("status") or {}).get("conditions") or []
        created = meta.get("creationTimestamp")
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        requested = ("replace" if annotations.get(REPLACE_ANNOTATION) == "true"
                     else "restart" if annotations.get(RESTART_ANNOTATION) == "true" else None)
        return cls(
            name=meta.get("name", ""),
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
            deleting=meta.get("deletionTimestamp") is not None,
            current=all(annotations.get(k) == v for k, v in wanted.items()) and requested is None,
            created=created,
            requested=requested,
            uid=meta.get("uid"),
        )


def pod_step(name: str, pod: PodView | None, *, now: datetime, timeout: float) -> Step:
    """The update-plan step of pod ``name`` (None when the pod does not exist)."""
    if pod is None:
        return Step(name, Status.STARTING, "waiting for the StatefulSet to create the pod")
    if pod.deleting:
        return Step(name, Status.STARTING, "restarting")
    if pod.requested:
        return Step(name, Status.PENDING, f"{pod.requested} requested by annotation")
    if not pod.current:
        return Step(name, Status.PENDING, "runs an older config or version")
    if pod.ready:
        return Step(name, Status.COMPLETE)
    waited = (now - pod.created).total_seconds() if pod.created else 0.0
    if waited > timeout:
        return Step(name, Status.ERROR, f"not Ready {waited:.0f}s after it started (timeout {timeout:.0f}s)")
    return Step(name, Status.STARTED, "waiting for the pod to become Ready")


def restart_allowed(target: str, pods: Sequence[PodView]) -> list[str]:
    """Why ``target`` may not be restarted now (empty: it may): every other pod must be Ready."""
    return [f"{p.name} is not Ready" for p in pods if p.name != target and (not p.ready or p.deleting)]


def controller_lag(sts: Mapping[str, Any] | None) -> str | None:
    """Why the StatefulSet controller has not acted on ``sts``'s latest spec yet (None: it has).

    A pod deleted before the controller observed a new template can be recreated from the old one
    (and would need a second restart); so a restart waits until ``status.observedGeneration`` reaches
    ``metadata.generation``. cass-operator checks the same first on every pass
    (CheckStatefulSetControllerCaughtUp; k8ssandra/cass-operator #382).
    """
    if not sts:
        return None
    generation = (sts.get("metadata") or {}).get("generation")
    observed = (sts.get("status") or {}).get("observedGeneration")
    if generation is not None and (observed is None or observed < generation):
        return (f"StatefulSet {sts['metadata'].get('name', '')}: the controller has not observed generation "
                f"{generation} yet")
    return None
