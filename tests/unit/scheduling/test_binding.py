"""Admission refusals name the spec field a user edits: from a mapping, or a function of the pod set."""

from __future__ import annotations

from operators.kafka.api import KAFKA_CLUSTER
from operators.scheduling.binding import ServiceBinding


def _field(field_of, pod_set):
    return ServiceBinding(KAFKA_CLUSTER, lambda body: None, field_of).field(pod_set)


def test_a_pod_set_is_named_by_its_mapping_or_by_a_function():
    assert _field({"broker": "spec.brokers"}, "broker") == "spec.brokers"
    assert _field({"broker": "spec.brokers"}, "other") == "spec"
    assert _field(lambda rack: f"spec.racks (rack {rack})", "r9") == "spec.racks (rack r9)"
    assert _field(lambda rack: "never", None) == "spec"
