"""Safety gates for a Kafka rolling restart: pure functions over recorded metadata.

Before the roller deletes a pod it asks one question: would restarting this node now
hurt clients or the metadata quorum? The answer is a list of blockers, one sentence
each; an empty list means go. The rules are Strimzi's (KafkaRoller, see
shared/anchors/kafka-anchors.md b1-b3):

* brokers: ``broker_restart_blockers`` (Strimzi ``KafkaAvailability.wouldAffectAvailability``);
* controllers: ``controller_restart_blockers`` (Strimzi ``KafkaQuorumCheck.isQuorumHealthyWithoutNode``),
  and the active controller goes last (``active_controller``; operators.kafka.status orders the plan);
* config changes: ``update_mode`` says which keys a broker takes dynamically
  (incrementalAlterConfigs, no restart) and ``roles_to_restart`` which roles read the others.

Node ids follow resources.py: brokers 0..n-1, controllers 1000+ordinal.

The gates read frozen dataclasses. ``KafkaAdmin`` is the Protocol a handler needs;
``KafkaPythonAdmin`` implements it over kafka-python's ``KafkaAdminClient`` (the only
Python client on PyPI with DescribeMetadataQuorum), and the ``*_from_kafka_python``
functions convert that library's result dicts, so recorded results are testable here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["controller", "broker"]
UpdateMode = Literal["read-only", "per-broker", "cluster-wide"]

# Kafka's own default for controller.quorum.fetch.timeout.ms, which Strimzi also uses as the
# lag window of the quorum check when the desired config does not set it.
DEFAULT_QUORUM_FETCH_TIMEOUT_MS = 2000
# Kafka's default for min.insync.replicas (a broker that does not set it).
KAFKA_DEFAULT_MIN_ISR = 1


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


# --------------------------------------------------------------------------- config update modes
#
# Which broker configs a running broker can take without a restart, for Kafka 3.9-4.1.
# Sources: Apache Kafka docs, "Broker Configs" (the "Update Mode" of each key) and
# "Updating Broker Configs"; apache/kafka core/src/main/scala/kafka/server/DynamicBrokerConfig.scala:
# AllDynamicConfigs is the union of DynamicSecurityConfigs (SslConfigs.RECONFIGURABLE_CONFIGS),
# LogCleaner.RECONFIGURABLE_CONFIGS, DynamicLogConfig (the broker names of
# ServerTopicConfigSynonyms.TOPIC_CONFIG_SYNONYMS), DynamicThreadPool, metric.reporters,
# DynamicListenerConfig, SocketServer.ReconfigurableConfigs, producer-state configs,
# DynamicRemoteLogConfig, DynamicReplicationConfig and config.providers; a key is per-broker
# if it is in PerBrokerConfigs (security + listener configs less max.connections,
# max.connection.creation.rate and num.network.threads), else cluster-wide. Every other key
# is read-only. A key listed here that a given version rejects (e.g. a value outside
# num.io.threads' half..double range) fails incrementalAlterConfigs; the roller then restarts,
# as Strimzi does.

_PER_BROKER: frozenset[str] = frozenset({
    # DynamicListenerConfig: listeners and listener security (only as listener.name.<l>.<key>
    # for the SSL/SASL keys; see _LISTENER_KEY).
    "listeners", "advertised.listeners", "listener.security.protocol.map",
    "principal.builder.class", "ssl.protocol", "ssl.provider", "ssl.cipher.suites", "ssl.enabled.protocols",
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
    "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.truststore.certificates",
    "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password",
    "ssl.keymanager.algorithm", "ssl.trustmanager.algorithm", "ssl.endpoint.identification.algorithm",
    "ssl.secure.random.implementation", "ssl.client.auth", "ssl.engine.factory.class",
    "sasl.mechanism.inter.broker.protocol", "sasl.jaas.config", "sasl.enabled.mechanisms",
    "sasl.kerberos.service.name", "sasl.kerberos.kinit.cmd", "sasl.kerberos.ticket.renew.window.factor",
    "sasl.kerberos.ticket.renew.jitter", "sasl.kerberos.min.time.before.relogin",
    "sasl.kerberos.principal.to.local.rules", "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter", "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
})

_CLUSTER_WIDE: frozenset[str] = frozenset({
    # DynamicLogConfig: broker defaults of topic configs (ServerTopicConfigSynonyms).
    "log.segment.bytes", "log.roll.ms", "log.roll.hours", "log.roll.jitter.ms", "log.roll.jitter.hours",
    "log.index.size.max.bytes", "log.flush.interval.messages", "log.flush.interval.ms",
    "log.retention.bytes", "log.retention.ms", "log.retention.minutes", "log.retention.hours",
    "message.max.bytes", "log.index.interval.bytes", "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", "log.segment.delete.delay.ms",
    "log.cleaner.min.cleanable.ratio", "log.cleanup.policy", "unclean.leader.election.enable",
    "min.insync.replicas", "compression.type", "compression.gzip.level", "compression.lz4.level",
    "compression.zstd.level", "log.preallocate", "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms",
    "log.local.retention.ms", "log.local.retention.bytes",
    # 3.9 only (removed in 4.0, where setting them fails: restart path, harmless).
    "log.message.timestamp.difference.max.ms", "log.message.downconversion.enable",
    # LogCleaner.RECONFIGURABLE_CONFIGS
    "log.cleaner.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size", "log.cleaner.io.max.bytes.per.second", "log.cleaner.backoff.ms",
    # DynamicThreadPool
    "num.io.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir", "background.threads",
    # metric reporters, producer state, replication
    "metric.reporters", "producer.id.expiration.ms", "transaction.partition.verification.enable",
    "follower.fetch.last.tiered.offset.enable",
    # SocketServer.ReconfigurableConfigs and the cluster-level listener configs
    "max.connections.per.ip", "max.connections.per.ip.overrides", "max.connections",
    "max.connection.creation.rate", "num.network.threads",
    # DynamicRemoteLogConfig
    "remote.log.index.file.cache.total.size.bytes", "remote.fetch.max.wait.ms",
    "remote.log.manager.copy.max.bytes.per.second", "remote.log.manager.fetch.max.bytes.per.second",
    "remote.list.offsets.request.timeout.ms", "remote.log.manager.copier.thread.pool.size",
    "remote.log.manager.expiration.thread.pool.size", "remote.log.manager.follower.thread.pool.size",
    "remote.log.reader.threads",
})

# listener.name.<listener>.<key>: per-broker for the listener's security and connection keys
# (DynamicBrokerConfig.ListenerConfigRegex); sasl keys may carry a mechanism in between.
_LISTENER_KEY = re.compile(r"^listener\.name\.[^.]+\.(?P<base>.+)$")

# Keys only controllers read (never a broker): a change rolls controllers only. Sources:
# Kafka docs "KRaft" (controller.quorum.election.*, append.linger) and ControllerServer.scala,
# which builds the QuorumController from the controller's own broker.session.timeout.ms,
# auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds and
# metadata.max.idle.interval.ms, create/alter policy classes.
CONTROLLER_ONLY_KEYS: frozenset[str] = frozenset({
    "controller.quorum.election.timeout.ms", "controller.quorum.election.backoff.max.ms",
    "controller.quorum.append.linger.ms", "controller.quorum.auto.join.enable",
    "broker.session.timeout.ms", "metadata.max.idle.interval.ms",
    "auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds",
    "leader.imbalance.per.broker.percentage",
    "create.topic.policy.class.name", "alter.config.policy.class.name",
})

# Keys both roles read: controllers use them too (ControllerServer: default.replication.factor,
# num.partitions for CreateTopics without them; min.insync.replicas and
# unclean.leader.election.enable for elections; the controller.quorum.* client settings that
# brokers use as quorum observers).
SHARED_KEYS: frozenset[str] = frozenset({
    "controller.quorum.voters", "controller.quorum.bootstrap.servers", "controller.quorum.fetch.timeout.ms",
    "controller.quorum.request.timeout.ms", "controller.quorum.retry.backoff.ms",
    "controller.listener.names", "node.id", "process.roles", "metadata.log.dir",
    "default.replication.factor", "num.partitions", "min.insync.replicas", "unclean.leader.election.enable",
    "metadata.log.segment.bytes", "metadata.log.segment.ms", "metadata.max.retention.bytes",
    "metadata.max.retention.ms", "metadata.log.max.record.bytes.between.snapshots",
    "metadata.log.max.snapshot.interval.ms", "authorizer.class.name", "super.users",
})


def update_mode(key: str) -> UpdateMode:
    """How a running broker takes a change of ``key``: per-broker, cluster-wide, or read-only.

    Read-only (restart) for every key not in the table, so an unknown key is safe.
    Controller-only keys are read-only here: dynamic updates are only tried on brokers.
    """
    if key in CONTROLLER_ONLY_KEYS:
        return "read-only"
    if key in _PER_BROKER:
        return "per-broker"
    if key in _CLUSTER_WIDE:
        return "cluster-wide"
    match = _LISTENER_KEY.match(key)
    if match:
        base = match["base"]
        for candidate in (base, base.partition(".")[2]):  # sasl keys: <mechanism>.<key>
            if candidate in _PER_BROKER or candidate in _CLUSTER_WIDE:
                return "per-broker"
    return "read-only"


# Read-only keys that only brokers read (restart brokers, not controllers). Kafka docs
# "Broker Configs", update mode read-only. Keys outside every table roll both roles.
BROKER_READ_ONLY_KEYS: frozenset[str] = frozenset({
    "auto.create.topics.enable", "broker.rack", "log.dirs", "log.dir", "delete.topic.enable",
    "offsets.topic.replication.factor", "offsets.topic.num.partitions", "offsets.retention.minutes",
    "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
    "transaction.state.log.num.partitions", "replica.lag.time.max.ms", "replica.fetch.max.bytes",
    "replica.fetch.response.max.bytes", "replica.socket.receive.buffer.bytes", "queued.max.requests",
    "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "socket.request.max.bytes",
    "group.initial.rebalance.delay.ms", "group.max.session.timeout.ms", "group.min.session.timeout.ms",
    "inter.broker.listener.name", "log.flush.scheduler.interval.ms", "log.retention.check.interval.ms",
    "log.cleaner.enable", "broker.heartbeat.interval.ms",
    "remote.log.storage.system.enable", "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr", "group.coordinator.rebalance.protocols",
})


def roles_to_restart(restart_keys: Iterable[str]) -> frozenset[Role]:
    """The roles whose pods read the changed keys: controllers, brokers, or both.

    Controller-only keys roll controllers; shared and unknown keys roll both (safe default);
    any other known key rolls brokers.
    """
    roles: set[Role] = set()
    for key in restart_keys:
        if key in CONTROLLER_ONLY_KEYS:
            roles.add("controller")
        elif key in SHARED_KEYS:
            roles.update(("controller", "broker"))
        elif key in _PER_BROKER or key in _CLUSTER_WIDE or key in BROKER_READ_ONLY_KEYS or _LISTENER_KEY.match(key):
            roles.add("broker")
        else:
            roles.update(("controller", "broker"))
    return frozenset(roles)


# --------------------------------------------------------------------------- admin client


class KafkaAdmin(Protocol):
    """What the roller needs from a Kafka Admin client. Implementations raise on any error."""

    def describe_partitions(self) -> tuple[list[PartitionState], int | None]:
        """Every partition (internal topics included) with its topic's ``min.insync.replicas``,
        and the broker default ``min.insync.replicas`` (None if unknown)."""
        ...

    def describe_quorum(self) -> QuorumState:
        """The KRaft metadata quorum (DescribeQuorum, forwarded to the controllers)."""
        ...

    def alter_broker_configs(self, broker_id: int, set_: Mapping[str, str], delete: Iterable[str] = ()) -> None:
        """incrementalAlterConfigs on ``BROKER/<broker_id>``: SET ``set_``, DELETE ``delete``."""
        ...


def partitions_from_kafka_python(topics: Sequence[Mapping[str, Any]],
                                 min_isr_by_topic: Mapping[str, int] | None = None) -> list[PartitionState]:
    """Convert ``KafkaAdminClient.describe_topics()`` (MetadataResponse topics as dicts) to states.

    Shape: ``[{"name", "error_code", "partitions": [{"partition_index", "leader_id",
    "replica_nodes", "isr_nodes", ...}]}]``. Raises ValueError for a topic or partition
    that carries an error code (its metadata cannot be trusted for a safety check).
    """
    min_isr_by_topic = min_isr_by_topic or {}
    out: list[PartitionState] = []
    for t in topics:
        if t.get("error_code", 0):
            raise ValueError(f"topic {t.get('name')}: metadata error code {t['error_code']}")
        for p in t["partitions"]:
            # LEADER_NOT_AVAILABLE (5) still describes the partition; anything else does not.
            if p.get("error_code", 0) not in (0, 5):
                raise ValueError(f"{t['name']}-{p['partition_index']}: metadata error code {p['error_code']}")
            leader = p["leader_id"]
            out.append(PartitionState(
                topic=t["name"], partition=p["partition_index"], leader=leader if leader >= 0 else None,
                replicas=tuple(p["replica_nodes"]), isr=tuple(p["isr_nodes"]),
                min_insync_replicas=min_isr_by_topic.get(t["name"])))
    return out


def min_isr_from_kafka_python(described: Mapping[str, Any]) -> dict[str, int]:
    """Topic name -> ``min.insync.replicas`` from ``KafkaAdminClient.describe_configs`` on TOPIC
    resources: ``{"topic": {name: {"min.insync.replicas": {"value": "2", ...}}}}``."""
    out: dict[str, int] = {}
    for name, configs in described.get("topic", {}).items():
        entry = configs.get("min.insync.replicas")
        if entry is not None and entry.get("value") is not None:
            out[name] = int(entry["value"])
    return out


def quorum_from_kafka_python(described: Mapping[str, Any]) -> QuorumState:
    """Convert ``KafkaAdminClient.describe_metadata_quorum()`` (DescribeQuorumResponse as a dict).

    Reads ``topics[0].partitions[0]`` (``__cluster_metadata``-0): ``leader_id``, ``leader_epoch``,
    ``high_watermark``, ``current_voters`` and ``observers`` with ``replica_id``,
    ``log_end_offset``, ``last_fetch_timestamp``, ``last_caught_up_timestamp`` (-1: unknown).
    Raises ValueError when the partition reports an error.
    """
    partition = described["topics"][0]["partitions"][0]
    error = partition.get("error") or (partition.get("error_code") and f"error code {partition['error_code']}")
    if error:
        raise ValueError(f"DescribeQuorum failed: {error}")

    def replica(r: Mapping[str, Any]) -> ReplicaState:
        def ts(v: int) -> int | None:
            return v if v >= 0 else None
        return ReplicaState(node_id=r["replica_id"], log_end_offset=r["log_end_offset"],
                            last_fetch_timestamp_ms=ts(r["last_fetch_timestamp"]),
                            last_caught_up_timestamp_ms=ts(r["last_caught_up_timestamp"]))

    return QuorumState(leader_id=partition["leader_id"], leader_epoch=partition["leader_epoch"],
                       high_watermark=partition["high_watermark"],
                       voters=tuple(replica(r) for r in partition["current_voters"]),
                       observers=tuple(replica(r) for r in partition.get("observers", [])))


class KafkaPythonAdmin:
    """``KafkaAdmin`` over kafka-python's ``KafkaAdminClient`` (``pip install kafka-python>=3.0``).

    ``client`` is a connected ``kafka.admin.KafkaAdminClient``. Untested against a broker
    here: the calls are thin and the conversions above carry the logic.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def describe_partitions(self) -> tuple[list[PartitionState], int | None]:
        from kafka.admin import ConfigResource, ConfigResourceType

        topics = self._client.describe_topics()
        key = {"min.insync.replicas": None}
        described = self._client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t["name"], configs=dict(key)) for t in topics],
            config_filter="all")
        return partitions_from_kafka_python(topics, min_isr_from_kafka_python(described)), None

    def describe_quorum(self) -> QuorumState:
        return quorum_from_kafka_python(self._client.describe_metadata_quorum())

    def alter_broker_configs(self, broker_id: int, set_: Mapping[str, str], delete: Iterable[str] = ()) -> None:
        # kafka-python addresses BROKER resources by node id only (no "" cluster default), so
        # cluster-wide keys are set per broker, which Kafka allows for every dynamic key.
        from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType

        configs: dict[str, Any] = {k: (AlterConfigOp.SET, str(v)) for k, v in set_.items()}
        configs |= {k: (AlterConfigOp.DELETE, None) for k in delete}
        result = self._client.alter_configs([ConfigResource(ConfigResourceType.BROKER, str(broker_id), configs)],
                                            incremental=True)
        outcome = result.get("broker", {}).get(str(broker_id))
        if outcome != "OK":
            raise RuntimeError(f"incrementalAlterConfigs on broker {broker_id} failed: {outcome}")


