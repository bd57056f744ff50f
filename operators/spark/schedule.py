"""ScheduledSparkApplication, pure: which run is due, what the concurrency policy does with it,
which finished runs the history limits drop.

A run is a SparkApplication named ``<schedule>-<unix time of its scheduled minute>``, owned by
the schedule and labelled with it. The name derives from the scheduled time, so a restarted
operator that starts the same run again gets 409 AlreadyExists: never two runs for one time.
When several scheduled times passed while the operator was away, only the latest one runs (as
the Kubeflow operator and CronJob without startingDeadlineSeconds catch up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..sdk.conditions import Condition, set_condition
from ..sdk.objects import object_meta
from .api import SPARK_APPLICATION, ScheduledSparkApplicationSpec, ScheduledSparkApplicationStatus
from .cron import Schedule
from .lifecycle import TERMINAL, format_time, parse_time
from .resources import SCHEDULED_APP_LABEL


@dataclass(frozen=True)
class RunView:
    name: str
    state: str
    created: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> RunView:
        state = ((obj.get("status") or {}).get("applicationState") or {}).get("state", "NEW")
        return cls(obj["metadata"]["name"], state, obj["metadata"].get("creationTimestamp", ""))

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL


@dataclass
class Decision:
    status: ScheduledSparkApplicationStatus
    create: str | None = None
    delete: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # active runs deleted by Replace
    skipped: list[str] = field(default_factory=list)  # active runs that made Forbid skip the due run
    requeue_after: float | None = None


def run_name(schedule: str, at: datetime) -> str:
    return f"{schedule[:240]}-{int(at.timestamp())}"


def _latest_due(schedule: Schedule, after: datetime, now: datetime) -> datetime | None:
    """The latest scheduled time in (after, now], or None."""
    latest = schedule.latest_at_or_before(now)
    return latest if latest is not None and latest > after else None


def plan(name: str, spec: ScheduledSparkApplicationSpec, status: ScheduledSparkApplicationStatus,
         runs: list[RunView], *, created: datetime, now: datetime, generation: int) -> Decision:
    """What to do at ``now`` (aware, UTC) for schedule ``name``, created at ``created``, with these runs."""
    new = status.model_copy(deep=True)
    new.observed_generation = generation
    decision = Decision(new)
    schedule = Schedule.parse(spec.schedule)
    last = parse_time(status.last_run) or created.replace(second=0, microsecond=0)
    if spec.suspend:
        new.schedule_state, new.next_run = "Suspended", None
    else:
        new.schedule_state = "Scheduled"
        due = _latest_due(schedule, last, now)
        if due is not None:
            active = [r.name for r in runs if r.active]
            new.last_run = format_time(due)
            if active and spec.concurrency_policy == "Forbid":
                decision.skipped = active
                new.skipped_runs += 1
            else:
                if active and spec.concurrency_policy == "Replace":
                    decision.replaced = active
                    decision.delete.extend(active)
                decision.create = new.last_run_name = run_name(name, due)
        following = schedule.next_after(max(parse_time(new.last_run) or last, now))
        new.next_run = format_time(following) if following else None
        if following is not None:
            decision.requeue_after = max((following - now).total_seconds(), 1.0)
    _trim(spec, runs, new, decision)
    new.conditions = set_condition(new.conditions, Condition(
        type="Ready", status="True", reason=new.schedule_state,
        message=f"next run {new.next_run}" if new.next_run else "no run is scheduled",
        observed_generation=generation), at=format_time(now))
    return decision


def _trim(spec: ScheduledSparkApplicationSpec, runs: list[RunView], new: ScheduledSparkApplicationStatus,
          decision: Decision) -> None:
    """Keep the newest finished runs up to the history limits; delete the older ones."""
    for state, limit, attr in (("COMPLETED", spec.successful_run_history_limit, "past_successful_run_names"),
                               ("FAILED", spec.failed_run_history_limit, "past_failed_run_names")):
        done = sorted((r for r in runs if r.state == state), key=lambda r: (r.created, r.name), reverse=True)
        setattr(new, attr, [r.name for r in done[:limit]])
        decision.delete.extend(r.name for r in done[limit:] if r.name not in decision.delete)


def run_manifest(owner: dict[str, Any], spec: ScheduledSparkApplicationSpec, name: str) -> dict[str, Any]:
    """A run: a SparkApplication from the template, owned by the schedule and labelled with it."""
    meta = owner["metadata"]
    return {"apiVersion": SPARK_APPLICATION.api_version, "kind": SPARK_APPLICATION.kind,
            "metadata": object_meta(name=name, namespace=meta["namespace"],
                                    labels={SCHEDULED_APP_LABEL: meta["name"]}, owner=owner),
            "spec": spec.template.wire()}
