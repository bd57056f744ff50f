from __future__ import annotations

import pytest

from operators.sdk.conditions import Condition, get_condition, set_condition


def cond(status: str, reason: str = "Because", type_: str = "Ready") -> Condition:
    return Condition(type=type_, status=status, reason=reason, message="m", observed_generation=1)


def test_new_condition_gets_transition_time():
    out = set_condition([], cond("True"), at="2026-01-01T00:00:00Z")
    assert out[0].last_transition_time == "2026-01-01T00:00:00Z"


def test_same_status_keeps_transition_time_but_updates_reason():
    first = set_condition([], cond("True"), at="2026-01-01T00:00:00Z")
    second = set_condition(first, cond("True", reason="Other"), at="2026-02-02T00:00:00Z")
    assert second[0].last_transition_time == "2026-01-01T00:00:00Z"
    assert second[0].reason == "Other"


def test_status_change_moves_transition_time():
    first = set_condition([], cond("True"), at="2026-01-01T00:00:00Z")
    second = set_condition(first, cond("False"), at="2026-02-02T00:00:00Z")
    assert second[0].last_transition_time == "2026-02-02T00:00:00Z"


def test_order_is_kept_and_other_types_untouched():
    out = set_condition([], cond("True", type_="Ready"), at="t1")
    out = set_condition(out, cond("False", type_="Progressing"), at="t2")
    out = set_condition(out, cond("False", type_="Ready"), at="t3")
    assert [c.type for c in out] == ["Ready", "Progressing"]
    assert get_condition(out, "Progressing").last_transition_time == "t2"
    assert get_condition(out, "Missing") is None


@pytest.mark.parametrize("reason", ["", "two words", "lower-case-dash", "1Leading"])
def test_reason_must_be_camel_case_word(reason):
    with pytest.raises(ValueError, match="CamelCase"):
        set_condition([], cond("True", reason=reason))


def test_invalid_spec_marks_ready_false_naming_every_refused_field():
    import pydantic

    from operators.kafka.api import KafkaClusterSpec, KafkaClusterStatus
    from operators.sdk.conditions import invalid_spec
    try:
        KafkaClusterSpec.model_validate({"brokers": {"replicas": 0}, "version": "0.1"})
    except pydantic.ValidationError as exc:
        status, message = invalid_spec(KafkaClusterStatus(version="4.1.1"), exc, 7)
    ready = get_condition(status.conditions, "Ready")
    assert (ready.status, ready.reason, ready.observed_generation) == ("False", "InvalidSpec", 7)
    assert ready.message == message and "spec.brokers.replicas" in message and "spec.version" in message
    assert status.version == "4.1.1"