def restart_blockers(admin: KafkaAdmin, role: Role, node_id: int, default_min_isr: int) -> list[str]:
    """Ask the cluster whether node ``node_id`` may restart now: the broker or the controller gate.

    ``default_min_isr`` is the brokers' configured ``min.insync.replicas``, used for topics
    whose own value is unknown. Returns the blockers ([] means go). Raises whatever ``admin``
    raises; the caller treats an unanswerable question as a blocker.
    """
    if role == "broker":
        partitions, broker_default = admin.describe_partitions()
        return broker_restart_blockers(node_id, partitions,
                                       broker_default if broker_default is not None else default_min_isr)
    return controller_restart_blockers(node_id, admin.describe_quorum())


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


_ASSIGNMENT_LINE = re.compile(r"(?P<topic>[A-Za-z0-9._-]+)-(?P<partition>[0-9]+)\s*:\s*"
                              r"(?P<replicas>[0-9]+(\s*,\s*[0-9]+)*)")


def partitions_from_text(text: str) -> list[PartitionState]:
    """Parse a partition assignment written as lines ``<topic>-<partition>: <broker>,<broker>,...``.

    The simulated cluster's stand-in for describeTopics (no broker runs there): the e2e suite
    writes it into the ConfigMap ``<cluster>-simulated-partitions``. Every replica counts as
    in sync and the first one leads. Blank lines and ``#`` comments are skipped. Raises
    ValueError naming the line that does not parse.
    """
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _ASSIGNMENT_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"line {number}: {raw!r} is not '<topic>-<partition>: <broker>,<broker>,...'")
        replicas = tuple(int(b) for b in match["replicas"].split(","))
        out.append(PartitionState(match["topic"], int(match["partition"]), replicas[0], replicas, replicas))
    return out
