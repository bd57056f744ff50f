"""Safety gates for a Kafka rolling restart and scale-down: pure functions over recorded metadata.

Before the roller deletes a pod it asks one question: would restarting this node now
hurt clients or the metadata quorum? The answer is a list of blockers, one sentence
each; an empty list means go. The rules are Strimzi's (KafkaRoller, see
shared/anchors/kafka-anchors.md b1-b3):

* brokers: ``broker_restart_blockers`` (Strimzi ``KafkaAvailability.wouldAffectAvailability``), and
  ``registration_blockers``: every other broker registered and unfenced, which closes the window
  right after a broker dies, while the metadata still shows it in every ISR (for
  ``broker.session.timeout.ms``, 9 s by default; shared/anchors/real-services.md, Findings 4);
* controllers: ``controller_restart_blockers`` (Strimzi ``KafkaQuorumCheck.isQuorumHealthyWithoutNode``),
  and the active controller goes last (``active_controller``; operators.kafka.plans orders the plan);
* scale-down: ``replicas_on`` names the partitions that still have a replica on brokers to remove.

Node ids follow resources.py: brokers 0..n-1, controllers 1000+ordinal.

The gates read frozen dataclasses. :class:`Metadata` is what they read from a cluster;
``operators.kafka.admin`` implements it over the Admin API (and a simulated cluster), and
:class:`Answers` is one pass's recording of it, which the gates replay without I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .api import Role
from .config import KAFKA_DEFAULT_MIN_ISR

T = TypeVar("T")

# Kafka's own default for controller.quorum.fetch.timeout.ms, which Strimzi also uses as the
# lag window of the quorum check when the desired config does not set it.
DEFAULT_QUORUM_FETCH_TIMEOUT_MS = 2000


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class PartitionState:
    """One topic partition as the cluster metadata reports it (Admin describeTopics).

    ``replicas`` is the assignment in preference order (its length is the replication
    factor); ``isr`` the in-sync replicas; ``leader`` the leader's broker id, ``None``
    when the partition has no leader (offline; Kafka reports -1). ``min_insync_replicas``
    is the topic's effective ``min.insync.replicas`` when known, ``None`` to fall back
    to the broker default passed to the gate.
    """

    topic: str
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_insync_replicas: int | None = None

    @property
    def name(self) -> str:
        """``<topic>-<partition>``, as Kafka names partitions in logs and tools."""
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True)
class BrokerState:
    """A broker registered with the controllers (Admin ``describeCluster`` with fenced brokers).
    ``fenced``: the controllers stopped counting it (no heartbeat within broker.session.timeout.ms,
    or still starting). ``answers``: it answered a request of the operator's just now (Strimzi's
    roller asks each node ``describeConfigs`` for the same reason: a broker killed a moment ago is
    still registered, unfenced and in every ISR until its session times out)."""

    node_id: int
    fenced: bool = False
    answers: bool = True


@dataclass(frozen=True)
class ReplicaState:
    """One member of the KRaft metadata quorum (DescribeQuorum ``ReplicaState``).

    Timestamps are milliseconds since the epoch on the quorum leader's clock; ``None``
    where Kafka reports -1 (unknown, e.g. a voter the leader has not heard from since
    it was elected). ``log_end_offset`` is -1 when unknown.
    """

    node_id: int
    log_end_offset: int
    last_fetch_timestamp_ms: int | None
    last_caught_up_timestamp_ms: int | None


@dataclass(frozen=True)
class QuorumState:
    """The KRaft metadata quorum (``kafka-metadata-quorum describe --replication``,
    Admin ``describeMetadataQuorum``).

    ``leader_id`` is the active controller, -1 while there is none. ``voters`` are the
    controllers; ``observers`` the brokers (and controllers not yet voters).
    """

    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: tuple[ReplicaState, ...]
    observers: tuple[ReplicaState, ...] = ()

    def voter(self, node_id: int) -> ReplicaState | None:
        """The voter with this node id, or None."""
        return next((v for v in self.voters if v.node_id == node_id), None)


# --------------------------------------------------------------------------- broker gate


def broker_restart_blockers(broker_id: int, partitions: Iterable[PartitionState],
                            default_min_isr: int | None = KAFKA_DEFAULT_MIN_ISR) -> list[str]:
    """Why restarting ``broker_id`` now would stall ``acks=all`` producers; [] when it is safe.

    Strimzi's rule (SZ ``KafkaAvailability.wouldAffectAvailability``; anchors b2). With
    ``minIsr`` the partition's effective ``min.insync.replicas`` (the topic's, else
    ``default_min_isr``), a partition blocks the restart when:

    * ``len(replicas) > minIsr`` and ``len(isr) == minIsr`` and the broker is in the ISR:
      the restart takes the partition below min ISR;
    * ``len(replicas) > minIsr`` and ``len(isr) < minIsr`` and the broker holds a replica:
      the partition is already under min ISR (offline, when the ISR is empty) and this
      broker may be the first to catch up or is still serving consumers.

    Partitions with ``len(replicas) <= minIsr`` never block: they cannot satisfy min ISR
    through any restart of their brokers, and blocking on them deadlocked Strimzi's
    roller (SZ issue #2964; the ``pi.replicas().size() <= minIsr`` branch that only logs).
    A ``minIsr`` of ``None`` (topic and broker default both unknown) never blocks either,
    as in Strimzi when the config entry is missing. Strimzi has no separate rule for
    offline partitions: an offline partition is an ISR below min ISR and the second
    clause covers it.

    Args:
        broker_id: node id of the broker to restart (0..n-1).
        partitions: every partition of every topic, internal topics included.
        default_min_isr: the broker's ``min.insync.replicas``, used for topics whose state
            carries none; Kafka's default is 1.

    Returns:
        One message per blocking partition, sorted by topic then partition, e.g.
        ``"orders-3: ISR [1, 2] would drop to [2], below min.insync.replicas=2"``.
    """
    blockers: list[tuple[str, int, str]] = []
    for p in partitions:
        min_isr = p.min_insync_replicas if p.min_insync_replicas is not None else default_min_isr
        if min_isr is None or min_isr < 0 or len(p.replicas) <= min_isr:
            continue
        isr = list(p.isr)
        if len(isr) == min_isr and broker_id in isr:
            rest = [b for b in isr if b != broker_id]
            message = f"{p.name}: ISR {isr} would drop to {rest}, below min.insync.replicas={min_isr}"
        elif len(isr) < min_isr and broker_id in p.replicas:
            state = "is offline (no leader)" if p.leader is None else "is already below"
            role = "is in the ISR" if broker_id in isr else "holds a replica that may be the first to catch up"
            message = (f"{p.name}: ISR {isr} {state} min.insync.replicas={min_isr} "
                       f"(replicas {list(p.replicas)}); broker {broker_id} {role}")
        else:
            continue
        blockers.append((p.topic, p.partition, message))
    return [m for _, _, m in sorted(blockers)]


def registration_blockers(broker_id: int, expected: Iterable[int], registered: Iterable[BrokerState]) -> list[str]:
    """Why restarting ``broker_id`` must wait for the other brokers of ``expected`` (node ids) to be
    registered and unfenced; [] when they all are.

    A broker that died a moment ago still leads and sits in every ISR it held until the controllers
    fence it, so the ISR rule alone would let a second broker go down with it; a broker that is
    registered but fenced is not serving either.
    """
    state = {b.node_id: b for b in registered}
    out = []
    for other in sorted(set(expected) - {broker_id}):
        if other not in state:
            out.append(f"broker {other} is not registered with the controllers")
        elif state[other].fenced:
            out.append(f"broker {other} is fenced (not heartbeating to the controllers)")
        elif not state[other].answers:
            out.append(f"broker {other} does not answer on its replication listener")
    return out


# --------------------------------------------------------------------------- controller gate


def active_controller(quorum: QuorumState) -> int | None:
    """The node id of the quorum leader (the active controller), or None while there is none.

    Strimzi restarts it last (``KafkaRoller``: a restart of the active controller is
    deferred while other controllers are pending), so leadership moves at most once.
    """
    return quorum.leader_id if quorum.leader_id >= 0 else None


def controller_restart_blockers(controller_id: int, quorum: QuorumState, now_ms: int | None = None,
                                max_lag_ms: int = DEFAULT_QUORUM_FETCH_TIMEOUT_MS) -> list[str]:
    """Why restarting controller ``controller_id`` now could cost the quorum; [] when it is safe.

    Strimzi's rule (SZ ``KafkaQuorumCheck.isQuorumHealthyWithoutNode``; anchors b3):

    * no leader (``leader_id < 0``): block;
    * a voter is *caught up* if it has a last-caught-up timestamp and is the leader or
      ``reference - its timestamp < max_lag_ms``; the node being restarted is not counted;
    * 1 voter: allow (nothing to protect; Strimzi only warns); 2 voters: allow only if the
      other one is caught up; n voters: allow if ``caught_up >= (n + 2) // 2`` (3 voters:
      both others; 5 voters: three of the other four).

    The reference instant is the leader's own ``lastCaughtUpTimestamp``, as in Strimzi: the
    leader stamps it with its clock when it answers DescribeQuorum, so the operator's clock
    (and any skew) never enters the check. ``now_ms`` is used only when the leader reports
    no timestamp; with neither the gate blocks (Strimzi would count every voter with a
    timestamp there, an artefact of its -1 sentinel).

    Args:
        controller_id: node id of the controller to restart (1000+ordinal).
        quorum: the quorum as described just before the step.
        now_ms: fallback reference in ms since the epoch, see above.
        max_lag_ms: the lag window in ms: the desired ``controller.quorum.fetch.timeout.ms``
            (Kafka default 2000).

    Returns:
        Blocker messages naming the voters that are behind and by how much.
    """
    if quorum.leader_id < 0:
        return [f"controller {controller_id}: the quorum has no leader (leader id {quorum.leader_id})"]
    n = len(quorum.voters)
    if n == 1:
        return []
    leader = quorum.voter(quorum.leader_id)
    if leader is None:
        return [f"controller {controller_id}: the quorum leader {quorum.leader_id} is not among the voters "
                f"{sorted(v.node_id for v in quorum.voters)}"]
    reference = leader.last_caught_up_timestamp_ms if leader.last_caught_up_timestamp_ms is not None else now_ms
    if reference is None:
        return [f"controller {controller_id}: the quorum leader {leader.node_id} reports no last caught-up time"]

    caught_up: list[int] = []
    behind: list[str] = []
    for v in sorted(quorum.voters, key=lambda v: v.node_id):
        if v.node_id == controller_id:
            continue
        if v.node_id == leader.node_id:
            caught_up.append(v.node_id)
            continue
        if v.last_caught_up_timestamp_ms is None:
            behind.append(f"voter {v.node_id} has never caught up with the leader")
            continue
        lag = reference - v.last_caught_up_timestamp_ms
        if lag < max_lag_ms:
            caught_up.append(v.node_id)
        else:
            offsets = ""
            if v.log_end_offset >= 0 and leader.log_end_offset >= 0:
                offsets = f", {leader.log_end_offset - v.log_end_offset} records"
            behind.append(f"voter {v.node_id} is {lag} ms behind leader {leader.node_id}{offsets}")
    needed = 1 if n == 2 else (n + 2) // 2
    if len(caught_up) >= needed:
        return []
    return [f"controller {controller_id}: without it only {len(caught_up)} of {n} voters would be caught up "
            f"{sorted(caught_up)}, {needed} needed (lag limit {max_lag_ms} ms, controller.quorum.fetch.timeout.ms)"
            + "".join(f"; {b}" for b in behind)]




# --------------------------------------------------------------------------- what the gates read


class Metadata(Protocol):
    """The reads the gates need from a cluster (Admin API). Implementations raise on any error."""

    def describe_partitions(self) -> tuple[list[PartitionState], int | None]:
        """Every partition (internal topics included) with its topic's ``min.insync.replicas``,
        and the broker default ``min.insync.replicas`` (None if unknown)."""
        ...

    def describe_quorum(self) -> QuorumState | None:
        """The KRaft metadata quorum (DescribeQuorum, forwarded to the controllers); None where
        there is no quorum to describe (a simulated cluster, where no controller runs)."""
        ...

    def describe_brokers(self) -> tuple[BrokerState, ...] | None:
        """The registered brokers, fenced ones included (DescribeCluster); None where no broker
        registers (a simulated cluster)."""
        ...


class Unanswered(LookupError):
    """A question to the cluster that was not asked this pass, or that failed; the message says which."""


@dataclass(frozen=True)
class Answer(Generic[T]):
    """One answer of the cluster: its ``value``, or the ``error`` text of asking."""

    value: T | None = None
    error: str | None = None

    @classmethod
    def ask(cls, question: Callable[[], T]) -> Answer[T]:
        """Ask now; any exception (connection, timeout, a Kafka error) becomes the answer's error."""
        try:
            return cls(question())
        except Exception as exc:  # the cluster's answer, not an operator bug: a gate reports it
            return cls(error=str(exc) or type(exc).__name__)

    def get(self, what: str) -> T:
        """The value; raises :class:`Unanswered` naming ``what`` when asking failed."""
        if self.error is not None:
            raise Unanswered(f"{what}: {self.error}")
        return self.value  # type: ignore[return-value]  # None is a valid answer (no quorum)


