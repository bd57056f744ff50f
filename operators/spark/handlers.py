"""kopf wiring for SparkApplication and ScheduledSparkApplication: observe, step, act, write status.

:func:`setup` registers the handlers (``python -m operators run --only spark`` calls it).
The decisions are in :mod:`.lifecycle` (applications) and :mod:`.schedule` (schedules); this
module reads the claim and the pods, carries out the actions in the order the lifecycle gives
them, and reports transitions as events and metrics.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from ..scheduling.api import SERVICE_CLAIM, ServiceClaimSpec, ServiceClaimStatus
from ..scheduling.binding import ServiceBinding
from ..scheduling.claims import admission_condition, grants
from ..sdk.apply import Client, Outcome, client_for, contains
from ..sdk.conditions import get_condition
from ..sdk.controller import ChildKind, ReconcileOutcome, Result, register
from ..sdk.metrics import START_LATENCY, STATE_DURATION, STATE_TRANSITIONS
from ..sdk.service import ServiceContext
from .api import (
    SCHEDULED_SPARK_APPLICATION,
    SPARK_APPLICATION,
    ScheduledSparkApplicationSpec,
    ScheduledSparkApplicationStatus,
    SparkApplicationSpec,
    SparkApplicationStatus,
)
from .lifecycle import ClaimView, DriverView, Next, Observed, Transition, parse_time, step, submission_failed
from .metrics import PREEMPTIONS, RERUNS
from .resources import (
    APP_LABEL,
    POD_SET_FIELDS,
    SCHEDULED_APP_LABEL,
    SPARK_ROLE_LABEL,
    SUBMISSION_LABEL,
    Application,
    Submission,
    claim_spec,
    service_claim,
    submission_children,
    submission_objects,
)
from .schedule import RunView, plan, run_manifest

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-spark"
KIND = SPARK_APPLICATION.kind
WARNING_STATES = ("FAILING", "FAILED", "SUBMISSION_FAILED")


def client() -> Client:
    return client_for(FIELD_MANAGER)


def reconcile(trigger: dict[str, Any]) -> Result:
    """One level-triggered pass over a SparkApplication.

    The object is read afresh (a quorum read) rather than taken from the watch: a pod's event can
    arrive before the event of this operator's own last status write, and a decision taken on the
    older status could delete the driver it had just created.
    """
    body = client().get(SPARK_APPLICATION.api_version, KIND, trigger["metadata"]["name"],
                         trigger["metadata"]["namespace"])
    if body is None or body["metadata"].get("deletionTimestamp"):
        return Result(ReconcileOutcome.OK)
    ctx = ServiceContext.of(client(), SPARK_APPLICATION, body)
    previous = SparkApplicationStatus.model_validate(body.get("status") or {})
    try:
        app = Application.from_body(body)
    except ValidationError as exc:
        return ctx.refuse_spec(previous, exc)

    a = client()
    claim = a.get(SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind, app.name, app.namespace)
    pods = a.list_objects("v1", "Pod", app.namespace, f"{APP_LABEL}={app.name}")
    drivers = tuple(DriverView.of(p) for p in pods if p["metadata"]["labels"].get(SPARK_ROLE_LABEL) == "driver")
    sid = previous.submission_id
    executors = sum(1 for p in pods if p["metadata"]["labels"].get(SPARK_ROLE_LABEL) == "executor"
                    and p["metadata"]["labels"].get(SUBMISSION_LABEL) == sid
                    and (p.get("status") or {}).get("phase") == "Running")
    now = datetime.now(UTC)
    nxt = step(Observed(app.name, app.spec, ctx.generation, previous, claim_view(claim), drivers, executors), now)

    if nxt.fence:
        fenced = previous.model_copy(update={k: getattr(nxt.status, k) for k in (
            "submission_id", "submission_attempts", "last_submission_attempt_time")})
        try:
            ctx.write_status(previous, fenced, resource_version=body["metadata"]["resourceVersion"])
        except ApiException as exc:
            if exc.status != 409:
                raise
            log.info("%s %s/%s changed since it was read; not submitting from a stale view", KIND, *_key(app))
            return Result(ReconcileOutcome.PROGRESSING, 1.0)
        previous = fenced
    if nxt.create is not None:
        _submit(ctx, app, nxt, claim, now)
    for submission_id in nxt.delete:
        _delete_submission(ctx, app, Submission(app.name, submission_id))
    if nxt.apply_claim:
        manifest = service_claim(app)
        if claim is None or not contains(claim, manifest):
            ctx.count(manifest["kind"], a.apply(manifest)[0])
    if nxt.release_claim:
        a.delete_object(SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind, app.name, app.namespace)
    ctx.write_status(previous, nxt.status)
    for t in nxt.transitions:
        _report(ctx, t)
    if nxt.requeue_after is not None:
        return Result(ReconcileOutcome.PROGRESSING, max(nxt.requeue_after, 0.5))
    return Result(ReconcileOutcome.OK)


def claim_view(claim: dict[str, Any] | None) -> ClaimView:
    """What the lifecycle needs from the ServiceClaim."""
    if claim is None:
        return ClaimView()
    status = ServiceClaimStatus.model_validate(claim.get("status") or {})
    preempted = get_condition(status.conditions, "Preempted")
    granted = grants(claim)
    return ClaimView(exists=True, admitted=bool(granted), condition=admission_condition(claim),
                     preempted=preempted is not None and preempted.status == "True",
                     preempted_message=preempted.message if preempted else "",
                     executors=granted["executor"].count if "executor" in granted else None)


def _submit(ctx: ServiceContext, app: Application, nxt: Next, claim: dict[str, Any] | None, now: datetime) -> None:
    """Create the submission's objects; a refusal turns the transition into SUBMISSION_FAILED."""
    sub = nxt.create
    submitted = parse_time(nxt.status.last_submission_attempt_time) or now
    try:
        for manifest in submission_objects(app, sub, grants(claim), int(submitted.timestamp() * 1000)):
            outcome = ctx.client.create(manifest)
            ctx.count(manifest["kind"], outcome)
            if manifest["kind"] == "Pod" and outcome is Outcome.CREATED and nxt.status.submission_attempts == 1:
                created = parse_time(ctx.body["metadata"].get("creationTimestamp"))
                if created is not None:
                    START_LATENCY.labels(KIND).observe((datetime.now(UTC) - created).total_seconds())
    except ApiException as exc:
        if exc.status in (409, 429) or exc.status >= 500:
            raise  # transient: the loop retries with the same submission ID
        nxt.transitions.append(submission_failed(nxt.status, f"the API server refused the driver's objects: "
                                                             f"{exc.reason}: {_api_message(exc)}", now))


