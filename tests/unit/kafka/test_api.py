from __future__ import annotations

import pytest
from pydantic import ValidationError

from operators.kafka.api import OWNED_CONFIG_KEYS, KafkaClusterSpec


def test_defaults_make_a_three_by_three_cluster():
    spec = KafkaClusterSpec.model_validate({})
    assert (spec.brokers.replicas, spec.controllers.replicas) == (3, 3)
    assert spec.image_ref == f"apache/kafka:{spec.version}"
    assert spec.brokers.storage.delete_claim is False
    assert [lst.name for lst in spec.listeners] == ["plain"]


@pytest.mark.parametrize("key", [*OWNED_CONFIG_KEYS, "listener.name.plain.ssl.keystore.type"])
def test_operator_owned_config_keys_are_refused(key):
    with pytest.raises(ValidationError, match="owned by the operator"):
        KafkaClusterSpec.model_validate({"config": {key: "x"}})


def test_passthrough_config_accepts_strings_and_integers():
    spec = KafkaClusterSpec.model_validate({"config": {"num.partitions": 6, "compression.type": "zstd"}})
    assert spec.config == {"num.partitions": 6, "compression.type": "zstd"}


@pytest.mark.parametrize("bad", [
    {"brokers": {"replicas": -1}},
    {"brokers": {"replicas": 0}},
    {"controllers": {"replicas": 2}},
    {"version": "2.8.0"},
    {"brokers": {"storage": {"size": "10XB"}}},
    {"listeners": [{"name": "tls", "port": 9093, "tls": True}]},
    {"listeners": [{"name": "plain", "port": 9090}]},
    {"listeners": [{"name": "a", "port": 9092}, {"name": "a", "port": 9093}]},
    {"listeners": [{"name": "a", "port": 9092}, {"name": "b", "port": 9092}]},
    {"listeners": [{"name": "Bad_Name", "port": 9092}]},
    {"listeners": []},
    {"version": "3.9.1", "metadataVersion": "4.0-IV3"},
    {"metadataVersion": "2.8-IV1"},
])
def test_invalid_specs_are_refused(bad):
    with pytest.raises(ValidationError):
        KafkaClusterSpec.model_validate(bad)


def test_wire_form_is_camel_case():
    spec = KafkaClusterSpec.model_validate({"brokers": {"storage": {"storageClassName": "ssd", "deleteClaim": True}}})
    wire = spec.wire()
    assert wire["brokers"]["storage"] == {"size": "10Gi", "storageClassName": "ssd", "deleteClaim": True}
