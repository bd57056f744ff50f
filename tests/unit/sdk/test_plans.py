from __future__ import annotations

import pytest

from operators.sdk.crd import openapi_schema
from operators.sdk.models import Model
from operators.sdk.plans import (
    FORCE_COMPLETE_ANNOTATION,
    HALT,
    PAUSE_ANNOTATION,
    PROCEED_ANNOTATION,
    Phase,
    PlanControlError,
    PlanControls,
    Plans,
    Status,
    Step,
    Strategy,
    aggregate_status,
    derive_plan,
    parse_controls,
    render_plan,
    reset_patch,
    unknown_targets,
)

P, PR, SG, SD, C, D, W, IP, E = (Status.PENDING, Status.PREPARED, Status.STARTING, Status.STARTED, Status.COMPLETE,
                                 Status.DELAYED, Status.WAITING, Status.IN_PROGRESS, Status.ERROR)


def phase(*statuses: Status, strategy: Strategy = Strategy.SERIAL, name: str = "brokers", canary: int = 2) -> Phase:
    return Phase(name, [Step(f"broker-{i}", s) for i, s in enumerate(statuses)], strategy, canary)


def controls(**annotations: str) -> PlanControls:
    keys = {"pause": PAUSE_ANNOTATION, "proceed": PROCEED_ANNOTATION, "force": FORCE_COMPLETE_ANNOTATION}
    return parse_controls({keys[k]: v for k, v in annotations.items()})


def shown(plan) -> list[list[Status]]:
    return [[s.status for s in ph.steps] for ph in plan.phases]


# --- aggregate rules: PlanUtils.getAggregateStatus, one row per rule in its order --------------------------------

@pytest.mark.parametrize(("children", "candidates", "interrupted", "expected"), [
    ([C, E], [], True, E),  # 1 any child ERROR, even when interrupted
    ([C, C], [], True, C),  # 2 all COMPLETE wins over interrupted
    ([], [], False, C),  # 2 no children is COMPLETE
    ([P, P], [P], True, W),  # 3 interrupted
    ([D, D], [D], False, D),  # 4 all DELAYED
    ([PR, P], [P], False, IP),  # 5 a child PREPARED
    ([P, W], [W], False, W),  # 6 a candidate WAITING
    ([IP, P], [IP], False, IP),  # 7 a candidate IN_PROGRESS
    ([C, P], [P], False, IP),  # 8 a child COMPLETE and a candidate PENDING
    ([C, SG], [SG], False, IP),  # 8 ... STARTING
    ([C, SD], [SD], False, IP),  # 8 ... STARTED
    ([P, P], [P], False, P),  # 9 a candidate PENDING
    ([SG, W], [SG], False, W),  # 10 a child WAITING beats a STARTING candidate
    ([C, W], [], False, W),  # 10 ... with no candidate at all
    ([SG, P], [SG], False, SG),  # 11 a candidate STARTING
    ([SD, P], [SD], False, SD),  # 12 a candidate STARTED
    ([P, P], [], False, E),  # 13 unexpected state
    ([D, P], [D], False, E),  # 13 why steps may not report DELAYED
])
def test_aggregate_rules_in_dcos_order(children, candidates, interrupted, expected):
    assert aggregate_status(children, candidates, interrupted) is expected


@pytest.mark.parametrize("status", [W, IP, D])
def test_steps_cannot_report_aggregate_only_statuses(status):
    with pytest.raises(ValueError, match=f"update/brokers/broker-1: a step cannot report {status}"):
        derive_plan("update", [phase(C, status)])


def test_step_status_accepts_wire_value_and_bad_names_are_refused():
    assert Step("broker-0", "Starting").status is SG
    with pytest.raises(ValueError, match="unique, repeated: broker-0"):
        Phase("brokers", [Step("broker-0"), Step("broker-0")])
    with pytest.raises(ValueError, match="canary must be at least 1"):
        phase(P, canary=0)
    with pytest.raises(ValueError, match="unique, repeated: brokers"):
        derive_plan("update", [phase(P), phase(P)])
    with pytest.raises(ValueError, match="phases only"):
        derive_plan("update", [phase(P)], strategy=Strategy.SERIAL_CANARY)


