"""The SparkApplication state machine, pure: what was observed in, the next state and actions out.

States and transitions (after the Kubeflow operator's, anchors (b); timers from the Apache
operator's timeouts). Every timer is derived from the transition times in status — the entry
time of the current state is the last ``stateHistory`` entry — so a restarted operator resumes
them; :func:`step` returns ``requeue_after`` for the next deadline.

=================  ====================================================  =============================
state              observed                                              next
=================  ====================================================  =============================
NEW, PENDING_RERUN old drivers still there                               (delete them; wait)
RESUMING           claim not admitted (or preempted)                     (wait) / SUBMISSION_FAILED
                                                                         after timeouts.submission
                   claim admitted                                        SUBMITTED: a new submission ID
                                                                         is fenced into status, then the
                                                                         driver's objects are created
SUBMITTED          driver Pending past timeouts.driverStart              FAILING (driver deleted)
                   driver Running / Succeeded / Failed / gone            RUNNING / SUCCEEDING / FAILING
RUNNING            driver Succeeded / Failed / gone                      SUCCEEDING / FAILING
                   fewer executors than the gang past executorStart      FAILING
SUBMITTED, RUNNING claim Preempted                                       PENDING_RERUN (OnFailure,
                                                                         Always) or FAILED (Never)
SUCCEEDING         restartPolicy Always / otherwise                      PENDING_RERUN / COMPLETED
FAILING            retry allowed, after interval × executionAttempts    PENDING_RERUN; else FAILED
SUBMISSION_FAILED  retry allowed, after interval × submissionAttempts   PENDING_RERUN; else FAILED
any but COMPLETED, spec.suspend                                          SUSPENDING
FAILED, SUSPEND*
SUSPENDING         driver gone and claim released                        SUSPENDED
SUSPENDED          spec.suspend false                                    RESUMING
COMPLETED, FAILED  ttlSecondsAfterFinished passed                        (driver, Services deleted)
=================  ====================================================  =============================

The claim is applied in every state that runs or waits to run, and released (deleted) in
COMPLETED, FAILED, SUSPENDING and SUSPENDED. A driver that is not the current submission's is
always deleted, and a new submission waits until it is gone: at most one driver runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..sdk.conditions import Condition, set_condition
from .api import (
    HISTORY_LIMIT,
    ApplicationState,
    DriverInfo,
    SparkApplicationSpec,
    SparkApplicationStatus,
    State,
    StateTransition,
)
from .resources import SUBMISSION_LABEL, UI_PORT, Submission

TERMINAL: tuple[State, ...] = ("COMPLETED", "FAILED")
# States in which the claim is released: nothing runs and nothing waits to run.
RELEASED: tuple[State, ...] = ("COMPLETED", "FAILED", "SUSPENDING", "SUSPENDED")
# Seconds a just-created driver pod may take to be seen (Kubeflow's driverPodCreationGracePeriod).
DRIVER_GRACE = 10.0
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]


@dataclass(frozen=True)
class DriverView:
    """A driver pod as observed: its submission, phase and, for a stuck or ended one, why."""

    name: str
    submission_id: str
    phase: Phase
    message: str = ""
    deleting: bool = False

    @classmethod
    def of(cls, pod: dict[str, Any]) -> DriverView:
        meta, status = pod["metadata"], pod.get("status") or {}
        return cls(meta["name"], (meta.get("labels") or {}).get(SUBMISSION_LABEL, ""),
                   status.get("phase", "Pending"), _pod_message(status), bool(meta.get("deletionTimestamp")))


def _pod_message(status: dict[str, Any]) -> str:
    """Why a pod is where it is: a waiting or terminated container's reason (and exit code) and message,
    else the pod's. A terminated container's message is the tail of its log (the driver container has
    terminationMessagePolicy FallbackToLogsOnError), reduced to the line that says what went wrong."""
    for cs in status.get("containerStatuses") or []:
        for key in ("terminated", "waiting"):
            detail = (cs.get("state") or {}).get(key)
            if detail and (detail.get("reason") or detail.get("message")):
                code = f" (exit code {detail['exitCode']})" if "exitCode" in detail else ""
                message = error_line(detail.get("message") or "") if key == "terminated" else detail.get("message")
                return ": ".join(x for x in ((detail.get("reason") or "") + code, message) if x)
    return ": ".join(x for x in (status.get("reason"), status.get("message")) if x)


# What ends a failed driver's log: the JVM's report of an uncaught exception, spark-submit's "Error: …"
# (e.g. "Error: Failed to load class x.", exit code 101: SparkSubmit.scala), or a log4j ERROR line
# ("yy/MM/dd HH:mm:ss ERROR Logger: message", Spark's default log4j2 layout).
_UNCAUGHT = re.compile(r"^Exception in thread \S+ (?P<error>.+)$")
_SUBMIT_ERROR = re.compile(r"^Error: .+$")
_LOG_ERROR = re.compile(r"^\S+ \S+ ERROR (?P<error>.+)$")
ERROR_LINE_MAX = 512


def error_line(log_tail: str) -> str:
    """The line of a failed driver's log tail that says why it failed, at most :data:`ERROR_LINE_MAX`
    characters: an uncaught exception, else spark-submit's ``Error:`` line, else the last log4j ERROR
    line, else the last non-empty line ("" for an empty tail)."""
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    found = next((m["error"] for line in lines if (m := _UNCAUGHT.match(line))), None)
    found = found or next((line for line in lines if _SUBMIT_ERROR.match(line)), None)
    found = found or next((m["error"] for line in reversed(lines) if (m := _LOG_ERROR.match(line))), None)
    found = found or (lines[-1] if lines else "")
    return found[:ERROR_LINE_MAX]


@dataclass(frozen=True)
class ClaimView:
    """The application's ServiceClaim as observed."""

    exists: bool = False
    admitted: bool = False
    preempted: bool = False
    condition: Condition | None = None  # the admission condition to show (sdk.claims.admission_condition)
    preempted_message: str = ""
    executors: int | None = None  # executors granted


