"""Hostile spec.config and jvm.options never change what the operator owns in a node's files.

cassandra.yaml is parsed back with yaml.safe_load, jvm.options as start.sh and cassandra-env.sh read it
(comment lines dropped, the rest joined by spaces and split on whitespace), cassandra-rackdc.properties
with a Java properties reader, start.sh with shlex.
"""

from __future__ import annotations

import shlex

import javaproperties
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from operators.cassandra.api import FORBIDDEN_JVM_OPTIONS, OWNED_CONFIG_KEYS, CassandraDatacenterSpec
from operators.cassandra.resources import Datacenter, config_map
from tests.unit.hostile import hostile_key, hostile_text

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def _dc(spec: dict) -> Datacenter:
    return Datacenter("dc1", "ns", UID, CassandraDatacenterSpec.model_validate({"clusterName": "demo", **spec}))


def jvm_options_as_cassandra_reads_them(text: str) -> list[str]:
    """JVM_EXTRA_OPTS as start.sh builds it (sed '/^#/d' | tr '\\n' ' '), split as cassandra-env.sh's java
    command line splits it (unquoted, on whitespace)."""
    return " ".join(line for line in text.split("\n") if not line.startswith("#")).split()


def _files(dc: Datacenter) -> dict[str, str]:
    return config_map(dc, dc.spec.racks[0].name, {})["data"]


CLEAN = _files(_dc({}))
CLEAN_YAML = yaml.safe_load(CLEAN["cassandra.yaml"])
OPTIONS = st.lists(st.one_of(
    hostile_text(30),
    st.builds(lambda a, f, b: a + f + b, st.sampled_from(["", " ", "\n", "-Dx=1\n", "-Dx=1 "]),
              st.sampled_from(["-Xmx64g", "-XMX1g", "-Dcassandra.replace_address_first_boot=10.0.0.1",
                               "-XX:MaxHeapSize=1g", "-dcassandra.replace_address=1.2.3.4"]),
              st.sampled_from(["", " ", "\n"]))), max_size=4)
VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), hostile_text()),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text(10), inner, max_size=3),
                      max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=st.dictionaries(hostile_key(list(OWNED_CONFIG_KEYS)), VALUES, max_size=5), options=OPTIONS)
def test_hostile_config_and_options_never_change_an_owned_setting(config, options):
    try:
        dc = _dc({"config": config, "jvm": {"options": options}})
    except ValidationError:
        event("refused")
        return
    event("accepted")
    files = _files(dc)
    parsed = yaml.safe_load(files["cassandra.yaml"])
    for key in OWNED_CONFIG_KEYS:
        assert parsed.get(key) == CLEAN_YAML.get(key), key
    for key, value in config.items():
        assert parsed[key] == value
    read = jvm_options_as_cassandra_reads_them(files["jvm.options"])
    assert read == options
    assert not [o for o in read if o.casefold().startswith(FORBIDDEN_JVM_OPTIONS)]
    assert javaproperties.loads(files["cassandra-rackdc.properties"]) == javaproperties.loads(
        CLEAN["cassandra-rackdc.properties"])
    assert shlex.split(files["start.sh"], comments=True) == shlex.split(CLEAN["start.sh"], comments=True)


def test_an_option_with_a_line_break_or_a_space_is_refused():
    for option in ("-XX:+UseG1GC\n-Xmx64g", "-XX:+UseG1GC -Xmx64g", " -Xmx64g", "-XMX64g",
                   "-XX:MaxHeapSize=64g", "-Dcassandra.replace_address=10.0.0.1"):
        try:
            _dc({"jvm": {"options": [option]}})
        except ValidationError as exc:
            assert "jvm.options" in str(exc)
        else:
            raise AssertionError(f"{option!r} was accepted")


def test_disguised_owned_keys_are_refused():
    for key in (" cluster_name", "CLUSTER_NAME", "seed_provider\n", "Num_Tokens "):
        try:
            _dc({"config": {key: "x"}})
        except ValidationError as exc:
            assert "cannot be set" in str(exc)
        else:
            raise AssertionError(f"{key!r} was accepted")