# --- next-step selection per strategy ----------------------------------------------------------------------------

@pytest.mark.parametrize(("statuses", "expected", "status"), [
    ([P, P, P], ["broker-0"], P),
    ([C, P, P], ["broker-1"], IP),
    ([C, SG, P], ["broker-1"], IP),  # the step in flight is the one to drive
    ([P, C, SD], ["broker-2"], IP),  # a later step in flight: finish it before starting broker-0
    ([P, P, SD], ["broker-2"], SD),
    ([P, PR, SG], ["broker-1", "broker-2"], IP),  # never start another while two are in flight
    ([E, P, P], [], E),  # the first incomplete step is not eligible: the phase stops
    ([C, C, C], [], C),
])
def test_serial_picks_first_incomplete_step_only_when_nothing_is_in_flight(statuses, expected, status):
    plan = derive_plan("update", [phase(*statuses)])
    assert plan.next_steps == tuple(("brokers", s) for s in expected)
    assert plan.phases[0].status is status


@pytest.mark.parametrize(("statuses", "expected"), [
    ([P, P, P], ["broker-0", "broker-1", "broker-2"]),
    ([C, SG, P], ["broker-1", "broker-2"]),
])
def test_parallel_picks_every_eligible_step(statuses, expected):
    plan = derive_plan("update", [phase(*statuses, strategy=Strategy.PARALLEL)])
    assert [s for _, s in plan.next_steps] == expected


def test_a_step_in_error_is_skipped_by_a_parallel_phase_but_its_error_stops_the_plan():
    plan = derive_plan("update", [phase(E, P, C, strategy=Strategy.PARALLEL)])
    assert plan.phases[0].candidates == ("broker-1",)
    assert plan.phases[0].status is E
    assert plan.next_steps == ()


def test_serial_plan_runs_phases_in_order_and_parallel_plan_runs_them_together():
    phases = [phase(P, P, name="controllers"), phase(P, P)]
    serial = derive_plan("update", phases)
    assert serial.next_steps == (("controllers", "broker-0"),)
    parallel = derive_plan("update", phases, strategy=Strategy.PARALLEL)
    assert parallel.next_steps == (("controllers", "broker-0"), ("brokers", "broker-0"))
    done = derive_plan("update", [phase(C, C, name="controllers"), phase(P, P)])
    assert done.next_steps == (("brokers", "broker-0"),)
    assert done.status is IP


def test_a_phase_in_error_stops_a_serial_plan():
    plan = derive_plan("update", [phase(C, E, name="controllers"), phase(P)])
    assert plan.next_steps == ()
    assert plan.status is E


# --- canary --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", [Strategy.SERIAL_CANARY, Strategy.PARALLEL_CANARY])
def test_canary_waits_for_the_first_proceed(strategy):
    plan = derive_plan("update", [phase(P, P, P, strategy=strategy)])
    assert plan.next_steps == ()
    assert plan.phases[0].awaiting_proceed
    assert shown(plan) == [[W, W, P]]
    assert plan.phases[0].status is W
    assert plan.status is W  # rule 10: a phase WAITING


def test_canary_first_proceed_releases_only_the_first_step_and_stops_after_it():
    ctl = controls(proceed="update/brokers=1")
    running = derive_plan("update", [phase(SG, P, P, strategy=Strategy.SERIAL_CANARY)], controls=ctl)
    assert running.next_steps == (("brokers", "broker-0"),)
    assert not running.phases[0].awaiting_proceed
    assert shown(running) == [[SG, W, P]]
    stopped = derive_plan("update", [phase(C, P, P, strategy=Strategy.SERIAL_CANARY)], controls=ctl)
    assert stopped.next_steps == ()
    assert stopped.phases[0].awaiting_proceed
    assert stopped.phases[0].status is W