def _api_message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError):
        return str(exc.body or "")


def _delete_submission(ctx: ServiceContext, app: Application, sub: Submission) -> None:
    """Delete a submission's driver pod, Services and ConfigMap, and its executors."""
    for api_version, kind, name in submission_children(sub):
        ctx.client.delete_object(api_version, kind, name, app.namespace)
    ctx.client.delete_collection("v1", "Pod", app.namespace, f"{SUBMISSION_LABEL}={sub.submission_id}")
    ctx.recorder.info("DriverDeleted", f"deleted driver {sub.driver_pod} and its executors")


def _report(ctx: ServiceContext, t: Transition) -> None:
    STATE_TRANSITIONS.labels(KIND, t.previous, t.state).inc()
    if t.rerun is not None:
        RERUNS.labels(t.rerun).inc()
    if t.preempted:
        PREEMPTIONS.labels("requeued" if t.state == "PENDING_RERUN" else "failed").inc()
    if t.seconds_in_previous is not None:
        STATE_DURATION.labels(KIND, t.previous).observe(t.seconds_in_previous)
    reason = "".join(word.capitalize() for word in t.state.split("_"))
    message = f"{t.previous} -> {t.state}" + (f": {t.message}" if t.message else "")
    (ctx.recorder.warn if t.state in WARNING_STATES else ctx.recorder.info)(reason, message)


def _key(app: Application) -> tuple[str, str]:
    return app.namespace, app.name


def _demand(body: dict[str, Any]) -> ServiceClaimSpec | None:
    try:
        return claim_spec(SparkApplicationSpec.model_validate(body.get("spec") or {}))
    except ValidationError:
        return None


SERVICE = ServiceBinding(SPARK_APPLICATION, _demand, POD_SET_FIELDS)


# ---------------------------------------------------------------------------------------------
# ScheduledSparkApplication

def reconcile_scheduled(body: dict[str, Any]) -> Result:
    """One pass over a ScheduledSparkApplication: start the run that is due, trim the history."""
    ctx = ServiceContext.of(client(), SCHEDULED_SPARK_APPLICATION, body)
    previous = ScheduledSparkApplicationStatus.model_validate(body.get("status") or {})
    try:
        spec = ScheduledSparkApplicationSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        return ctx.refuse_spec(previous, exc)
    a = ctx.client
    runs = [RunView.of(r) for r in a.list_objects(SPARK_APPLICATION.api_version, KIND, ctx.namespace,
                                                  f"{SCHEDULED_APP_LABEL}={ctx.name}")]
    decision = plan(ctx.name, spec, previous, runs, created=parse_time(body["metadata"]["creationTimestamp"]),
                    now=datetime.now(UTC), generation=ctx.generation)
    for name in decision.delete:
        a.delete_object(SPARK_APPLICATION.api_version, KIND, name, ctx.namespace)
    if decision.replaced:
        ctx.recorder.info("RunReplaced", f"deleted active runs {', '.join(decision.replaced)}")
    if decision.create is not None:
        ctx.count(KIND, a.create(run_manifest(body, spec, decision.create)))
        ctx.recorder.info("RunStarted", f"started {decision.create}")
    if decision.skipped:
        ctx.recorder.info("RunSkipped", f"run due at {decision.status.last_run} skipped: "
                                        f"{', '.join(decision.skipped)} still active (Forbid)")
    ctx.write_status(previous, decision.status)
    return Result(ReconcileOutcome.OK, decision.requeue_after)


def setup() -> None:
    """Register the Spark operator's loops (``python -m operators run`` calls it once; the demand check is
    :data:`SERVICE`'s, served by meta's webhook)."""
    register(
        SPARK_APPLICATION,
        reconcile,
        children=[ChildKind("", "v1", "pods"), ChildKind("scheduling.smack.dev", "v1alpha1", "serviceclaims")],
        owner_label=APP_LABEL,
    )
    register(
        SCHEDULED_SPARK_APPLICATION,
        reconcile_scheduled,
        children=[ChildKind(SPARK_APPLICATION.group, SPARK_APPLICATION.version, SPARK_APPLICATION.plural)],
        owner_label=SCHEDULED_APP_LABEL,
    )
