"""Which config keys a running broker takes dynamically, and which roles a change restarts."""

from __future__ import annotations

from operators.kafka.config import roles_to_restart, update_mode

# ----------------------------------------------------------------------------- config changes


def test_update_modes():
    assert update_mode("message.max.bytes") == "cluster-wide"
    assert update_mode("max.connections") == "cluster-wide"  # a cluster-level listener config
    assert update_mode("ssl.keystore.location") == "per-broker"
    assert update_mode("listener.name.tls.ssl.keystore.location") == "per-broker"
    assert update_mode("listener.name.sasl.plain.sasl.jaas.config") == "per-broker"
    assert update_mode("listener.name.tls.socket.whatever") == "read-only"
    assert update_mode("log.dirs") == "read-only"
    assert update_mode("controller.quorum.election.timeout.ms") == "read-only"
    assert update_mode("no.such.key") == "read-only"


def test_roles_to_restart():
    assert roles_to_restart({"controller.quorum.election.timeout.ms"}) == {"controller"}
    assert roles_to_restart({"auto.create.topics.enable", "num.io.threads"}) == {"broker"}
    assert roles_to_restart({"default.replication.factor"}) == {"controller", "broker"}
    assert roles_to_restart({"no.such.key"}) == {"controller", "broker"}
    assert roles_to_restart(set()) == frozenset()


def test_cluster_wide_keys_go_to_the_cluster_default_and_per_broker_keys_to_each_broker():
    from operators.kafka.config import cluster_default_config, per_broker_config
    values = {"min.insync.replicas": "2", "log.retention.ms": "3600000", "ssl.cipher.suites": "TLS_AES_128_GCM_SHA256"}
    # With ELR on (Kafka 4.1), min.insync.replicas is refused per broker: it is never sent there.
    assert cluster_default_config(values) == {"min.insync.replicas": "2", "log.retention.ms": "3600000"}
    assert per_broker_config(values) == {"ssl.cipher.suites": "TLS_AES_128_GCM_SHA256"}


def test_a_key_removed_from_the_spec_is_deleted_from_the_cluster_default():
    from operators.kafka.config import stale_defaults
    current = ["log.cleaner.threads", "log.retention.ms", "min.insync.replicas", "no.such.key"]
    assert stale_defaults(current, {"min.insync.replicas": "2", "log.retention.ms": "1"}) == ["log.cleaner.threads"]