@dataclass(frozen=True)
class Answers:
    """The cluster's answers of one pass, each asked at most once, replayed as :class:`Metadata`.

    ``partitions`` is describe_partitions' answer, ``quorum`` describe_quorum's and ``brokers``
    describe_brokers'; None where the pass did not need to ask (then replaying it raises
    :class:`Unanswered`).
    """

    partitions: Answer[tuple[list[PartitionState], int | None]] | None = None
    quorum: Answer[QuorumState | None] | None = None
    brokers: Answer[tuple[BrokerState, ...] | None] | None = None

    def describe_partitions(self) -> tuple[list[PartitionState], int | None]:
        if self.partitions is None:
            raise Unanswered("the partitions were not asked this pass")
        return self.partitions.get("describe partitions")

    def describe_quorum(self) -> QuorumState | None:
        if self.quorum is None:
            raise Unanswered("the quorum was not asked this pass")
        return self.quorum.get("describe the KRaft quorum")

    def describe_brokers(self) -> tuple[BrokerState, ...] | None:
        if self.brokers is None:
            raise Unanswered("the registered brokers were not asked this pass")
        return self.brokers.get("describe the registered brokers")


# The reasons a gate of this module gives (restart_blockers_by_reason; the metric smack_gate_blocked_total).
MIN_ISR, REGISTRATION, QUORUM = "min-isr", "registration", "quorum"


