"""Hostile and unbuildable specs are refused at ``kubectl apply`` (CEL, or the spec webhook), each refusal
naming the field, the value and what is allowed; and the CRDs' short names collide with no built-in kind.
The unit tests (tests/unit/test_refusals.py) hold the whole table; this applies a sample of it as a user
would."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import Kubectl

SCALA = {"type": "Scala", "mainClass": "org.example.Main", "mainApplicationFile": "local:///app.jar"}

CASES = [
    # part 3: config injection (CEL: key set; webhook: owned keys after normalising)
    ("kafka key with whitespace", "KafkaCluster", "bad", {"config": {"node.id ": "7"}},
     r"spec\.config: Invalid value: .*config keys have letters, digits and \. _ - /"),
    ("kafka owned key in capitals", "KafkaCluster", "bad", {"config": {"NODE.ID": "7"}},
     r"spec\.config: keys owned by the operator cannot be set: NODE\.ID"),
    ("spark owned key in capitals", "SparkApplication", "bad", SCALA | {"sparkConf": {"Spark.Master": "local"}},
     r"sparkConf keys set by the operator cannot be set: Spark\.Master"),
    ("jvm option with a space", "CassandraDatacenter", "bad",
     {"clusterName": "c", "jvm": {"options": ["-XX:+UseG1GC -Xmx64g"]}},
     r"spec\.jvm\.options\[0\]: Invalid value: \"-XX:\+UseG1GC -Xmx64g\": .* should match"),
    ("jvm heap option in capitals", "CassandraDatacenter", "bad", {"clusterName": "c", "jvm": {"options": ["-XMX64g"]}},
     r"spec\.jvm\.options: Forbidden: replace_address and -Xms/-Xmx are set by the operator .*refused in any case"),
    # part 4: what can never be built
    ("zero memory request", "KafkaCluster", "bad", {"brokers": {"resources": {"requests": {"memory": "0"}}}},
     r"spec\.brokers\.resources\.requests\[memory\]: Invalid value: \"0\": must be above zero, got: 0"),
    ("unknown resource name", "KafkaCluster", "bad", {"brokers": {"resources": {"limits": {"gpu": "1"}}}},
     r"spec\.brokers\.resources\.limits: Invalid value: .*resource names are cpu, memory, ephemeral-storage"),
    ("request above limit", "KafkaCluster", "bad",
     {"brokers": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}},
     r"spec\.brokers\.resources\.requests: Invalid value: .*every request must be at most its limit"),
    ("zero volume", "CassandraDatacenter", "bad", {"clusterName": "c", "storage": {"size": "0"}},
     r"spec\.storage\.size: Invalid value: .*must be above zero, got: 0"),
    ("storage class not an object name", "KafkaCluster", "bad",
     {"brokers": {"storage": {"storageClassName": "Fast SSD"}}},
     r"spec\.brokers\.storage\.storageClassName: Invalid value: \"Fast SSD\": spec\.brokers\.storage"
     r"\.storageClassName in body should match"),
    ("name too long for the derived objects", "KafkaCluster", "a" * 42, {},
     r"metadata\.name is too long: at most 41 characters are allowed"),
    ("name and rack too long", "CassandraDatacenter", "d" * 40,
     {"clusterName": "c", "racks": [{"name": "rack-number-one1", "zone": "zone-a"}], "size": 1},
     r"the name and each rack name together have at most 51 characters"),
    ("two grouping constraints", "KafkaCluster", "bad",
     {"brokers": {"constraints": [{"field": "@hostname", "operator": "CLUSTER"},
                                  {"field": "@zone", "operator": "GROUP_BY", "value": "3"}]}},
     r"spec\.brokers\.constraints: Invalid value: .*at most one GROUP_BY or value-less CLUSTER constraint"),
    ("huge config value", "KafkaCluster", "bad", {"config": {"log.cleaner.threads": "1" * 5000}},
     r"spec\.config\.log\.cleaner\.threads: a value has at most 4096 characters, got 5000"),
    ("node failure timeout of 0", "KafkaCluster", "bad", {"recovery": {"nodeFailureTimeoutSeconds": 0}},
     r"spec\.recovery\.nodeFailureTimeoutSeconds: Invalid value: 0: .*greater than or equal to 30"),
    ("cron step of 0", "ScheduledSparkApplication", "bad", {"schedule": "*/0 * * * *", "template": SCALA},
     r"spec\.schedule: Invalid value: .*must be a cron schedule .*got: \*/0 \* \* \* \*"),
    ("impossible cron minute", "ScheduledSparkApplication", "bad", {"schedule": "60 * * * *", "template": SCALA},
     r"spec\.schedule: Invalid value: .*got: 60 \* \* \* \*"),
]
GROUPS = {"KafkaCluster": "kafka.smack.dev", "CassandraDatacenter": "cassandra.smack.dev",
          "SparkApplication": "spark.smack.dev", "ScheduledSparkApplication": "spark.smack.dev"}


@pytest.mark.parametrize(("case", "kind", "name", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_unbuildable_and_hostile_specs_are_refused_naming_the_field(ns: Kubectl, case, kind, name, spec, expected):
    manifest = {"apiVersion": f"{GROUPS[kind]}/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    result = ns.apply(json.dumps(manifest), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert re.search(expected, result.stderr), result.stderr
    assert ns.run("get", kind.lower(), name, check=False).returncode != 0


def test_short_names_collide_with_no_built_in_kind(kube: Kubectl):
    """Every short name of every kind resolves to that kind only (``sc`` is StorageClass's)."""
    rows = [line.split() for line in kube.run("api-resources", "--no-headers").stdout.splitlines()]
    # NAME SHORTNAMES APIVERSION NAMESPACED KIND; resources without short names have four columns.
    owners: dict[str, set[str]] = {}
    for row in rows:
        if len(row) == 5:
            for short in row[1].split(","):
                owners.setdefault(short, set()).add(f"{row[0]}.{row[2]}")
    ours = {s for row in rows if len(row) == 5 and "smack.dev" in row[2] for s in row[1].split(",")}
    assert ours, "no smack.dev kind has a short name"
    clashes = {s: owners[s] for s in ours if len(owners[s]) > 1}
    assert not clashes, clashes
