"""The SparkApplication state machine, without a cluster: every state, every timer, and properties
that hold for any sequence of observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.sdk.conditions import Condition
from operators.spark.api import SparkApplicationSpec, SparkApplicationStatus, StateTransition
from operators.spark.lifecycle import (
    RELEASED,
    ClaimView,
    DriverView,
    Observed,
    error_line,
    format_time,
    step,
    submission_failed,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SID = "11111111-2222-3333-4444-555555555555"
ADMITTED = ClaimView(exists=True, admitted=True, executors=2,
                     condition=Condition(type="Admitted", status="True", reason="Admitted", message="ok"))
PENDING = ClaimView(exists=True, condition=Condition(type="Admitted", status="False", reason="WaitingForQuota",
                                                     message="tenant t is at its limit"))
PREEMPTED = ClaimView(exists=True, admitted=True, preempted=True, preempted_message="preempted to make room for a/b")


def spec(**fields) -> SparkApplicationSpec:
    return SparkApplicationSpec.model_validate({"type": "Scala", "mainClass": "Pi", "mainApplicationFile": "pi.jar",
                                                **fields})


def status(state: str = "NEW", at: datetime = T0, **fields) -> SparkApplicationStatus:
    return SparkApplicationStatus.model_validate({
        "applicationState": {"state": state}, "stateHistory": [{"state": state, "time": format_time(at)}],
        **fields})


def observe(st_: SparkApplicationStatus, claim: ClaimView = ADMITTED, drivers=(),
            app: SparkApplicationSpec | None = None, executors: int = 0) -> Observed:
    return Observed("pi", app or spec(), 1, st_, claim, tuple(drivers), executors)


def driver(phase: str, sid: str = SID, message: str = "", deleting: bool = False) -> DriverView:
    return DriverView(f"pi-{sid[:8]}-driver", sid, phase, message, deleting)


def submitted(state: str = "SUBMITTED", at: datetime = T0, **fields) -> SparkApplicationStatus:
    return status(state, at, **{"submissionId": SID, "submissionAttempts": 1, "executionAttempts": 1,
                                "lastSubmissionAttemptTime": format_time(at)} | fields)


# ---- submission ------------------------------------------------------------------------------

def test_new_application_waits_for_admission_and_applies_its_claim():
    nxt = step(observe(SparkApplicationStatus(), claim=ClaimView()), T0)
    assert nxt.status.application_state.state == "NEW"
    assert nxt.apply_claim and nxt.create is None and not nxt.fence
    assert [h.state for h in nxt.status.state_history] == ["NEW"]


def test_admitted_application_fences_a_new_submission_id_then_creates_its_driver():
    nxt = step(observe(status()), T0, new_id=lambda: SID)
    assert nxt.fence and nxt.create is not None and nxt.create.submission_id == SID
    assert nxt.create.driver_pod == "pi-11111111-driver"
    s = nxt.status
    assert (s.application_state.state, s.submission_id, s.submission_attempts, s.execution_attempts) == (
        "SUBMITTED", SID, 1, 1)
    assert s.spark_application_id == "spark-11111111222233334444555555555555"
    assert s.driver_info.pod_name == "pi-11111111-driver" and s.executors == 2
    assert [(t.previous, t.state) for t in nxt.transitions] == [("NEW", "SUBMITTED")]


def test_a_fenced_submission_id_is_reused_after_a_restart_never_a_second_one():
    fenced = status(submissionId=SID, submissionAttempts=1)
    nxt = step(observe(fenced, drivers=[driver("Pending")]), T0, new_id=lambda: pytest.fail("drew a new ID"))
    assert not nxt.fence and nxt.create.submission_id == SID and nxt.status.submission_attempts == 1
    assert nxt.delete == []  # the driver is the current submission's: created again is a no-op (409)


def test_submission_waits_until_an_old_driver_is_gone():
    nxt = step(observe(status("PENDING_RERUN"), drivers=[driver("Failed", sid="old")]), T0)
    assert nxt.create is None and nxt.delete == ["old"]
    gone = step(observe(status("PENDING_RERUN"), drivers=[driver("Failed", sid="old", deleting=True)]), T0)
    assert gone.create is None and gone.delete == []


def test_submission_timeout_fails_the_submission_with_the_claims_reason():
    app = spec(timeouts={"submissionSeconds": 60})
    waiting = step(observe(status(), claim=PENDING, app=app), T0 + timedelta(seconds=20))
    assert waiting.status.application_state.state == "NEW" and waiting.requeue_after == 40
    nxt = step(observe(status(), claim=PENDING, app=app), T0 + timedelta(seconds=60))
    assert nxt.status.application_state.state == "SUBMISSION_FAILED"
    assert nxt.status.application_state.error_message == "not admitted within 60s: tenant t is at its limit"
    assert nxt.status.submission_attempts == 1


def test_refused_objects_make_the_submission_fail():
    s = submitted()
    t = submission_failed(s, "the API server refused the driver's objects: Unprocessable", T0)
    assert (t.previous, t.state) == ("SUBMITTED", "SUBMISSION_FAILED")
    assert s.application_state.error_message.startswith("the API server refused")


@pytest.mark.parametrize("policy, attempts, retried", [
    ({"type": "Never"}, 1, False), ({"type": "Always"}, 9, True),
    ({"type": "OnFailure", "onSubmissionFailureRetries": 2}, 2, True),
    ({"type": "OnFailure", "onSubmissionFailureRetries": 2}, 3, False),
])
def test_submission_failure_is_retried_per_policy_after_linear_back_off(policy, attempts, retried):
    app = spec(restartPolicy={**policy, "onSubmissionFailureRetryInterval": 5})
    failed = status("SUBMISSION_FAILED", submissionAttempts=attempts)
    early = step(observe(failed, app=app), T0 + timedelta(seconds=5 * attempts - 1))
    late = step(observe(failed, app=app), T0 + timedelta(seconds=5 * attempts))
    if retried:
        assert early.status.application_state.state == "SUBMISSION_FAILED" and early.requeue_after == 1
        assert late.status.application_state.state == "PENDING_RERUN"
        assert [t.rerun for t in late.transitions] == ["submission_failed"]
    else:
        assert early.status.application_state.state == "FAILED"
        assert [(t.rerun, t.preempted) for t in early.transitions] == [(None, False)]


# ---- running ---------------------------------------------------------------------------------

@pytest.mark.parametrize("phase, state", [("Running", "RUNNING"), ("Succeeded", "SUCCEEDING"),
                                          ("Failed", "FAILING")])
def test_submitted_follows_the_driver_phase(phase, state):
    nxt = step(observe(submitted(), drivers=[driver(phase, message="Error (exit code 1)")]), T0)
    assert nxt.status.application_state.state == state
    if state == "FAILING":
        assert nxt.status.application_state.error_message == "driver failed: Error (exit code 1)"


# The tails of real failed drivers' logs (spark 3.5.3 image, FallbackToLogsOnError), shortened.
NO_CLASS_TAIL = """\
Error: Failed to load class org.apache.spark.examples.NoSuchClass.
26/12/01 11:40:02 INFO ShutdownHookManager: Shutdown hook called
26/12/01 11:40:02 INFO ShutdownHookManager: Deleting directory /tmp/spark-2f0c
"""
UNCAUGHT_TAIL = """\
26/12/01 11:40:02 INFO SparkContext: Running Spark version 3.5.3
Exception in thread "main" java.lang.NumberFormatException: For input string: "many"
\tat java.base/java.lang.Integer.parseInt(Integer.java:668)
26/12/01 11:40:03 ERROR Utils: Uncaught exception in thread shutdown-hook-0
26/12/01 11:40:03 INFO ShutdownHookManager: Shutdown hook called
"""


@pytest.mark.parametrize("tail, line", [
    (NO_CLASS_TAIL, "Error: Failed to load class org.apache.spark.examples.NoSuchClass."),
    (UNCAUGHT_TAIL, 'java.lang.NumberFormatException: For input string: "many"'),
    ("26/12/01 11:40:03 ERROR SparkContext: Error initializing SparkContext.\nbye\n",
     "SparkContext: Error initializing SparkContext."),
    ("just a line\n\n", "just a line"),
    ("", ""),
    ("x" * 2000, "x" * 512),
])
def test_error_line_picks_what_went_wrong_from_a_driver_log_tail(tail, line):
    assert error_line(tail) == line


def test_failed_driver_pod_reports_exit_code_reason_and_the_error_of_its_log():
    pod = {"metadata": {"name": "pi-1-driver", "labels": {"spark.smack.dev/submission-id": SID}},
           "status": {"phase": "Failed", "containerStatuses": [{"name": "spark-kubernetes-driver", "state": {
               "terminated": {"exitCode": 101, "reason": "Error", "message": NO_CLASS_TAIL}}}]}}
    view = DriverView.of(pod)
    assert view.message == "Error (exit code 101): Error: Failed to load class org.apache.spark.examples.NoSuchClass."
    nxt = step(observe(submitted("RUNNING"), drivers=[view]), T0)
    assert nxt.status.application_state.error_message == f"driver failed: {view.message}"
    waiting = {"metadata": pod["metadata"], "status": {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}}
    assert DriverView.of(waiting).message == "ImagePullBackOff: Back-off pulling image"


def test_driver_that_does_not_start_in_time_fails_with_the_waiting_reason():
    app = spec(timeouts={"driverStartSeconds": 30})
    pending = driver("Pending", message="ImagePullBackOff: Back-off pulling image")
    early = step(observe(submitted(), drivers=[pending], app=app), T0 + timedelta(seconds=10))
    assert early.status.application_state.state == "SUBMITTED" and early.requeue_after == 20
    late = step(observe(submitted(), drivers=[pending], app=app), T0 + timedelta(seconds=30))
    assert late.status.application_state.state == "FAILING"
    assert late.status.application_state.error_message == (
        "driver did not start within 30s: ImagePullBackOff: Back-off pulling image")
    assert late.delete == [SID]  # a stuck driver is deleted at once


def test_missing_driver_fails_after_the_grace_period():
    early = step(observe(submitted(), drivers=[]), T0 + timedelta(seconds=3))
    assert early.status.application_state.state == "SUBMITTED" and early.requeue_after == 7
    late = step(observe(submitted(), drivers=[]), T0 + timedelta(seconds=10))
    assert late.status.application_state.error_message == "driver pod not found"
    running = step(observe(submitted("RUNNING"), drivers=[]), T0)
    assert running.status.application_state.state == "FAILING"


def test_executor_start_timeout_counts_the_gang_minimum():
    app = spec(timeouts={"executorStartSeconds": 60}, executor={"instances": 3})
    ok = step(observe(submitted("RUNNING"), drivers=[driver("Running")], app=app, executors=3), T0 + timedelta(hours=1))
    assert ok.status.application_state.state == "RUNNING" and ok.requeue_after is None
    short = step(observe(submitted("RUNNING"), drivers=[driver("Running")], app=app, executors=1),
                 T0 + timedelta(seconds=60))
    assert short.status.application_state.error_message == "1 of 3 executors running after 60s"


@pytest.mark.parametrize("policy, state", [("Never", "FAILED"), ("OnFailure", "PENDING_RERUN"),
                                           ("Always", "PENDING_RERUN")])
def test_preempted_application_is_stopped_and_requeued_per_policy(policy, state):
    nxt = step(observe(submitted("RUNNING"), claim=PREEMPTED, drivers=[driver("Running")],
                       app=spec(restartPolicy={"type": policy})), T0)
    assert nxt.status.application_state.state == state
    assert nxt.status.application_state.error_message == "preempted: preempted to make room for a/b"
    assert nxt.delete == [SID]
    assert nxt.status.execution_attempts == 1  # a preemption is not the application's failure
    (t,) = nxt.transitions
    assert t.preempted and t.rerun == (None if policy == "Never" else "preempted")


def test_preempted_claim_is_not_admitted_for_a_new_submission():
    nxt = step(observe(status("PENDING_RERUN"), claim=PREEMPTED), T0)
    assert nxt.create is None and nxt.status.application_state.state == "PENDING_RERUN"


# ---- ending ----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, state", [("Never", "COMPLETED"), ("OnFailure", "COMPLETED"),
                                           ("Always", "PENDING_RERUN")])
def test_succeeding(policy, state):
    nxt = step(observe(submitted("SUCCEEDING"), drivers=[driver("Succeeded")],
                       app=spec(restartPolicy={"type": policy})), T0)
    assert nxt.status.application_state.state == state
    assert [t.rerun for t in nxt.transitions] == (["always"] if policy == "Always" else [None])


def test_failing_retries_with_linear_back_off_then_fails_after_the_limit():
    app = spec(restartPolicy={"type": "OnFailure", "onFailureRetries": 2, "onFailureRetryInterval": 10})
    second = submitted("FAILING", executionAttempts=2)
    early = step(observe(second, drivers=[driver("Failed")], app=app), T0 + timedelta(seconds=19))
    assert early.status.application_state.state == "FAILING" and early.requeue_after == 1
    rerun = step(observe(second, drivers=[driver("Failed")], app=app), T0 + timedelta(seconds=20))
    assert rerun.status.application_state.state == "PENDING_RERUN"
    assert rerun.status.submission_id is None and rerun.delete == [SID]
    assert [(t.rerun, t.preempted) for t in rerun.transitions] == [("failed", False)]
    third = submitted("FAILING", executionAttempts=3)
    assert step(observe(third, app=app), T0).status.application_state.state == "FAILED"


def test_finished_application_releases_its_claim_and_cleans_up_after_the_ttl():
    app = spec(ttlSecondsAfterFinished=60)
    done = submitted("COMPLETED", terminationTime=format_time(T0))
    kept = step(observe(done, drivers=[driver("Succeeded")], app=app), T0 + timedelta(seconds=59))
    assert kept.release_claim and not kept.apply_claim and kept.delete == [] and kept.requeue_after == 1
    gone = step(observe(done, drivers=[driver("Succeeded")], app=app), T0 + timedelta(seconds=60))
    assert gone.delete == [SID]
    assert step(observe(done, claim=ClaimView(), app=app), T0).release_claim is False  # already released


def test_failed_application_stops_a_live_driver():
    nxt = step(observe(submitted("FAILED", terminationTime=format_time(T0)), drivers=[driver("Pending")]), T0)
    assert nxt.delete == [SID]


def test_suspend_and_resume():
    app = spec(suspend=True)
    nxt = step(observe(submitted("RUNNING"), drivers=[driver("Running")], app=app), T0)
    assert nxt.status.application_state.state == "SUSPENDING" and nxt.delete == [SID] and nxt.release_claim
    waiting = step(observe(nxt.status, drivers=[driver("Running", deleting=True)], app=app), T0)
    assert waiting.status.application_state.state == "SUSPENDING"
    done = step(observe(nxt.status, claim=ClaimView(), app=app), T0)
    assert done.status.application_state.state == "SUSPENDED" and done.status.submission_id is None
    resumed = step(observe(done.status, claim=ClaimView()), T0)
    assert resumed.status.application_state.state == "RESUMING" and resumed.apply_claim
    again = step(observe(resumed.status), T0, new_id=lambda: "new-id")
    assert again.status.application_state.state == "SUBMITTED" and again.fence


def test_conditions_mirror_the_claim_and_the_outcome():
    nxt = step(observe(status(), claim=PENDING), T0)
    admitted = next(c for c in nxt.status.conditions if c.type == "Admitted")
    assert (admitted.status, admitted.reason, admitted.message) == ("False", "WaitingForQuota",
                                                                    "tenant t is at its limit")
    done = step(observe(submitted("SUCCEEDING"), drivers=[driver("Succeeded")]), T0)
    assert {(c.type, c.status) for c in done.status.conditions} >= {("Complete", "True"), ("Admitted", "False")}


def test_history_is_bounded_and_ordered():
    long = status("FAILING", stateHistory=[StateTransition(state="FAILING", time=format_time(T0))] * 25)
    nxt = step(observe(long, app=spec(restartPolicy={"type": "Always", "onFailureRetryInterval": 0})), T0)
    assert len(nxt.status.state_history) == 20 and nxt.status.state_history[-1].state == "PENDING_RERUN"


# ---- properties ------------------------------------------------------------------------------

PHASES = st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown"])
CLAIMS = st.sampled_from([ClaimView(), PENDING, ADMITTED, PREEMPTED])
POLICIES = st.sampled_from(["Never", "OnFailure", "Always"])


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.tuples(CLAIMS, st.lists(PHASES, max_size=2), st.integers(0, 400)), min_size=1,
                       max_size=25),
       policy=POLICIES, suspend=st.booleans())
def test_any_run_keeps_at_most_one_current_driver_and_never_reuses_a_finished_submission(events, policy, suspend):
    """Feed the machine random observations of its own drivers; whatever happens:
    the current submission is the only driver it creates; it creates only when admitted and not
    preempted; a submission ID, once dropped, is never current again; terminal states release the claim."""
    app = spec(restartPolicy={"type": policy, "onFailureRetryInterval": 1, "onSubmissionFailureRetryInterval": 1},
               suspend=suspend, timeouts={"driverStartSeconds": 100, "submissionSeconds": 200})
    counter = iter(range(1000))
    s, now, live, dropped = SparkApplicationStatus(), T0, {}, set()
    for claim, phases, seconds in events:
        now += timedelta(seconds=seconds)
        drivers = [DriverView(f"d-{sid}", sid, phase) for sid, phase in live.items()]
        for view, phase in zip(drivers, phases, strict=False):
            live[view.submission_id] = phase
        drivers = [DriverView(f"d-{sid}", sid, phase) for sid, phase in live.items()]
        nxt = step(observe(s, claim=claim, drivers=drivers, app=app), now, new_id=lambda: f"s{next(counter)}")
        if nxt.create is not None:
            assert claim.admitted and not claim.preempted
            assert nxt.create.submission_id not in dropped
            assert all(sid == nxt.create.submission_id for sid in live), "created beside an older driver"
            live.setdefault(nxt.create.submission_id, "Pending")
        for sid in nxt.delete:
            live.pop(sid, None)
        if s.submission_id and nxt.status.submission_id != s.submission_id:
            dropped.add(s.submission_id)
        if nxt.status.application_state.state in RELEASED:
            assert not nxt.apply_claim
        s = nxt.status
