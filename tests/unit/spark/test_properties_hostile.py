"""Hostile sparkConf keys and values, labels and annotations never change a key the operator sets in
spark.properties: each example renders the file and parses it back with a Java properties reader."""

from __future__ import annotations

import javaproperties
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from operators.sdk.names import LABEL_VALUE, QUALIFIED_NAME
from operators.sdk.properties import KEY_PATTERN, normalise
from operators.spark.api import OWNED_CONF_KEYS
from operators.spark.resources import Application, Submission, properties_text, spark_properties
from tests.unit.hostile import hostile_key, hostile_text, injection_value

SID = "c607d4c6-299d-438d-8c9b-bde6b056ad7f"
OWNED = [*OWNED_CONF_KEYS, "spark.kubernetes.executor.podTemplateFile", "spark.kubernetes.submitInDriver"]


def _app(spec: dict) -> Application:
    return Application.from_body({"metadata": {"name": "pi", "namespace": "ns", "uid": "u-1"}, "spec": {
        "type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi",
        "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar", **spec}})


def _parsed(app: Application) -> dict[str, str]:
    return javaproperties.loads(properties_text(spark_properties(app, Submission("pi", SID), 2, 1)))


CLEAN = _parsed(_app({}))
STRINGS = st.one_of(hostile_text(), injection_value(OWNED))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conf=st.dictionaries(hostile_key(OWNED, KEY_PATTERN), STRINGS, max_size=6),
       labels=st.dictionaries(hostile_key([], QUALIFIED_NAME), st.one_of(STRINGS, st.from_regex(LABEL_VALUE)),
                              max_size=2),
       annotations=st.dictionaries(hostile_key([], QUALIFIED_NAME), STRINGS, max_size=2))
def test_hostile_conf_never_changes_an_owned_key(conf, labels, annotations):
    try:
        app = _app({"sparkConf": conf, "executor": {"labels": labels, "annotations": annotations}})
    except ValidationError:
        event("refused")
        return
    event("accepted")
    parsed = _parsed(app)
    for key in OWNED:
        assert parsed.get(key) == CLEAN.get(key), key
    written = set(conf) | {f"spark.kubernetes.executor.label.{k}" for k in labels} | {
        f"spark.kubernetes.executor.annotation.{k}" for k in annotations}
    assert {normalise(k) for k in parsed if k not in CLEAN} <= {normalise(k) for k in written}
    for key, value in conf.items():
        assert parsed[key] == value


def test_disguised_owned_keys_are_refused():
    for key in ("spark.master ", " spark.master", "SPARK.MASTER", "spark.kubernetes.namespace\t", "Spark.App.Id"):
        try:
            _app({"sparkConf": {key: "local[*]"}})
        except ValidationError as exc:
            assert "sparkConf" in str(exc)
        else:
            raise AssertionError(f"{key!r} was accepted")
