"""The service chassis: what every service operator does the same way in each reconcile pass.

A pass over one custom resource (a KafkaCluster, a CassandraDatacenter, a SparkApplication) makes
one :class:`ServiceContext` and goes through it for the I/O every service shares:

- ``apply_child`` — server-side apply of a child manifest, counted and, when it changed anything,
  reported as an event (``StatefulSetCreated``, ``ServiceUpdated``, ...);
- ``write_status`` — a JSON merge patch of the status subresource from what was read to what was
  decided, nothing at all when they are equal (DESIGN.md, "one writer per field"; nothing written
  when nothing changed);
- ``refuse_spec`` — a spec the CRD schema let through but the models refuse: Ready=False with reason
  InvalidSpec naming every field, a Warning event, and nothing else touched (the last good children
  keep running);
- ``plan_controls`` — the pause/proceed/force-complete annotations of a plan, with those of the last
  update dropped when a new update starts (dcos-commons: a new target resets a canary);
- ``report`` — the Ready gauge, the plan metrics, and one event when Ready turns True.

The decisions stay in each service's pure decision module; this module only carries them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from .apply import Client, Outcome, merge_patch
from .conditions import get_condition, invalid_spec
from .controller import ReconcileOutcome, Result
from .crd import CustomResource
from .events import Recorder
from .metrics import APPLY_TOTAL, RESOURCES_READY, observe_plans
from .models import Model
from .plans import HALT, PlanControlError, PlanControls, parse_controls, reset_patch

S = TypeVar("S", bound=Model)


@dataclass(frozen=True)
class ServiceContext:
    """One reconcile pass's handle on one custom resource of ``resource``'s kind.

    ``client`` is the operator's Kubernetes client (one field manager per operator); ``body`` the
    object as read at the start of the pass; ``recorder`` posts its events.
    """

    client: Client
    resource: CustomResource
    body: Mapping[str, Any]
    recorder: Recorder

    @classmethod
    def of(cls, client: Client, resource: CustomResource, body: Mapping[str, Any]) -> ServiceContext:
        return cls(client, resource, body, Recorder(body))

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.body["metadata"]["namespace"]

    @property
    def generation(self) -> int:
        return self.body["metadata"]["generation"]

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.body["metadata"].get("annotations") or {})

    def apply_child(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest``; return the live object.

        Counted in ``smack_apply_total``; a create or an update is posted as an event
        ``<Kind>Created`` / ``<Kind>Updated``. Raises ApiException when the API server refuses it.
        """
        outcome, obj = self.client.apply(manifest)
        self.count(manifest["kind"], outcome)
        if outcome is not Outcome.UNCHANGED:
            verb = outcome.value.capitalize()
            self.recorder.info(f"{manifest['kind']}{verb}", f"{verb} {manifest['kind']} {manifest['metadata']['name']}")
        return obj

    def count(self, kind: str, outcome: Outcome) -> None:
        """Count one write of a child of ``kind`` in ``smack_apply_total``."""
        APPLY_TOTAL.labels(self.resource.kind, kind, outcome.value).inc()

    def write_status(self, previous: Model, status: Model, **patch_options: Any) -> bool:
        """Merge-patch the status from ``previous`` (as read) to ``status``, removing fields stored under
        a name since renamed (Model.RENAMED); False when nothing changed and nothing was written.

        ``patch_options`` go to :meth:`Client.patch_status` (e.g. ``resource_version`` to write only over
        the version read; then ApiException 409 on a race)."""
        stored = self.body.get("status") or {}
        patch = merge_patch(previous.wire(), status.wire()) | {old: None for old in status.RENAMED if old in stored}
        if not patch:
            return False
        self.client.patch_status(self.resource.api_version, self.resource.kind, self.name, self.namespace, patch,
                                 **patch_options)
        return True

    def refuse_spec(self, previous: S, exc: ValidationError) -> Result:
        """Report a spec the models refuse (Ready=False, InvalidSpec, every field named) and touch nothing
        else; the result of the pass."""
        status, message = invalid_spec(previous, exc, self.generation)
        self.write_status(previous, status)
        self.recorder.warn("InvalidSpec", message)
        return Result(ReconcileOutcome.INVALID)

    def plan_controls(self, previous_target: str | None, target: str, *, halted: str) -> PlanControls:
        """The plan controls in the object's annotations (operators.sdk.plans.parse_controls).

        When ``target`` (the update now wanted) differs from ``previous_target`` (the one in the status),
        the proceed and force-complete annotations of the last update are removed first, so that a canary
        holds again. An unreadable control halts every plan (HALT) and is reported as a Warning event
        whose message ends with ``halted`` (what does not happen until it is fixed).
        """
        annotations = self.annotations
        if previous_target not in (None, target) and (patch := reset_patch(annotations, "update")):
            self.client.patch_metadata(self.resource.api_version, self.resource.kind, self.name, self.namespace,
                                       annotations=patch)
            self.recorder.info("PlanControlsReset", "a new update started: the proceed and force-complete "
                                                    "annotations of the last one are dropped")
            annotations = {k: v for k, v in (annotations | patch).items() if v is not None}
        try:
            return parse_controls(annotations)
        except PlanControlError as exc:
            self.recorder.warn("InvalidPlanControl", f"{exc}; {halted}")
            return HALT

    def report(self, previous: Any, status: Any, *, ready_reason: str, ready_detail: str) -> None:
        """Export the Ready gauge and the plans of ``status``; when Ready has just turned True, post
        ``ready_reason`` with the Ready message and ``ready_detail`` (e.g. where clients connect)."""
        ready = get_condition(status.conditions, "Ready")
        was_ready = get_condition(previous.conditions, "Ready")
        RESOURCES_READY.labels(self.resource.kind, self.namespace, self.name).set(
            ready is not None and ready.status == "True")
        observe_plans(self.resource.kind, self.namespace, self.name, getattr(status, "plans", []))
        if ready is not None and ready.status == "True" and (was_ready is None or was_ready.status != "True"):
            self.recorder.info(ready_reason, f"{ready.message}; {ready_detail}")
