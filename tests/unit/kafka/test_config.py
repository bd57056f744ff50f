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
