"""Kafka's config keys: which a running broker takes without a restart, which role reads which, and
the passthrough config each role gets (operator defaults overridden by ``spec.config``).

Pure, over the validated spec. The roller asks two questions of it: ``update_mode`` (is a changed
key applied through incrementalAlterConfigs, or does it need a restart?) and ``roles_to_restart``
(which roles read the keys that need one?). ``role_config`` keeps a key only brokers read off the
controllers, so changing it rolls only brokers; ``dynamic_config`` is what the operator sets
through the Admin API (status records its ``operators.sdk.builders.digest``): the cluster-wide keys
on the cluster default (``cluster_default_config``), the per-broker ones on each broker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from .api import KafkaClusterSpec, Role

UpdateMode = Literal["read-only", "per-broker", "cluster-wide"]

# Kafka's default for min.insync.replicas (a broker that does not set it).
KAFKA_DEFAULT_MIN_ISR = 1

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


def default_config(spec: KafkaClusterSpec) -> dict[str, int | str]:
    """Replication defaults that fit the broker count; ``spec.config`` overrides them.

    Kafka's own defaults assume three brokers (offsets topic replication factor 3),
    which leaves a smaller cluster unable to serve consumer groups.
    """
    n = spec.brokers.replicas
    return {
        "default.replication.factor": min(3, n),
        "min.insync.replicas": min(2, n),
        "offsets.topic.replication.factor": min(3, n),
        "transaction.state.log.replication.factor": min(3, n),
        "transaction.state.log.min.isr": min(2, n),
    }


def role_config(spec: KafkaClusterSpec, role: Role) -> dict[str, int | str]:
    """The passthrough config one role reads: the operator's defaults overridden by ``spec.config``.

    Controllers apply topic defaults (num.partitions, default.replication.factor,
    min.insync.replicas) when they create topics; a key only brokers read stays off the
    controllers, so changing it rolls only brokers (:func:`roles_to_restart`).
    """
    return {k: v for k, v in (default_config(spec) | dict(spec.config)).items()
            if role in roles_to_restart((k,))}


def dynamic_config(spec: KafkaClusterSpec) -> dict[str, str]:
    """Broker keys a running broker takes through incrementalAlterConfigs, without a restart."""
    return {k: str(v) for k, v in role_config(spec, "broker").items() if update_mode(k) != "read-only"}


def cluster_default_config(values: dict[str, str]) -> dict[str, str]:
    """The cluster-wide keys of ``values``: set once, on the cluster default BROKER resource ``""``
    (kafka-configs ``--entity-default``), which every broker reads.

    Kafka 4.1 with eligible leader replicas (``eligible.leader.replicas.version=1``, on in a new 4.1
    cluster) refuses a broker-level ``min.insync.replicas`` ("Broker-level min.insync.replicas cannot
    be altered while ELR is enabled") and takes the cluster default from the controllers, which write
    it when storage is formatted; the cluster default is the only place a later change takes effect
    (shared/anchors/real-services.md, Findings 1 and 2). The other cluster-wide keys follow it, as
    their scope says.
    """
    return {k: v for k, v in values.items() if update_mode(k) == "cluster-wide"}


def stale_defaults(current: Iterable[str], wanted: dict[str, str]) -> list[str]:
    """The keys set on the cluster default (``current``) that the operator manages (cluster-wide)
    and the spec no longer sets: deleted, so the brokers fall back to their files (Strimzi's roller
    deletes such keys too). Without it a key removed from ``spec.config`` would keep its last value."""
    return sorted(k for k in current if update_mode(k) == "cluster-wide" and k not in wanted)


def per_broker_config(values: dict[str, str]) -> dict[str, str]:
    """The per-broker keys of ``values`` (listener security): set on each broker's own resource."""
    return {k: v for k, v in values.items() if update_mode(k) == "per-broker"}


def broker_min_insync_replicas(spec: KafkaClusterSpec) -> int:
    """The brokers' effective ``min.insync.replicas``: what the broker gate assumes for a topic
    that does not set its own."""
    return int(role_config(spec, "broker").get("min.insync.replicas", KAFKA_DEFAULT_MIN_ISR))
