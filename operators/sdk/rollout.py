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
from enum import StrEnum
from typing import Any

from .objects import DOMAIN
from .plans import Status, Step

# Operator controls on a pod: `kubectl annotate pod NAME smack.dev/restart=true` restarts it
# in the update plan's order, behind the same gate; `smack.dev/replace=true` also deletes its
# volumes first, so it comes back empty (DC/OS `pod restart` / `pod replace`). The new pod is
# created without the annotation, so each request is carried out once.
RESTART_ANNOTATION = f"{DOMAIN}/restart"
REPLACE_ANNOTATION = f"{DOMAIN}/replace"


class RestartReason(StrEnum):
    """Why the rollout restarts a pod: a closed vocabulary (Strimzi's ``RestartReason``).

    The value is the word a person uses ("restart", "replace" are also the annotations' verbs);
    :attr:`step_note` is the update-plan step's message while the pod waits, :attr:`note` what
    an event says the restart is for.
    """

    OUTDATED = "outdated"  # the pod runs an older config or version than its StatefulSet's template
    RESTART_REQUESTED = "restart"  # RESTART_ANNOTATION: restart it, keeping its volume
    REPLACE_REQUESTED = "replace"  # REPLACE_ANNOTATION: restart it on a new, empty volume

    @property
    def step_note(self) -> str:
        return _STEP_NOTES[self]

    @property
    def note(self) -> str:
        return _NOTES[self]


_STEP_NOTES = {RestartReason.OUTDATED: "runs an older config or version",
               RestartReason.RESTART_REQUESTED: "restart requested by annotation",
               RestartReason.REPLACE_REQUESTED: "replace requested by annotation"}
_NOTES = {RestartReason.OUTDATED: "to apply the current config and version",
          RestartReason.RESTART_REQUESTED: "restart requested",
          RestartReason.REPLACE_REQUESTED: "replace requested"}


@dataclass(frozen=True)
class PodView:
    """What the rollout needs to know about one pod."""

    name: str
    ready: bool
    deleting: bool
    current: bool          # carries every wanted annotation value, and no restart was requested
    created: datetime | None
    requested: RestartReason | None = None  # RESTART_REQUESTED or REPLACE_REQUESTED when a person asked
    uid: str | None = None

    @property
    def restart_reason(self) -> RestartReason | None:
        """Why the rollout would restart this pod, None when it is current."""
        return self.requested or (None if self.current else RestartReason.OUTDATED)

    @classmethod
    def of(cls, pod: Mapping[str, Any], wanted: Mapping[str, str]) -> PodView:
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        conditions = (pod.get("status") or {}).get("conditions") or []
        created = meta.get("creationTimestamp")
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        requested = (RestartReason.REPLACE_REQUESTED if annotations.get(REPLACE_ANNOTATION) == "true"
                     else RestartReason.RESTART_REQUESTED if annotations.get(RESTART_ANNOTATION) == "true" else None)
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
    if (reason := pod.restart_reason) is not None:
        return Step(name, Status.PENDING, reason.step_note)
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
