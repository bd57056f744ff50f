from __future__ import annotations

from operators.sdk.apply import contains


def test_subset_of_live_object_is_contained():
    live = {"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"replicas": 3}}
    assert contains(live, {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 3}})


def test_changed_or_missing_value_is_not_contained():
    live = {"spec": {"replicas": 3}}
    assert not contains(live, {"spec": {"replicas": 4}})
    assert not contains(live, {"spec": {"paused": False}})


def test_lists_match_element_by_element():
    live = {"ports": [{"port": 1, "protocol": "TCP"}, {"port": 2, "protocol": "TCP"}]}
    assert contains(live, {"ports": [{"port": 1}, {"port": 2}]})
    assert not contains(live, {"ports": [{"port": 1}]})
    assert not contains(live, {"ports": [{"port": 2}, {"port": 1}]})


def test_quantities_compare_by_value():
    assert contains({"cpu": "1", "memory": "1Gi"}, {"cpu": "1000m", "memory": "1024Mi"})
    assert not contains({"memory": "1Gi"}, {"memory": "2Gi"})
    assert not contains({"image": "kafka:1"}, {"image": "kafka:2"})


def test_booleans_are_not_quantities():
    assert not contains({"flag": 1}, {"flag": True})


def test_empty_maps_and_lists_equal_absent_fields():
    assert contains({"resources": {}}, {"resources": {"requests": {}, "limits": {}}, "env": []})
    assert not contains({"resources": {}}, {"resources": {"requests": {"cpu": "1"}}})


def test_apply_body_escapes_what_the_yaml_decoder_refuses_raw_and_keeps_the_rest():
    import json
    import re

    from operators.sdk.apply import apply_body

    value = "x\U0001F600\x00\x14\x7f\x84\x85\u2028\u2029\ufeff\ud7ff\ue000é\"\\y"
    body = apply_body({"data": {"k": value}})
    assert json.loads(body) == {"data": {"k": value}}
    text = body.decode()
    assert "\U0001F600" in text and "é" in text  # raw UTF-8, not a surrogate-pair escape
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]", text)
