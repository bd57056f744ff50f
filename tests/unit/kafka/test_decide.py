"""decide: the one action of a pass, its status and requeue, from an observed snapshot; and the scale-down shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from operators.kafka.api import KafkaClusterSpec, KafkaClusterStatus
from operators.kafka.config import dynamic_config
from operators.kafka.gates import Answer, Answers, BrokerState, PartitionState, QuorumState, ReplicaState
from operators.kafka.plans import (
    PROGRESSING_REQUEUE_SECONDS,
    SCALE_DOWN_REQUEUE_SECONDS,
    ApplyDynamicConfig,
    Observed,
    RaiseMetadataVersion,
    RecoverPods,
    RestartPod,
    ScaleDown,
    UnregisterBrokers,
    decide,
    gated_roles,
    hold_brokers,
    nodes_to_check,
    scaling_down,
)
from operators.kafka.resources import CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION, Cluster
from operators.scheduling.claims import Grant
from operators.sdk.builders import digest
from operators.sdk.conditions import Condition, get_condition
from operators.sdk.plans import NO_CONTROLS, PlanStatus, parse_controls
from operators.sdk.recovery import NodeFailure
from operators.sdk.rollout import RestartReason

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLUSTER = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({}))
GRANTS = {"broker": Grant(3, ("a", "b", "c")), "controller": Grant(3, ("a", "b", "c"))}
ADMITTED = Condition(type="Admitted", status="True", reason="Admitted", message="admitted in tenant default")
FINALIZED = CLUSTER.spec.target_metadata_version
APPLIED = digest(dynamic_config(CLUSTER.spec))
DEPLOYED = [PlanStatus.model_validate({"name": "deploy", "status": "Complete", "strategy": "Parallel", "phases": [
    {"name": f"{role}s", "status": "Complete", "strategy": "Parallel",
     "steps": [{"name": f"prod-{role}-{i}", "status": "Complete"} for i in range(3)]}
    for role in ("controller", "broker")]})]
SETTLED = KafkaClusterStatus(metadata_version=FINALIZED, dynamic_config_hash=APPLIED, plans=DEPLOYED)
VOTERS = tuple(ReplicaState(1000 + i, 10, 9_000, 9_000) for i in range(3))


def sts(hash_: str = "new", *, observed: int = 1) -> dict:
    return {"metadata": {"name": "s", "generation": 1}, "status": {"observedGeneration": observed},
            "spec": {"template": {"metadata": {"annotations": {CONFIG_HASH_ANNOTATION: hash_,
                                                               VERSION_ANNOTATION: "4.1.1"}}}}}


def pod(role: str, i: int, *, hash_: str = "new", ready: bool = True, node: str = "a", phase: str = "Running",
        annotations: dict | None = None) -> dict:
    return {"metadata": {"name": f"prod-{role}-{i}", "uid": f"uid-{role}-{i}",
                         "labels": {"kafka.smack.dev/role": role},
                         "annotations": {CONFIG_HASH_ANNOTATION: hash_, VERSION_ANNOTATION: "4.1.1",
                                         **(annotations or {})},
                         "creationTimestamp": (NOW - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pods(**per_pod: dict) -> list[dict]:
    """Three controllers and three brokers, all current and Ready, but for ``per_pod["broker_1"]`` etc."""
    return [pod(role, i, **per_pod.get(f"{role}_{i}", {})) for role in ("controller", "broker") for i in range(3)]


def observed(the_pods: list[dict] | None = None, *, cluster: Cluster = CLUSTER, previous: KafkaClusterStatus = SETTLED,
             sets: dict | None = None, **kw) -> Observed:
    return Observed(cluster, 2, previous, sets or {"controller": sts(), "broker": sts()}, GRANTS, ADMITTED,
                    pods() if the_pods is None else the_pods, **kw)


def progressing(status: KafkaClusterStatus) -> tuple[str, str, str]:
    c = get_condition(status.conditions, "Progressing")
    return c.status, c.reason, c.message


def partitions(*states: PartitionState) -> Answer:
    return Answer((list(states), None))


def leader(node_id: int) -> Answer:
    return Answer(QuorumState(node_id, 1, 10, VOTERS))


REGISTERED = Answer(tuple(BrokerState(b) for b in range(3)))  # every broker registered and unfenced
# no partition at risk, a caught-up quorum led by controller 0, every broker registered
HEALTHY = Answers(partitions(), leader(1000), REGISTERED)


def test_a_settled_cluster_does_nothing_and_waits_for_events():
    n = decide(observed(), NO_CONTROLS, NOW)
    assert (n.action, n.waiting, n.requeue_after, n.succeeded) == (None, (), None, None)
    assert progressing(n.status)[:2] == ("False", "Stable")
    assert not n.progressing


def test_an_outdated_broker_is_restarted_with_its_typed_role_ordinal_and_reason():
    n = decide(observed(pods(broker_0={"hash_": "old"}), answers=HEALTHY), NO_CONTROLS, NOW)
    assert n.action == RestartPod("update", "brokers", "prod-broker-0", "broker", 0, "uid-broker-0",
                                  RestartReason.OUTDATED)
    assert progressing(n.status)[:2] == ("True", "RollingUpdate")
    assert n.requeue_after == PROGRESSING_REQUEUE_SECONDS


def test_controllers_go_before_brokers_and_the_active_controller_last():
    outdated = pods(**{f"{r}_{i}": {"hash_": "old"} for r in ("controller", "broker") for i in range(3)})
    n = decide(observed(outdated, answers=Answers(quorum=Answer(None))), NO_CONTROLS, NOW)
    assert (n.action.role, n.action.ordinal) == ("controller", 0)  # no quorum known: by ordinal
    n = decide(observed(outdated, answers=HEALTHY), NO_CONTROLS, NOW)
    assert (n.action.role, n.action.ordinal, n.action.name) == ("controller", 1, "prod-controller-1")


def test_requested_restarts_and_replacements_carry_their_reason():
    replace_ = pods(broker_2={"annotations": {"smack.dev/replace": "true"}})
    assert decide(observed(replace_, answers=HEALTHY), NO_CONTROLS, NOW).action.reason is \
        RestartReason.REPLACE_REQUESTED
    restart = pods(controller_1={"annotations": {"smack.dev/restart": "true"}})
    action = decide(observed(restart, answers=HEALTHY), NO_CONTROLS, NOW).action
    assert (action.name, action.reason, action.reason.note) == ("prod-controller-1", RestartReason.RESTART_REQUESTED,
                                                                "restart requested")


def test_the_broker_gate_holds_a_restart_that_would_drop_a_partition_below_min_isr():
    at_min = PartitionState("orders", 0, 0, (0, 1, 2), (0, 1))  # min.insync.replicas defaults to 2 for 3 brokers
    n = decide(observed(pods(broker_0={"hash_": "old"}), answers=Answers(partitions(at_min), brokers=REGISTERED)),
               NO_CONTROLS, NOW)
    assert n.action is None
    assert n.waiting == ("prod-broker-0 waits: orders-0: ISR [0, 1] would drop to [1], below min.insync.replicas=2",)
    assert progressing(n.status)[2].endswith(n.waiting[0])
    assert n.requeue_after == PROGRESSING_REQUEUE_SECONDS


def test_a_held_restart_says_why_in_its_step_and_by_reason_for_the_metric():
    # Broker 2 was stopped a moment ago: still in every ISR, then fenced, then out of the ISR.
    at_min = PartitionState("orders", 3, 1, (0, 1, 2), (0, 1))
    fenced = Answer((BrokerState(0), BrokerState(1), BrokerState(2, fenced=True)))
    n = decide(observed(pods(broker_0={"hash_": "old"}), answers=Answers(partitions(at_min), brokers=fenced)),
               NO_CONTROLS, NOW)
    assert n.action is None
    assert dict(n.held.blockers) == {
        "min-isr": ["orders-3: ISR [0, 1] would drop to [1], below min.insync.replicas=2"],
        "registration": ["broker 2 is fenced (not heartbeating to the controllers)"]}
    step = next(s for p in n.status.plans if p.name == "update" for ph in p.phases for s in ph.steps
                if s.name == "prod-broker-0")
    assert step.message == ("waiting: broker 2 is fenced (not heartbeating to the controllers); "
                            "orders-3: ISR [0, 1] would drop to [1], below min.insync.replicas=2")
    assert progressing(n.status)[2].endswith("prod-broker-0 waits: " + step.message.removeprefix("waiting: "))
    assert decide(observed(pods(broker_0={"hash_": "old"}), answers=HEALTHY), NO_CONTROLS, NOW).held is None


def test_a_held_restart_shows_the_cause_first_and_counts_the_partitions_beyond_three():
    # A stopped broker leaves every partition it held at its minimum ISR: 50 of them here.
    at_min = [PartitionState("orders", i, 1, (0, 1, 2), (0, 1)) for i in range(50)]
    fenced = Answer((BrokerState(0), BrokerState(1), BrokerState(2, fenced=True)))
    n = decide(observed(pods(broker_0={"hash_": "old"}), answers=Answers(partitions(*at_min), brokers=fenced)),
               NO_CONTROLS, NOW)
    assert n.held.message == (
        "waiting: broker 2 is fenced (not heartbeating to the controllers); "
        "orders-0: ISR [0, 1] would drop to [1], below min.insync.replicas=2; "
        "orders-1: ISR [0, 1] would drop to [1], below min.insync.replicas=2; "
        "orders-2: ISR [0, 1] would drop to [1], below min.insync.replicas=2 (+47 more)")
    assert len(n.held.blockers["min-isr"]) == 50, "the metric and the log still see every blocker"


def test_what_holds_a_restart_besides_kafka_has_its_own_reason():
    not_ready = decide(observed(pods(broker_0={"hash_": "old"}) + [pod("broker", 3, ready=False)], answers=HEALTHY),
                       NO_CONTROLS, NOW)
    assert list(not_ready.held.blockers) == ["pods-not-ready"]
    unanswered = decide(observed(pods(broker_0={"hash_": "old"}), answers=Answers(Answer(error="timeout"))),
                        NO_CONTROLS, NOW)
    assert list(unanswered.held.blockers) == ["unanswered"]
    lagging = decide(observed(pods(broker_0={"hash_": "old"}), sets={"controller": sts(), "broker": sts(observed=0)}),
                     NO_CONTROLS, NOW)
    assert list(lagging.held.blockers) == ["statefulset-lag"]


def test_a_requested_restart_held_by_the_gate_says_why_in_progressing():
    # Broker 2 stopped a moment ago: fenced, out of the ISRs, its pod still Ready (its port accepts).
    at_min = PartitionState("orders", 3, 1, (0, 1, 2), (0, 1))
    fenced = Answer((BrokerState(0), BrokerState(1), BrokerState(2, fenced=True)))
    asked = pods(broker_0={"annotations": {"smack.dev/restart": "true"}})
    n = decide(observed(asked, answers=Answers(partitions(at_min), brokers=fenced)), NO_CONTROLS, NOW)
    assert n.action is None and n.held is not None
    status, reason, message = progressing(n.status)
    assert (status, reason) == ("True", "RollingUpdate")
    assert message.endswith("prod-broker-0 waits: " + n.held.message.removeprefix("waiting: ")), message
    assert "broker 2 is fenced" in n.held.message and "below min.insync.replicas=2" in n.held.message


def test_an_unanswered_gate_blocks_and_says_why():
    failed = Answers(Answer(error="NoBrokersAvailable"))
    n = decide(observed(pods(broker_0={"hash_": "old"}), answers=failed), NO_CONTROLS, NOW)
    assert n.action is None and n.waiting == (
        "prod-broker-0 waits: cannot ask the cluster whether prod-broker-0 may restart: "
        "describe partitions: NoBrokersAvailable",)
    not_asked = decide(observed(pods(broker_0={"hash_": "old"})), NO_CONTROLS, NOW)
    assert "the partitions were not asked this pass" in not_asked.waiting[0]


def test_a_simulated_cluster_without_a_quorum_lets_controllers_restart():
    n = decide(observed(pods(controller_2={"hash_": "old"}), answers=Answers(quorum=Answer(None))), NO_CONTROLS, NOW)
    assert (n.action.role, n.action.ordinal) == ("controller", 2)


def test_a_pod_that_is_not_ready_restarts_without_asking_kafka_but_others_wait_for_it():
    n = decide(observed(pods(broker_1={"hash_": "old", "ready": False})), NO_CONTROLS, NOW)
    assert n.action.name == "prod-broker-1"  # not Ready goes first, and no answer was needed
    n = decide(observed(pods(broker_0={"hash_": "old"}, broker_1={"ready": False})), NO_CONTROLS, NOW)
    assert (n.action, n.waiting) == (None, ())  # the plan waits for prod-broker-1's step first
    unplanned = [*pods(broker_0={"hash_": "old"}), pod("broker", 3, ready=False)]  # beyond the grant
    n = decide(observed(unplanned, answers=HEALTHY), NO_CONTROLS, NOW)
    assert n.action is None and n.waiting == ("prod-broker-0 waits: prod-broker-3 is not Ready",)


def test_a_restart_waits_for_the_stateful_set_controller():
    lagging = {"controller": sts(), "broker": sts(observed=0)}
    n = decide(observed(pods(broker_0={"hash_": "old"}), sets=lagging), NO_CONTROLS, NOW)
    assert n.action is None
    assert n.waiting == ("prod-broker-0 waits: StatefulSet s: the controller has not observed generation 1 yet",)


def test_a_canary_waits_for_approval_then_proceeds():
    canary = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({"rollout": {"canary": 1}}))
    outdated = pods(**{f"broker_{i}": {"hash_": "old"} for i in range(3)})
    answers = Answers(partitions(), brokers=REGISTERED)
    held = decide(observed(outdated, cluster=canary, answers=answers), NO_CONTROLS, NOW)
    assert held.action is None and progressing(held.status)[:2] == ("False", "CanaryWaiting")
    assert held.requeue_after is None
    proceed = parse_controls({"smack.dev/plan-proceed": "update/brokers=1"})
    approved = decide(observed(outdated, cluster=canary, answers=answers), proceed, NOW)
    assert approved.action.name == "prod-broker-0"


def test_a_paused_update_restarts_nothing():
    paused = parse_controls({"smack.dev/plan-pause": "update"})
    n = decide(observed(pods(broker_0={"hash_": "old"})), paused, NOW)
    assert n.action is None and progressing(n.status)[:2] == ("False", "RolloutPaused")


def test_metadata_version_is_raised_last_and_recorded_once_it_succeeded():
    older = SETTLED.model_copy(update={"metadata_version": "4.0-IV3"})
    n = decide(observed(previous=older), NO_CONTROLS, NOW)
    assert n.action == RaiseMetadataVersion("4.0-IV3", "4.1-IV1")
    assert (n.action.level, n.action.what) == (27, "metadata.version 4.0-IV3 -> 4.1-IV1")
    assert n.status.metadata_version == "4.0-IV3"  # as written when the step fails: it stays Pending
    assert progressing(n.status)[:2] == ("True", "ApplyingChanges") and n.requeue_after == PROGRESSING_REQUEUE_SECONDS
    done = n.succeeded
    assert done.action is None and done.status.metadata_version == "4.1-IV1"
    assert progressing(done.status)[:2] == ("False", "Stable") and done.requeue_after is None


def test_changed_dynamic_config_is_set_on_every_broker_and_recorded_once_it_succeeded():
    n = decide(observed(previous=SETTLED.model_copy(update={"dynamic_config_hash": "older"})), NO_CONTROLS, NOW)
    assert n.action == ApplyDynamicConfig(dynamic_config(CLUSTER.spec), (0, 1, 2))
    assert n.action.what == "set min.insync.replicas=2 on brokers 0, 1, 2"
    assert n.status.dynamic_config_hash == "older"
    assert n.succeeded.status.dynamic_config_hash == APPLIED and not n.succeeded.progressing


def test_restarts_come_before_the_admin_steps():
    older = SETTLED.model_copy(update={"metadata_version": "4.0-IV3"})
    n = decide(observed(pods(broker_0={"hash_": "old"}), previous=older, answers=HEALTHY), NO_CONTROLS, NOW)
    assert isinstance(n.action, RestartPod) and n.succeeded is None


def test_recovery_comes_first_and_is_one_action_for_every_pod_it_acts_on():
    failed = pods(broker_1={"ready": False, "phase": "Failed"}, broker_0={"hash_": "old"})
    n = decide(observed(failed, previous=SETTLED.model_copy(update={"metadata_version": "4.0-IV3"})), NO_CONTROLS, NOW)
    assert isinstance(n.action, RecoverPods)
    [(name, recovery)] = n.action.pods
    assert (name, recovery.action, recovery.uid) == ("prod-broker-1", "restart", "uid-broker-1")
    assert progressing(n.status)[:2] == ("True", "Recovering")


def test_a_paused_recovery_lets_the_update_go_on():
    failed = pods(broker_1={"ready": False, "phase": "Failed", "hash_": "old"})
    assert isinstance(decide(observed(failed), NO_CONTROLS, NOW).action, RecoverPods)
    paused = parse_controls({"smack.dev/plan-pause": "recovery"})
    n = decide(observed(failed), paused, NOW)
    assert isinstance(n.action, RestartPod) and n.action.name == "prod-broker-1"  # not Ready: no Kafka gate


def test_a_broker_on_a_lost_node_is_replaced_after_the_timeout_and_the_wait_is_requeued():
    lost = pods(broker_2={"ready": False, "node": "c"})
    since = NOW - timedelta(seconds=100)
    spec = KafkaClusterSpec.model_validate({"recovery": {"nodeFailureTimeoutSeconds": 300}})
    cluster = Cluster("prod", "ns", UID, spec)
    n = decide(observed(lost, cluster=cluster, failures={"c": NodeFailure("c", since)}), NO_CONTROLS, NOW)
    assert n.action is None and n.requeue_after == PROGRESSING_REQUEUE_SECONDS  # due in 200 s: sooner is 5 s
    n = decide(observed(lost, cluster=cluster, failures={"c": NodeFailure("c", NOW - timedelta(seconds=297))}),
               NO_CONTROLS, NOW)
    assert n.requeue_after == pytest.approx(3.0)  # the replacement is due sooner than the progress poll
    n = decide(observed(lost, cluster=cluster, failures={"c": NodeFailure("c", NOW - timedelta(seconds=400))}),
               NO_CONTROLS, NOW)
    [(name, recovery)] = n.action.pods
    assert (name, recovery.action) == ("prod-broker-2", "replace")


def test_a_controller_on_a_lost_node_is_never_replaced():
    lost = pods(controller_0={"ready": False, "node": "c"})
    n = decide(observed(lost, failures={"c": NodeFailure("c", None)}), NO_CONTROLS, NOW)
    assert n.action is None
    assert "never replaced automatically" in progressing(n.status)[2]


def test_a_lost_node_is_degraded_with_the_node_named_not_an_update_in_progress():
    lost = pods(broker_2={"ready": False, "node": "c"})
    since = NOW - timedelta(seconds=100)
    n = decide(observed(lost, failures={"c": NodeFailure("c", since)}), NO_CONTROLS, NOW)
    degraded = next(c for c in n.status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "NodeLost")
    assert degraded.message == f"prod-broker-2 on node c NotReady since {since.isoformat().replace('+00:00', 'Z')}"
    assert progressing(n.status)[1] == "Recovering"
    back = decide(observed(pods(), failures={}, previous=n.status), NO_CONTROLS, NOW)
    assert [(c.status, c.reason) for c in back.status.conditions if c.type == "Degraded"] == [("False", "NoNodeLost")]


# --------------------------------------------------------------------------- scale-down


def test_brokers_to_remove_are_kept_while_they_hold_replicas():
    assert scaling_down(CLUSTER, 5) and not scaling_down(CLUSTER, 3)
    held = hold_brokers(CLUSTER, 5, partitions(PartitionState("orders", 0, 3, (3, 0), (3, 0)),
                                               PartitionState("orders", 1, 0, (0, 1), (0, 1))))
    assert held.cluster.replicas("broker") == 5 and held.removing == ()
    assert held.blocked == ("brokers 3, 4 still hold replicas of 1 partitions (orders-0); reassign them to brokers "
                            "0-2 (kafka-reassign-partitions.sh) and the scale-down continues")
    unread = hold_brokers(CLUSTER, 5, Answer(error="timed out"))
    assert unread.cluster.replicas("broker") == 5
    assert unread.blocked == "cannot read the partition assignment: timed out"


def test_empty_brokers_are_removed_and_a_steady_cluster_is_left_alone():
    empty = hold_brokers(CLUSTER, 5, partitions(PartitionState("orders", 0, 0, (0, 1), (0, 1))))
    assert empty == ScaleDown(CLUSTER, removing=(3, 4))
    assert hold_brokers(CLUSTER, 3, None) == ScaleDown(CLUSTER)


def test_a_blocked_scale_down_is_reported_and_looked_at_again():
    kept = CLUSTER.keeping_brokers(5)
    blocked = ScaleDown(kept, "brokers 3, 4 still hold replicas")
    grants = GRANTS | {"broker": Grant(5, ("a", "b", "c", "a", "b"))}
    five = pods() + [pod("broker", 3), pod("broker", 4)]
    o = Observed(kept, 2, SETTLED, {"controller": sts(), "broker": sts()}, grants, ADMITTED, five, scale_down=blocked)
    n = decide(o, NO_CONTROLS, NOW)
    assert progressing(n.status)[:2] == ("False", "ScaleDownBlocked")
    assert get_condition(n.status.conditions, "ScalingDown").reason == "BrokersNotEmpty"
    assert n.requeue_after == SCALE_DOWN_REQUEUE_SECONDS


def test_removed_brokers_are_unregistered_once_their_pods_are_gone():
    grants = GRANTS
    removing = Observed(CLUSTER, 2, SETTLED, {"controller": sts(), "broker": sts()}, grants, ADMITTED,
                        pods() + [pod("broker", 3), pod("broker", 4)], scale_down=ScaleDown(CLUSTER, removing=(3, 4)))
    n = decide(removing, NO_CONTROLS, NOW)
    assert n.status.removed_brokers == [3, 4]  # remembered: their pods are still stopping
    assert not isinstance(n.action, UnregisterBrokers)
    remembered = SETTLED.model_copy(update={"removed_brokers": [3, 4]})
    half = decide(observed(pods() + [pod("broker", 4)], previous=remembered), NO_CONTROLS, NOW)
    assert half.action == UnregisterBrokers((3,)) and half.action.what == "unregister brokers 3 from the controllers"
    assert half.succeeded.status.removed_brokers == [4] and half.status.removed_brokers == [3, 4]
    done = decide(observed(previous=remembered), NO_CONTROLS, NOW)
    assert done.action == UnregisterBrokers((3, 4)) and done.succeeded.status.removed_brokers == []
    # Scaled up again before the pods were gone: the ids are wanted again, nothing to unregister.
    five = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({"brokers": {"replicas": 5}}))
    again = decide(observed(cluster=five, previous=remembered), NO_CONTROLS, NOW)
    assert not isinstance(again.action, UnregisterBrokers) and again.status.removed_brokers == []


# --------------------------------------------------------------------------- what a pass reads


def test_the_gates_are_asked_only_for_roles_with_a_pod_to_restart():
    sets = {"controller": sts(), "broker": sts()}
    assert gated_roles(sets, pods()) == frozenset()
    assert gated_roles(sets, pods(broker_1={"hash_": "old"})) == {"broker"}
    assert gated_roles(sets, pods(controller_0={"annotations": {"smack.dev/restart": "true"}})) == {"controller"}


def test_only_the_nodes_of_deployed_pods_that_are_not_ready_are_read():
    the_pods = pods(broker_0={"ready": False, "node": "b"}, broker_1={"ready": False, "node": "b"},
                    controller_2={"ready": False, "node": "c"})
    assert nodes_to_check(the_pods, SETTLED) == ["b", "c"]
    assert nodes_to_check(the_pods, KafkaClusterStatus()) == []  # still deploying: nothing to recover


def test_the_active_controller_is_the_quorum_leader_as_an_ordinal():
    voters = tuple(ReplicaState(1000 + i, 10, 9_000, 9_000) for i in range(3))
    assert observed(answers=Answers(quorum=Answer(QuorumState(1002, 1, 10, voters)))).active_controller == 2
    assert observed(answers=Answers(quorum=Answer(QuorumState(-1, 1, 10, voters)))).active_controller is None
    assert observed(answers=Answers(quorum=Answer(error="timeout"))).active_controller is None
    assert observed().active_controller is None


def test_node_ids_and_their_inverse():
    for role in ("controller", "broker"):
        for ordinal in (0, 7):
            assert CLUSTER.node_of(CLUSTER.node_id(role, ordinal)) == (role, ordinal)


def test_a_dynamic_key_kafka_refuses_rolls_the_brokers_and_the_other_keys_are_applied():
    from operators.kafka.resources import build
    spec = {"config": {"log.retention.ms": 3600000, "min.insync.replicas": 2}}
    cluster = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate(spec))
    n = decide(observed(cluster=cluster, previous=SETTLED.model_copy(update={"dynamic_config": "older"})),
               NO_CONTROLS, NOW)
    assert n.action.cluster_default == {"log.retention.ms": "3600000", "min.insync.replicas": "2"}
    assert n.action.per_broker == {}
    after = n.refused({"log.retention.ms": "[Error 42] InvalidRequestError"})
    assert after.status.refused_config == {"log.retention.ms": "3600000"}
    assert after.status.dynamic_config_hash == digest({"min.insync.replicas": "2"})
    # The next pass reads the refusal from status: the value moves into the brokers' config hash.
    body = {"metadata": {"name": "prod", "namespace": "ns", "uid": UID}, "spec": spec,
            "status": after.status.wire()}
    refused = Cluster.from_body(body)
    assert refused.dynamic_config == {"min.insync.replicas": "2"}

    def hashes(c: Cluster) -> dict:
        return {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
                for o in build(c, GRANTS) if o["kind"] == "StatefulSet"}
    assert hashes(refused)["prod-broker"] != hashes(cluster)["prod-broker"]
    assert hashes(refused)["prod-controller"] == hashes(cluster)["prod-controller"]  # a key only brokers read
    settled = decide(observed(cluster=refused, previous=after.status), NO_CONTROLS, NOW)
    step = next(s for p in settled.status.plans if p.name == "update" for ph in p.phases for s in ph.steps
                if s.name == "dynamic")
    assert step.status == "Complete" and "refused log.retention.ms" in step.message
    # A new value of the refused key is tried without a restart again; the old refusal is dropped.
    changed = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate(
        {"config": {"log.retention.ms": 7200000, "min.insync.replicas": 2}}), {"log.retention.ms": "3600000"})
    again = decide(observed(cluster=changed, previous=after.status), NO_CONTROLS, NOW)
    assert again.action.values == {"log.retention.ms": "7200000", "min.insync.replicas": "2"}
    assert again.status.refused_config == {}


def test_a_start_script_refusal_is_the_reason_the_cluster_is_not_ready():
    from operators.kafka.resources import START_REFUSED
    refusing = pods(broker_1={"ready": False})
    refusing[4]["status"]["containerStatuses"] = [{"name": "kafka", "lastState": {"terminated": {
        "exitCode": 78, "message": f"no zone\n{START_REFUSED}: listener tls: tls.key of Secret certs ...\n"}}}]
    ready = get_condition(decide(observed(refusing), NO_CONTROLS, NOW).status.conditions, "Ready")
    assert (ready.status, ready.reason) == ("False", "StartRefused")
    assert ready.message.endswith(f"prod-broker-1: {START_REFUSED}: listener tls: tls.key of Secret certs ...")


def test_a_broker_on_a_zoned_node_without_the_zone_label_is_named():
    from operators.kafka.plans import missing_racks, unlabelled_brokers
    the_pods = pods()
    the_pods[3]["metadata"]["labels"]["topology.kubernetes.io/zone"] = "zone-a"
    assert unlabelled_brokers(the_pods) == ["a"]
    assert missing_racks(the_pods, {"a": "zone-a"})[0].startswith(
        "prod-broker-1 on node a (zone zone-a) has no topology.kubernetes.io/zone label")
    assert len(missing_racks(the_pods, {"a": "zone-a"})) == 2
    assert missing_racks(the_pods, {"a": None}) == []  # a node without zones: nothing to copy