@dataclass(frozen=True)
class Observed:
    """One observation of an application: its spec and status, its claim, its driver pods (any
    submission's) and how many of the current submission's executors run."""

    name: str
    spec: SparkApplicationSpec
    generation: int
    status: SparkApplicationStatus
    claim: ClaimView
    drivers: tuple[DriverView, ...] = ()
    executors_running: int = 0


RerunCause = Literal["failed", "submission_failed", "preempted", "always"]


@dataclass(frozen=True)
class Transition:
    """One state change. ``rerun`` says why the application is queued again (a PENDING_RERUN entered
    after a failed run or submission, a preemption, or a success under restartPolicy Always);
    ``preempted`` marks the transitions a preemption caused (a rerun, or FAILED with Never)."""

    previous: State
    state: State
    message: str | None
    seconds_in_previous: float | None  # None when the previous state's entry time is unknown
    rerun: RerunCause | None = None
    preempted: bool = False


@dataclass
class Next:
    """What to do, in order: when ``fence``, write the status with the object's resourceVersion as a
    precondition (a new submission ID was drawn) and stop if that conflicts; create the objects of
    ``create``; delete the objects of the ``delete`` submissions; apply or release the claim; write
    ``status``; post an event per transition; look again after ``requeue_after`` seconds."""

    status: SparkApplicationStatus
    apply_claim: bool = False
    release_claim: bool = False
    fence: bool = False
    create: Submission | None = None
    delete: list[str] = field(default_factory=list)  # submission IDs
    transitions: list[Transition] = field(default_factory=list)
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)


def parse_time(text: str | None) -> datetime | None:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC) if text else None


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def entered(status: SparkApplicationStatus) -> datetime | None:
    """When the current state was entered (its last history entry), or None for a new application."""
    return parse_time(status.state_history[-1].time) if status.state_history else None


def transition(status: SparkApplicationStatus, state: State, message: str | None, now: datetime,
               rerun: RerunCause | None = None, preempted: bool = False) -> Transition:
    """Move ``status`` (in place) to ``state``: application state, history, termination time."""
    since = entered(status)
    done = Transition(status.application_state.state, state, message,
                      (now - since).total_seconds() if since else None, rerun, preempted)
    status.application_state = ApplicationState(state=state, error_message=message)
    status.state_history = [*status.state_history,
                            StateTransition(state=state, time=format_time(now), message=message)][-HISTORY_LIMIT:]
    if state in TERMINAL:
        status.termination_time = format_time(now)
    return done


def submission_failed(status: SparkApplicationStatus, message: str, now: datetime) -> Transition:
    """Record (in place) that the API server refused a submission's objects: SUBMISSION_FAILED."""
    return transition(status, "SUBMISSION_FAILED", message, now)