def test_canary_last_proceed_hands_over_to_the_base_strategy():
    ctl = controls(proceed="update/brokers=2")
    serial = derive_plan("update", [phase(C, P, P, strategy=Strategy.SERIAL_CANARY)], controls=ctl)
    assert [s for _, s in serial.next_steps] == ["broker-1"]
    parallel = derive_plan("update", [phase(C, P, P, strategy=Strategy.PARALLEL_CANARY)], controls=ctl)
    assert [s for _, s in parallel.next_steps] == ["broker-1", "broker-2"]
    assert shown(parallel) == [[C, P, P]]


def test_serial_canary_never_runs_two_approved_steps_at_once():
    ctl = controls(proceed="update/brokers=2")
    plan = derive_plan("update", [phase(P, P, P, P, strategy=Strategy.SERIAL_CANARY, canary=3)], controls=ctl)
    assert [s for _, s in plan.next_steps] == ["broker-0"]
    assert shown(plan) == [[P, P, W, P]]


def test_canary_plan_wide_proceed_and_phase_entry_wins():
    phases = [phase(P, P, name="controllers", strategy=Strategy.SERIAL_CANARY),
              phase(P, P, strategy=Strategy.SERIAL_CANARY)]
    ctl = controls(proceed="update=2,update/brokers=0")
    plan = derive_plan("update", phases, strategy=Strategy.PARALLEL, controls=ctl)
    assert plan.next_steps == (("controllers", "broker-0"),)
    assert plan.phases[1].awaiting_proceed
    assert plan.status is P  # a phase waiting for proceed is interrupted, so no candidate of the plan


# --- pause / resume / force-complete -------------------------------------------------------------------------------

def test_pause_plan_stops_new_steps_and_resume_restores_them():
    phases = [phase(C, P, P)]
    paused = derive_plan("update", phases, controls=controls(pause="update"))
    assert paused.paused and paused.next_steps == () and paused.status is W
    assert paused.phases[0].status is IP and not paused.phases[0].paused  # dcos: the plan's strategy is interrupted
    resumed = derive_plan("update", phases, controls=controls(pause=""))
    assert not resumed.paused and resumed.next_steps == (("brokers", "broker-1"),)
    other = derive_plan("update", phases, controls=controls(pause="recovery"))
    assert other.next_steps == (("brokers", "broker-1"),)


def test_pause_phase_stops_only_that_phase():
    phases = [phase(P, name="controllers"), phase(P)]
    plan = derive_plan("update", phases, strategy=Strategy.PARALLEL, controls=controls(pause="update/controllers"))
    assert plan.next_steps == (("brokers", "broker-0"),)
    assert plan.phases[0].paused and plan.phases[0].status is W
    assert plan.status is P  # dcos: an interrupted phase is no candidate, so the plan shows the pending one
    serial = derive_plan("update", phases, controls=controls(pause="update/controllers"))
    assert serial.next_steps == () and serial.status is W


def test_halt_pauses_every_plan():
    plan = derive_plan("recovery", [phase(P)], controls=HALT)
    assert plan.paused and plan.next_steps == ()


def test_force_complete_step_phase_and_plan():
    step = derive_plan("update", [phase(E, P)], controls=controls(force="update/brokers/broker-0"))
    assert shown(step) == [[C, P]]
    assert step.next_steps == (("brokers", "broker-1"),)
    assert "force-completed" in step.phases[0].steps[0].message
    ph = derive_plan("update", [phase(P, name="controllers"), phase(P)], controls=controls(force="update/controllers"))
    assert ph.next_steps == (("brokers", "broker-0"),)
    whole = derive_plan("update", [phase(P, SG)], controls=controls(force="update"))
    assert whole.status is C and whole.next_steps == ()
    other = derive_plan("deploy", [phase(P)], controls=controls(force="update"))
    assert other.status is P


# --- annotations ---------------------------------------------------------------------------------------------------