def restart_blockers_by_reason(admin: Metadata, role: Role, node_id: int, default_min_isr: int,
                               brokers: Iterable[int] = ()) -> dict[str, list[str]]:
    """Ask the cluster whether node ``node_id`` may restart now: the broker or the controller gate.

    ``default_min_isr`` is the brokers' configured ``min.insync.replicas``, used for topics
    whose own value is unknown. For a broker, every other broker of ``brokers`` (node ids; none:
    not checked) must also be registered and unfenced (:func:`registration_blockers`), where the
    cluster registers brokers (not None). A cluster with no quorum to describe (None) leaves nothing
    for the controller gate to protect. Returns the blockers by reason (:data:`MIN_ISR`,
    :data:`REGISTRATION`, :data:`QUORUM`; only reasons that block, so {} means go). Raises whatever
    ``admin`` raises; the caller treats an unanswerable question as a blocker.
    """
    found: dict[str, list[str]] = {}
    if role == "broker":
        partitions, broker_default = admin.describe_partitions()
        found[MIN_ISR] = broker_restart_blockers(node_id, partitions,
                                                 broker_default if broker_default is not None else default_min_isr)
        expected = tuple(brokers)
        registered = admin.describe_brokers() if expected else None
        if registered is not None:
            found[REGISTRATION] = registration_blockers(node_id, expected, registered)
    elif (quorum := admin.describe_quorum()) is not None:
        found[QUORUM] = controller_restart_blockers(node_id, quorum)
    return {reason: blockers for reason, blockers in found.items() if blockers}


def restart_blockers(admin: Metadata, role: Role, node_id: int, default_min_isr: int,
                     brokers: Iterable[int] = ()) -> list[str]:
    """:func:`restart_blockers_by_reason` as one list, the ISR blockers first ([] means go)."""
    return [b for blockers in restart_blockers_by_reason(admin, role, node_id, default_min_isr, brokers).values()
            for b in blockers]


# --------------------------------------------------------------------------- scale-down


def replicas_on(broker_ids: Iterable[int], partitions: Iterable[PartitionState]) -> list[str]:
    """The partitions with a replica on any of ``broker_ids``, sorted by topic then partition.

    A broker may be removed only when this is empty: its replicas would otherwise go with it
    (Strimzi refuses the same scale-down: "Cannot scale down brokers ... because brokers ...
    are not empty", shared/anchors/kafka-anchors.md). Moving them is a reassignment
    (kafka-reassign-partitions.sh, Cruise Control), which the user or a balancer runs.
    """
    ids = set(broker_ids)
    hit = sorted((p.topic, p.partition) for p in partitions if ids & set(p.replicas))
    return [f"{t}-{n}" for t, n in hit]
