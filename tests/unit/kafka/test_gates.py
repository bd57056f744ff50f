"""Kafka restart gates on recorded metadata (tests/unit/data/kafka/*.json, kafka-python result shapes)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from operators.kafka.admin import min_isr_from_kafka_python, partitions_from_kafka_python
from operators.kafka.gates import (
    PartitionState,
    QuorumState,
    ReplicaState,
    Unanswered,
    active_controller,
    broker_restart_blockers,
    controller_restart_blockers,
)

from .recorded import load, partitions, quorum

# ----------------------------------------------------------------------------- brokers


@pytest.mark.parametrize("broker", [0, 1, 2])
def test_healthy_cluster_has_no_blockers(broker):
    parts, default = partitions("partitions-healthy.json")
    assert len(parts) == 10
    assert broker_restart_blockers(broker, parts, default) == []


def test_restart_that_breaks_min_isr_is_blocked_with_named_partitions():
    parts, default = partitions("partitions-broker0-catching-up.json")
    assert broker_restart_blockers(1, parts, default) == [
        "orders-0: ISR [1, 2] would drop to [2], below min.insync.replicas=2",
        "orders-1: ISR [1, 2] would drop to [2], below min.insync.replicas=2",
        "orders-2: ISR [2] is already below min.insync.replicas=2 (replicas [2, 0, 1]); "
        "broker 1 holds a replica that may be the first to catch up",
        "orders-3: ISR [1, 2] would drop to [2], below min.insync.replicas=2",
    ]
    assert broker_restart_blockers(2, parts, default)[2] == (
        "orders-2: ISR [2] is already below min.insync.replicas=2 (replicas [2, 0, 1]); broker 2 is in the ISR")


def test_broker_outside_a_full_isr_does_not_block_but_an_under_isr_replica_does():
    parts, default = partitions("partitions-broker0-catching-up.json")
    # Broker 0 is out of the orders ISRs: restarting it takes nothing below min ISR; but orders-2
    # is under min ISR and broker 0 holds a replica of it, which may be the first to catch up.
    assert broker_restart_blockers(0, parts, default) == [
        "orders-2: ISR [2] is already below min.insync.replicas=2 (replicas [2, 0, 1]); "
        "broker 0 holds a replica that may be the first to catch up"]
    without_orders_2 = [p for p in parts if p.name != "orders-2"]
    assert broker_restart_blockers(0, without_orders_2, default) == []


def test_partitions_with_replication_factor_at_most_min_isr_are_ignored():
    parts, default = partitions("partitions-broker0-catching-up.json")
    # payments: min.insync.replicas=3 (topic override) with RF 3; its ISR [2, 1] is under it and
    # broker 1 is in it, yet it never blocks, since no restart order can satisfy it.
    payments = [p for p in parts if p.topic == "payments"]
    assert [(len(p.replicas), p.min_insync_replicas) for p in payments] == [(3, 3), (3, 3)]
    assert payments[0].isr == (2, 1)
    assert broker_restart_blockers(1, payments, default) == []
    assert broker_restart_blockers(1, [replace(payments[0], min_insync_replicas=2)], default) == [
        "payments-0: ISR [2, 1] would drop to [2], below min.insync.replicas=2"]
    clicks = [p for p in parts if p.topic == "clicks"]
    assert [(len(p.replicas), p.min_insync_replicas) for p in clicks] == [(2, 2), (2, 2)]
    # clicks-0 has ISR [1] (< 2) on broker 1 and clicks-1 is offline: RF 2 <= min ISR 2, so never a blocker.
    assert broker_restart_blockers(1, clicks, default) == []
    # The same partitions with RF 3 do block: the rule is about RF, not the topic name.
    wider = [replace(p, replicas=(*p.replicas, 9)) for p in clicks]
    assert broker_restart_blockers(1, wider, default) == [
        "clicks-0: ISR [1] is already below min.insync.replicas=2 (replicas [1, 0, 9]); broker 1 is in the ISR"]
    assert broker_restart_blockers(2, wider, default) == [
        "clicks-1: ISR [] is offline (no leader) min.insync.replicas=2 (replicas [0, 2, 9]); "
        "broker 2 holds a replica that may be the first to catch up"]


def test_healthy_fixture_rf1_topic_is_ignored():
    parts, default = partitions("partitions-healthy.json")
    audit = [p for p in parts if p.topic == "audit"]
    assert audit == [PartitionState("audit", 0, 2, (2,), (2,), 2)]
    assert broker_restart_blockers(2, audit, default) == []
    # RF 1 with min ISR 1 is ignored too (replicas <= min ISR): restarting its only broker is unavoidable.
    assert broker_restart_blockers(2, [replace(audit[0], min_insync_replicas=1)], default) == []


def test_topic_without_min_isr_uses_the_broker_default():
    p = PartitionState("events", 7, 4, (4, 5, 6), (4, 5))
    assert broker_restart_blockers(4, [p], default_min_isr=2) == [
        "events-7: ISR [4, 5] would drop to [5], below min.insync.replicas=2"]
    assert broker_restart_blockers(4, [p], default_min_isr=1) == []
    assert broker_restart_blockers(4, [p]) == []  # Kafka's default min.insync.replicas is 1
    assert broker_restart_blockers(4, [replace(p, isr=(4,))]) == [
        "events-7: ISR [4] would drop to [], below min.insync.replicas=1"]
    assert broker_restart_blockers(4, [replace(p, isr=(4,))], default_min_isr=None) == []
    # A topic override wins over the default.
    assert broker_restart_blockers(4, [replace(p, min_insync_replicas=1)], default_min_isr=2) == []


# ----------------------------------------------------------------------------- controllers


@pytest.mark.parametrize("controller", [1000, 1001, 1002])
def test_healthy_quorum_allows_any_controller(controller):
    assert controller_restart_blockers(controller, quorum("quorum-healthy.json")) == []


def test_lagging_voter_blocks_the_others_but_not_itself():
    q = quorum("quorum-1002-lagging.json")
    assert controller_restart_blockers(1002, q) == []
    [blocker] = controller_restart_blockers(1001, q)
    assert blocker == ("controller 1001: without it only 1 of 3 voters would be caught up [1000], 2 needed "
                       "(lag limit 2000 ms, controller.quorum.fetch.timeout.ms); "
                       "voter 1002 is 5300 ms behind leader 1000, 3263 records")
    assert controller_restart_blockers(1000, q) != []
    # The lag window is the desired controller.quorum.fetch.timeout.ms.
    assert controller_restart_blockers(1001, q, max_lag_ms=6000) == []
    assert controller_restart_blockers(1001, q, max_lag_ms=5300) != []  # strictly less than the window


def test_quorum_without_leader_blocks():
    q = replace(quorum("quorum-healthy.json"), leader_id=-1)
    assert controller_restart_blockers(1001, q) == ["controller 1001: the quorum has no leader (leader id -1)"]
    assert active_controller(q) is None


def test_quorum_sizes_one_two_and_five():
    def voter(i, caught):
        return ReplicaState(i, 100, caught, caught)

    single = QuorumState(1000, 1, 100, (voter(1000, 10_000),))
    assert controller_restart_blockers(1000, single) == []
    pair = QuorumState(1000, 1, 100, (voter(1000, 10_000), voter(1001, 9_000)))
    assert controller_restart_blockers(1001, pair) == []
    assert controller_restart_blockers(1000, pair) == []
    assert controller_restart_blockers(1000, replace(pair, voters=(voter(1000, 10_000), voter(1001, 1_000)))) != []
    five = QuorumState(1000, 1, 100, (voter(1000, 10_000), voter(1001, 9_999), voter(1002, 9_999),
                                      voter(1003, 1_000), voter(1004, None)))
    assert controller_restart_blockers(1001, five) != []  # 1000 and 1002 left: 2 < 3
    five_ok = replace(five, voters=(*five.voters[:4], voter(1004, 9_500)))
    assert controller_restart_blockers(1001, five_ok) == []  # 1000, 1002, 1004: 3 >= 3


def test_leader_without_timestamp_falls_back_to_now_or_blocks():
    q = quorum("quorum-healthy.json")
    leader = replace(q.voters[0], last_caught_up_timestamp_ms=None)
    q = replace(q, voters=(leader, *q.voters[1:]))
    assert controller_restart_blockers(1001, q) == [
        "controller 1001: the quorum leader 1000 reports no last caught-up time"]
    caught = q.voters[2].last_caught_up_timestamp_ms
    assert controller_restart_blockers(1001, q, now_ms=caught + 100) == []
    assert controller_restart_blockers(1001, q, now_ms=caught + 60_000) != []


def test_active_controller_is_restarted_last():
    q = quorum("quorum-leader-1001.json")
    assert active_controller(q) == 1001
    assert active_controller(quorum("quorum-healthy.json")) == 1000


class RecordedAdmin:
    """A KafkaAdmin that answers from recorded metadata, as a connected client would."""

    def __init__(self, partitions_file: str, quorum_file: str):
        doc = load(partitions_file)
        self.partitions = partitions_from_kafka_python(doc["topics"], min_isr_from_kafka_python(doc["topic_configs"]))
        self.quorum = quorum(quorum_file)

    def describe_partitions(self):
        return self.partitions, None

    def describe_quorum(self):
        return self.quorum

    def alter_broker_configs(self, broker_id, set_, delete=()):
        raise AssertionError("a gate never changes config")


def test_restart_blockers_asks_the_gate_of_the_node_role():
    from operators.kafka.gates import restart_blockers
    admin = RecordedAdmin("partitions-broker0-catching-up.json", "quorum-1002-lagging.json")
    assert restart_blockers(admin, "broker", 1, default_min_isr=2)[0].startswith("orders-0: ISR [1, 2]")
    assert restart_blockers(admin, "controller", 1001, default_min_isr=2) == \
        controller_restart_blockers(1001, admin.quorum)
    healthy = RecordedAdmin("partitions-healthy.json", "quorum-healthy.json")
    assert restart_blockers(healthy, "broker", 0, default_min_isr=2) == []
    assert restart_blockers(healthy, "controller", 1001, default_min_isr=2) == []


def test_scale_down_waits_for_every_replica_on_the_brokers_to_go():
    from operators.kafka.admin import partitions_from_text
    from operators.kafka.gates import replicas_on
    parts = partitions_from_text("# topic-partition: replicas\norders-1: 3, 0,1\norders-0: 0,1,2\n\nlogs-0: 4\n")
    assert replicas_on([3, 4], parts) == ["logs-0", "orders-1"]
    assert replicas_on([3, 4], partitions_from_text("orders-1: 0,1,2")) == []
    assert parts[0].leader == 3 and parts[0].isr == (3, 0, 1)
    with pytest.raises(ValueError, match=r"line 2: 'orders: 1' is not"):
        partitions_from_text("orders-0: 1\norders: 1")


def test_one_pass_of_answers_replays_to_the_gates_without_asking_again():
    from operators.kafka.gates import Answer, Answers, Unanswered, restart_blockers

    def refused() -> None:
        raise ConnectionError("NoBrokersAvailable")

    assert Answer.ask(refused) == Answer(error="NoBrokersAvailable")
    at_min = PartitionState("orders", 0, 1, (1, 2, 3), (1, 2))
    answers = Answers(Answer.ask(lambda: ([at_min], None)), Answer(None))
    assert restart_blockers(answers, "broker", 1, default_min_isr=2) == [
        "orders-0: ISR [1, 2] would drop to [2], below min.insync.replicas=2"]
    assert restart_blockers(answers, "controller", 1001, default_min_isr=2) == []  # no quorum to protect
    with pytest.raises(Unanswered, match="describe partitions: NoBrokersAvailable"):
        Answers(Answer.ask(refused)).describe_partitions()
    with pytest.raises(Unanswered, match="the quorum was not asked this pass"):
        Answers().describe_quorum()


def test_a_broker_that_just_died_blocks_the_others_before_the_isrs_shrink():
    from operators.kafka.gates import Answer, Answers, BrokerState, registration_blockers, restart_blockers
    full = [PartitionState("orders", 0, 2, (0, 1, 2), (0, 1, 2))]  # broker 2 killed: the ISR still shows it
    fenced = (BrokerState(0), BrokerState(1), BrokerState(2, fenced=True))
    assert broker_restart_blockers(1, full, 2) == []  # the ISR rule alone would allow it
    assert registration_blockers(1, range(3), fenced) == ["broker 2 is fenced (not heartbeating to the controllers)"]
    assert registration_blockers(1, range(3), fenced[:2]) == ["broker 2 is not registered with the controllers"]
    assert registration_blockers(2, range(3), fenced) == []  # the dead broker itself may restart
    silent = (BrokerState(0), BrokerState(1), BrokerState(2, answers=False))  # killed a moment ago
    assert registration_blockers(1, range(3), silent) == ["broker 2 does not answer on its replication listener"]
    answers = Answers(Answer((full, None)), brokers=Answer(fenced))
    assert restart_blockers(answers, "broker", 0, 2, brokers=range(3)) == [
        "broker 2 is fenced (not heartbeating to the controllers)"]
    assert restart_blockers(Answers(Answer((full, None)), brokers=Answer(None)), "broker", 0, 2,
                            brokers=range(3)) == []  # a simulated cluster registers no broker
    with pytest.raises(Unanswered, match="the registered brokers were not asked"):
        restart_blockers(Answers(Answer((full, None))), "broker", 0, 2, brokers=range(3))


def test_restart_blockers_by_reason_name_the_gate_that_holds():
    from operators.kafka.gates import Answer, Answers, BrokerState, restart_blockers_by_reason
    at_min = [PartitionState("orders", 3, 1, (0, 1, 2), (1, 2))]
    fenced = (BrokerState(0), BrokerState(1), BrokerState(2, fenced=True))
    answers = Answers(Answer((at_min, None)), brokers=Answer(fenced))
    assert restart_blockers_by_reason(answers, "broker", 1, 2, brokers=range(3)) == {
        "min-isr": ["orders-3: ISR [1, 2] would drop to [2], below min.insync.replicas=2"],
        "registration": ["broker 2 is fenced (not heartbeating to the controllers)"]}
    assert restart_blockers_by_reason(answers, "broker", 0, 2, brokers=range(3)) == {
        "registration": ["broker 2 is fenced (not heartbeating to the controllers)"]}
    behind = QuorumState(1000, 3, 10, (ReplicaState(1000, 10, 9_000, 9_000), ReplicaState(1001, 5, 1_000, 1_000),
                                       ReplicaState(1002, 10, 9_000, 9_000)))
    quorum = restart_blockers_by_reason(Answers(quorum=Answer(behind)), "controller", 1002, 2)
    assert list(quorum) == ["quorum"] and "voter 1001 is 8000 ms behind leader 1000" in quorum["quorum"][0]
    assert restart_blockers_by_reason(Answers(quorum=Answer(None)), "controller", 1002, 2) == {}
