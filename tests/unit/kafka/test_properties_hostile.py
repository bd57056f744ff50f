"""Hostile spec.config strings never change a key the operator owns in server.properties.

Each example renders every pod's server.properties from a random config of hostile keys and values
and parses it back with a Java properties reader (javaproperties, java.util.Properties' grammar):
either the model refuses the config, or every operator-owned key keeps its value and every user key
reads back as exactly what the user wrote.
"""

from __future__ import annotations

import javaproperties
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from operators.kafka.api import OWNED_CONFIG_KEYS, KafkaClusterSpec
from operators.kafka.resources import Cluster, config_map, server_properties
from operators.sdk.properties import KEY_PATTERN, normalise
from tests.unit.hostile import hostile_key, hostile_text, injection_value

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
OWNED = [*OWNED_CONFIG_KEYS, "listener.name.plain.ssl.keystore.location"]
BASE = {"brokers": {"replicas": 2}, "controllers": {"replicas": 1}}


def _cluster(config: dict) -> Cluster:
    return Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate(BASE | {"config": config}))


def _files(cluster: Cluster) -> dict[tuple[str, int], dict[str, str]]:
    return {(role, i): javaproperties.loads(server_properties(cluster, role, i))
            for role in ("controller", "broker") for i in range(cluster.replicas(role))}


CLEAN = _files(_cluster({}))
CONFIGS = st.dictionaries(hostile_key(OWNED, KEY_PATTERN),
                          st.one_of(hostile_text(), injection_value(OWNED), st.integers()), max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGS)
def test_hostile_config_never_changes_an_owned_key(config):
    try:
        cluster = _cluster(config)
    except ValidationError:
        event("refused")  # at apply: the spec webhook and CEL run the same rules
        return
    event("accepted")
    for pod, parsed in _files(cluster).items():
        clean = CLEAN[pod]
        for key in clean:
            if key in cluster.spec.config:
                continue  # an operator default (replication factors) the user may override
            assert parsed[key] == clean[key], (pod, key)
        assert {normalise(k) for k in parsed if k not in clean} <= {normalise(k) for k in config}
        for key, value in cluster.spec.config.items():
            if key in parsed:
                assert parsed[key] == str(value)
    config_map(cluster, "broker")  # the whole ConfigMap renders


def test_disguised_owned_keys_are_refused_naming_the_key():
    for key in (" node.id", "node.id ", "NODE.ID", "node.id\n", "Log.Dirs", "listener.NAME.x.y"):
        try:
            _cluster({key: "5"})
        except ValidationError as exc:
            assert repr(key)[1:-1] in str(exc) or key.strip() in str(exc)
        else:
            raise AssertionError(f"{key!r} was accepted")


def test_a_value_with_a_line_break_stays_one_value():
    cluster = _cluster({"log.retention.ms": "1\nnode.id=7\nprocess.roles=broker,controller"})
    parsed = javaproperties.loads(server_properties(cluster, "broker", 0))
    assert parsed["node.id"] == "0" and parsed["process.roles"] == "broker"
    assert parsed["log.retention.ms"] == "1\nnode.id=7\nprocess.roles=broker,controller"