class _Machine:
    def __init__(self, o: Observed, now: datetime, new_id: Callable[[], str]):
        self.o, self.now, self.new_id = o, now, new_id
        self.status = o.status.model_copy(deep=True)
        self.next = Next(self.status)
        self.handlers: dict[State, Callable[[], None]] = {
            "NEW": self._waiting, "PENDING_RERUN": self._waiting, "RESUMING": self._waiting,
            "SUBMITTED": self._active, "RUNNING": self._active, "SUCCEEDING": self._succeeding,
            "FAILING": self._failing, "SUBMISSION_FAILED": self._submission_failed,
            "COMPLETED": self._finished, "FAILED": self._finished, "SUSPENDING": self._suspending,
            "SUSPENDED": lambda: None,
        }

    @property
    def state(self) -> State:
        return self.status.application_state.state

    def go(self, state: State, message: str | None = None, rerun: RerunCause | None = None,
           preempted: bool = False) -> None:
        self.next.transitions.append(transition(self.status, state, message, self.now, rerun, preempted))
        self.next.requeue(0.0)  # the next state may act at once

    def deadline(self, seconds: float | None, then: Callable[[], None]) -> None:
        """Run ``then`` once the current state is ``seconds`` old; until then requeue for that moment."""
        if seconds is None:
            return
        since = entered(self.status)
        left = seconds - ((self.now - since).total_seconds() if since else 0.0)
        if left <= 0:
            then()
        else:
            self.next.requeue(left)

    def current(self) -> DriverView | None:
        sid = self.status.submission_id
        return next((d for d in self.o.drivers if sid and d.submission_id == sid), None)

    def run(self) -> Next:
        spec = self.o.spec
        if not self.status.state_history:  # a new application: NEW starts its submission timer
            self.status.state_history = [StateTransition(state=self.state, time=format_time(self.now))]
        if spec.suspend and self.state not in (*TERMINAL, "SUSPENDING", "SUSPENDED"):
            self.go("SUSPENDING", "spec.suspend is true")
        elif self.state == "SUSPENDED" and not spec.suspend:
            self.go("RESUMING", "spec.suspend is false")
        else:
            self.handlers[self.state]()
        self._cleanup()
        self.status.observed_generation = self.o.generation
        self._conditions()
        return self.next

    def _cleanup(self) -> None:
        """Delete drivers that are not the current submission's and a live driver in a state that runs
        none; apply the claim, or release it."""
        current = self.current()
        for d in self.o.drivers:
            stale = d is not current
            stopped = self.state in ("FAILING", "FAILED", "SUSPENDING", "SUSPENDED") and d.phase in (
                "Pending", "Running", "Unknown")
            if not d.deleting and (stale or stopped) and d.submission_id not in self.next.delete:
                self.next.delete.append(d.submission_id)
        if self.state in RELEASED:
            self.next.release_claim = self.o.claim.exists
        else:
            self.next.apply_claim = True

    def _conditions(self) -> None:
        claim, gen, at = self.o.claim, self.o.generation, format_time(self.now)
        conds = self.status.conditions
        if self.state in RELEASED:
            reason = "Suspended" if self.state.startswith("SUSPEND") else "Finished"
            conds = set_condition(conds, Condition(type="Admitted", status="False", reason=reason,
                                                   message="the claim is released", observed_generation=gen), at=at)
        elif claim.condition is not None:
            conds = set_condition(conds, claim.condition.model_copy(update={
                "type": "Admitted", "observed_generation": gen, "last_transition_time": None}), at=at)
        for type_, state in (("Complete", "COMPLETED"), ("Failed", "FAILED")):
            if self.state == state:
                conds = set_condition(conds, Condition(
                    type=type_, status="True", reason=state.capitalize(),
                    message=self.status.application_state.error_message or "", observed_generation=gen), at=at)
            elif any(c.type == type_ for c in conds):
                conds = set_condition(conds, Condition(type=type_, status="False", reason="Rerun",
                                                       observed_generation=gen), at=at)
        self.status.conditions = conds

    # ---- waiting to submit ---------------------------------------------------------------------

    def _waiting(self) -> None:
        claim, spec = self.o.claim, self.o.spec
        sid = self.status.submission_id
        if any(d.submission_id != sid for d in self.o.drivers):
            return  # an older driver is still there: _cleanup deletes it, and its deletion wakes us
        if not claim.admitted or claim.preempted:
            why = claim.condition.message if claim.condition else "the claim is not admitted yet"
            limit = spec.timeouts.submission_seconds
            self.deadline(limit, lambda: self._give_up_submission(f"not admitted within {limit}s: {why}"))
            return
        if sid is None:
            # Drawn here, fenced into status before any object exists: the driver's name derives from it,
            # so a restarted operator creates the same driver or finds it (never a second one).
            sid = self.new_id()
            self.status.submission_id = sid
            self.status.submission_attempts += 1
            self.status.last_submission_attempt_time = format_time(self.now)
            self.next.fence = True
        sub = Submission(self.o.name, sid)
        self.next.create = sub
        self.status.spark_application_id = sub.app_id
        self.status.execution_attempts += 1
        self.status.executors = claim.executors
        self.status.driver_info = driver_info(sub, spec.ui_service)
        self.go("SUBMITTED")

    def _give_up_submission(self, message: str) -> None:
        self.status.submission_attempts += 1  # an attempt that never got its admission
        self.go("SUBMISSION_FAILED", message)

    # ---- running ------------------------------------------------------------------------------

    def _preempted(self) -> bool:
        if not self.o.claim.preempted:
            return False
        message = "preempted" + (f": {self.o.claim.preempted_message}" if self.o.claim.preempted_message else "")
        if self.o.spec.restart_policy.type == "Never":
            self.go("FAILED", message, preempted=True)
        else:
            self._rerun(message, "preempted")
        return True

    def _rerun(self, message: str | None, cause: RerunCause) -> None:
        self.status.submission_id = None
        self.status.driver_info = DriverInfo()
        self.go("PENDING_RERUN", message, rerun=cause, preempted=cause == "preempted")

    def _active(self) -> None:
        if self._preempted():
            return
        d = self.current()
        if d is None:
            since = parse_time(self.status.last_submission_attempt_time)
            waited = (self.now - since).total_seconds() if since else DRIVER_GRACE
            if waited >= DRIVER_GRACE or self.state == "RUNNING":
                self.go("FAILING", "driver pod not found")
            else:
                self.next.requeue(DRIVER_GRACE - waited)
        elif d.phase == "Succeeded":
            self.go("SUCCEEDING")
        elif d.phase == "Failed":
            self.go("FAILING", f"driver failed: {d.message}" if d.message else "driver failed")
        elif d.phase == "Running" and self.state == "SUBMITTED":
            self.go("RUNNING")
        elif self.state == "SUBMITTED":
            limit = self.o.spec.timeouts.driver_start_seconds
            self.deadline(limit, lambda: self.go(
                "FAILING", f"driver did not start within {limit}s: {d.message or 'pod ' + d.phase}"))
        else:
            minimum, limit = self.o.spec.executors[0], self.o.spec.timeouts.executor_start_seconds
            if self.o.executors_running < minimum:
                self.deadline(limit, lambda: self.go(
                    "FAILING", f"{self.o.executors_running} of {minimum} executors running after {limit}s"))

    # ---- ending -------------------------------------------------------------------------------

    def _succeeding(self) -> None:
        if self.o.spec.restart_policy.type == "Always":
            self._rerun(None, "always")
        else:
            self.go("COMPLETED")

    def _retry(self, retries: int, attempts: int, interval: int, cause: RerunCause) -> None:
        """Rerun after ``interval`` × ``attempts`` seconds when the policy allows another attempt; else FAILED."""
        policy, message = self.o.spec.restart_policy.type, self.status.application_state.error_message
        if policy == "Always" or (policy == "OnFailure" and attempts <= retries):
            self.deadline(interval * attempts, lambda: self._rerun(message, cause))
        else:
            self.go("FAILED", message)

    def _failing(self) -> None:
        policy = self.o.spec.restart_policy
        self._retry(policy.on_failure_retries, self.status.execution_attempts, policy.on_failure_retry_interval,
                    "failed")

    def _submission_failed(self) -> None:
        policy = self.o.spec.restart_policy
        self._retry(policy.on_submission_failure_retries, self.status.submission_attempts,
                    policy.on_submission_failure_retry_interval, "submission_failed")

    def _finished(self) -> None:
        """After ttlSecondsAfterFinished the driver's objects go (the application and its status stay)."""
        ttl, current = self.o.spec.ttl_seconds_after_finished, self.current()
        if ttl is None or current is None or current.deleting:
            return
        ended = parse_time(self.status.termination_time) or self.now
        left = ttl - (self.now - ended).total_seconds()
        if left <= 0:
            self.next.delete.append(current.submission_id)
        else:
            self.next.requeue(left)

    def _suspending(self) -> None:
        if not self.o.drivers and not self.o.claim.exists:
            self.status.submission_id = None
            self.status.driver_info = DriverInfo()
            self.go("SUSPENDED")


def step(o: Observed, now: datetime, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> Next:
    """The next status and actions for one observation at ``now`` (aware, UTC). ``new_id`` draws
    submission IDs (UUIDs)."""
    return _Machine(o, now, new_id).run()


def driver_info(sub: Submission, ui_service: bool) -> DriverInfo:
    """Where a submission's driver is, for status."""
    return DriverInfo(pod_name=sub.driver_pod, headless_service_name=sub.headless_service,
                      web_ui_service_name=sub.ui_service if ui_service else None,
                      web_ui_port=UI_PORT if ui_service else None)
