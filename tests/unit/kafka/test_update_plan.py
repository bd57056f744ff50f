"""Kafka's update plan: controllers, then brokers, one pod at a time; then the dynamic config and metadata.version."""

from __future__ import annotations

from operators.kafka.api import KafkaClusterSpec
from operators.kafka.plans import update_plan
from operators.kafka.resources import CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION, Cluster
from operators.scheduling.claims import Grant
from operators.sdk.plans import HALT, NO_CONTROLS, parse_controls

from ..sdk.test_rollout import NOW, pod


def sts(hash_: str) -> dict:
    return {"spec": {"template": {"metadata": {"annotations": {CONFIG_HASH_ANNOTATION: hash_,
                                                               VERSION_ANNOTATION: "4.1.1"}}}}}


CLUSTER = Cluster("prod", "ns", "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                  KafkaClusterSpec.model_validate({"controllers": {"replicas": 3}}))


GRANTS = {"broker": Grant(3, ("a", "b", "c")), "controller": Grant(3, ("a", "b", "c"))}


def test_update_plan_rolls_controllers_first_then_brokers_unready_first():
    pods = [pod(f"prod-controller-{i}", role="controller", hash_="old") for i in range(3)]
    pods += [pod("prod-broker-0", hash_="old"), pod("prod-broker-1", hash_="old", ready=False),
             pod("prod-broker-2", hash_="old")]
    plan, views = update_plan(CLUSTER, {"controller": sts("new"), "broker": sts("new")}, pods, GRANTS,
                              NO_CONTROLS, now=NOW)
    assert [p.name for p in plan.phases] == ["controllers", "brokers", "broker-config", "metadata"]
    assert [s.name for s in plan.phases[1].steps] == ["prod-broker-1", "prod-broker-0", "prod-broker-2"]
    assert plan.next_steps == (("controllers", "prod-controller-0"),)
    assert len(views) == 6


def test_update_plan_is_complete_when_every_pod_is_current_and_held_when_paused():
    pods = [pod(f"prod-controller-{i}", role="controller") for i in range(3)]
    pods += [pod(f"prod-broker-{i}") for i in range(3)]
    plan, _ = update_plan(CLUSTER, {"controller": sts("new"), "broker": sts("new")}, pods, GRANTS, NO_CONTROLS,
                          now=NOW)
    assert plan.status == "Complete" and plan.next_steps == ()
    pods[3] = pod("prod-broker-0", hash_="old")
    paused, _ = update_plan(CLUSTER, {"controller": sts("new"), "broker": sts("new")}, pods, GRANTS,
                            parse_controls({"smack.dev/plan-pause": "update"}), now=NOW)
    assert paused.paused and paused.next_steps == ()
    halted, _ = update_plan(CLUSTER, {"controller": sts("new"), "broker": sts("new")}, pods, GRANTS, HALT, now=NOW)
    assert halted.next_steps == ()


def test_metadata_version_is_raised_last_and_never_lowered():
    pods = [pod(f"prod-controller-{i}", role="controller") for i in range(3)]
    pods += [pod(f"prod-broker-{i}") for i in range(3)]
    sets = {"controller": sts("new"), "broker": sts("new")}
    plan, _ = update_plan(CLUSTER, sets, pods, GRANTS, NO_CONTROLS, now=NOW, finalized="4.0-IV3")
    assert plan.next_steps == (("metadata", "metadata.version"),)
    assert plan.phases[3].steps[0].message == "raise metadata.version from 4.0-IV3 to 4.1-IV1"
    pods[4] = pod("prod-broker-1", hash_="old")  # a broker still on the old binaries: metadata waits
    plan, _ = update_plan(CLUSTER, sets, pods, GRANTS, NO_CONTROLS, now=NOW, finalized="4.0-IV3")
    assert plan.next_steps == (("brokers", "prod-broker-1"),)
    pinned = Cluster("prod", "ns", CLUSTER.uid, KafkaClusterSpec.model_validate(
        {"controllers": {"replicas": 3}, "metadataVersion": "4.0-IV3"}))
    plan, _ = update_plan(pinned, sets, pods, GRANTS, NO_CONTROLS, now=NOW, finalized="4.1-IV1")
    assert plan.phases[3].steps[0].status == "Error" and "cannot lower it" in plan.phases[3].steps[0].message


def test_changed_dynamic_config_is_a_step_after_the_roll():
    pods = [pod(f"prod-controller-{i}", role="controller") for i in range(3)]
    pods += [pod(f"prod-broker-{i}") for i in range(3)]
    sets = {"controller": sts("new"), "broker": sts("new")}
    plan, _ = update_plan(CLUSTER, sets, pods, GRANTS, NO_CONTROLS, now=NOW, applied="digest-of-older-values")
    assert plan.next_steps == (("broker-config", "dynamic"),)
    assert plan.phases[2].steps[0].message == "set min.insync.replicas on every broker without a restart"
    plan, _ = update_plan(CLUSTER, sets, pods, GRANTS, NO_CONTROLS, now=NOW, applied=None)
    assert plan.status == "Complete"


def test_the_active_controller_restarts_last():
    pods = [pod(f"prod-controller-{i}", role="controller", hash_="old") for i in range(3)]
    pods += [pod(f"prod-broker-{i}") for i in range(3)]
    plan, _ = update_plan(CLUSTER, {"controller": sts("new"), "broker": sts("new")}, pods, GRANTS, NO_CONTROLS,
                          now=NOW, active_controller=0)
    assert [s.name for s in plan.phases[0].steps] == ["prod-controller-1", "prod-controller-2", "prod-controller-0"]
    assert plan.next_steps == (("controllers", "prod-controller-1"),)


def test_a_canary_update_waits_for_approval_of_each_canary_broker():
    canary = Cluster("prod", "ns", CLUSTER.uid, KafkaClusterSpec.model_validate({"rollout": {"canary": 1}}))
    pods = [pod(f"prod-controller-{i}", role="controller") for i in range(3)]
    pods += [pod(f"prod-broker-{i}", hash_="old") for i in range(3)]
    sets = {"controller": sts("new"), "broker": sts("new")}
    held, _ = update_plan(canary, sets, pods, GRANTS, NO_CONTROLS, now=NOW)
    brokers = held.phases[1]
    assert held.next_steps == () and brokers.awaiting_proceed and brokers.steps[0].status == "Waiting"
    proceed = parse_controls({"smack.dev/plan-proceed": "update/brokers=1"})
    approved, _ = update_plan(canary, sets, pods, GRANTS, proceed, now=NOW)
    assert approved.next_steps == (("brokers", "prod-broker-0"),)
    pods[3] = pod("prod-broker-0")
    rest, _ = update_plan(canary, sets, pods, GRANTS, NO_CONTROLS, now=NOW)
    assert rest.next_steps == (("brokers", "prod-broker-1"),)  # after the canary, the others follow