def test_parse_controls_reads_all_three_annotations():
    ctl = controls(pause=" update , deploy/brokers", proceed="update/brokers=1, deploy=2",
                   force="update/brokers/broker-1.a_b")
    assert ctl.paused == {"update", "deploy/brokers"}
    assert ctl.proceed == {"update/brokers": 1, "deploy": 2}
    assert ctl.force_complete == {"update/brokers/broker-1.a_b"}
    assert parse_controls(None) == PlanControls()
    assert parse_controls({"other": "x"}) == PlanControls()


@pytest.mark.parametrize(("key", "value", "match"), [
    ("pause", "update/brokers/broker-0", r"plan-pause: 'update/brokers/broker-0' is not PLAN or PLAN/PHASE"),
    ("pause", "Update", r"'Update' is not PLAN or PLAN/PHASE \(names: lowercase"),
    ("pause", "update//x", "is not PLAN or PLAN/PHASE"),
    ("force", "a/b/c/d", r"plan-force-complete: 'a/b/c/d' is not PLAN, PLAN/PHASE or PLAN/PHASE/STEP"),
    ("proceed", "update/brokers", r"plan-proceed: 'update/brokers' is not PLAN=N or PLAN/PHASE=N"),
    ("proceed", "update=x", "'update=x' is not PLAN=N"),
    ("proceed", "update=-1", "'update=-1' is not PLAN=N"),
    ("proceed", "update=²", "is not PLAN=N"),
    ("proceed", "=1", "'' is not PLAN=N"),
    ("proceed", "update=1,update=2", "update is given twice with different counts"),
])
def test_bad_annotation_values_give_clear_errors(key, value, match):
    with pytest.raises(PlanControlError, match=match):
        controls(**{key: value})


def test_non_string_annotation_value_is_an_error_not_a_crash():
    with pytest.raises(PlanControlError, match="must be a string, got int"):
        parse_controls({PAUSE_ANNOTATION: 3})


def test_reset_patch_drops_one_plans_rollout_controls_and_keeps_pauses():
    annotations = {PROCEED_ANNOTATION: "update/brokers=1,deploy=2", FORCE_COMPLETE_ANNOTATION: "update/brokers/b-0",
                   PAUSE_ANNOTATION: "update"}
    assert reset_patch(annotations, "update") == {PROCEED_ANNOTATION: "deploy=2", FORCE_COMPLETE_ANNOTATION: None}
    assert reset_patch(annotations, "recovery") == {}
    assert reset_patch(None, "update") == {}


def test_unknown_targets_reports_typos():
    plan = derive_plan("update", [phase(P)])
    ctl = controls(pause="update/brokers,update/brokrs", proceed="upadte=1", force="update/brokers/broker-0")
    assert unknown_targets(ctl, [plan]) == ["upadte", "update/brokrs"]


# --- status rendering ----------------------------------------------------------------------------------------------

def test_render_plan_is_compact_camel_case():
    plan = derive_plan("update", [Phase("brokers", [Step("broker-0", C), Step("broker-1", SG, "waiting for ISR")],
                                        Strategy.SERIAL_CANARY)], controls=controls(proceed="update=2"))
    assert render_plan(plan).wire() == {
        "name": "update", "status": "InProgress", "strategy": "Serial",
        "phases": [{"name": "brokers", "status": "InProgress", "strategy": "SerialCanary", "steps": [
            {"name": "broker-0", "status": "Complete"},
            {"name": "broker-1", "status": "Starting", "message": "waiting for ISR"},
        ]}],
    }


def test_plans_field_is_a_list_map_by_name_in_the_crd_schema():
    class Status_(Model):
        plans: Plans = []

    plans = openapi_schema(Status_)["properties"]["plans"]
    assert plans["x-kubernetes-list-type"] == "map" and plans["x-kubernetes-list-map-keys"] == ["name"]
    assert plans["items"]["properties"]["phases"]["x-kubernetes-list-map-keys"] == ["name"]
    assert "InProgress" in plans["items"]["properties"]["status"]["enum"]
    assert "SerialCanary" in plans["items"]["properties"]["phases"]["items"]["properties"]["strategy"]["enum"]
    assert set(plans["items"]["required"]) == {"name", "status", "strategy"}
