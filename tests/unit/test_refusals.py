"""Specs that can never be built are refused by the models (and so at apply, by the spec webhook), each
refusal naming the field, the value and what is allowed. tests/e2e/test_refusals.py applies a sample of
them with kubectl against the CEL rules and the webhook."""

from __future__ import annotations

import pytest

from operators.cassandra.api import CASSANDRA_DATACENTER
from operators.kafka.api import KAFKA_CLUSTER
from operators.sdk.admission import problems
from operators.spark.api import SCHEDULED_SPARK_APPLICATION, SPARK_APPLICATION

SCALA = {"type": "Scala", "mainClass": "org.example.Main", "mainApplicationFile": "local:///app.jar"}
DC = {"clusterName": "demo"}

CASES = [
    # quantities above zero
    (KAFKA_CLUSTER, {"brokers": {"resources": {"requests": {"memory": "0"}}}},
     ["spec.brokers.resources", "requests.memory: 0", "above zero"]),
    (KAFKA_CLUSTER, {"brokers": {"resources": {"limits": {"cpu": "-1"}}}}, ["limits.cpu: -1", "above zero"]),
    (KAFKA_CLUSTER, {"brokers": {"storage": {"size": "0Gi"}}}, ["spec.brokers.storage", "0Gi", "above zero"]),
    (SPARK_APPLICATION, SCALA | {"driver": {"coreRequest": "-1"}}, ["coreRequest: -1", "above zero"]),
    (SPARK_APPLICATION, SCALA | {"executor": {"memory": "0m"}}, ["executor.memory", "0m", "above zero"]),
    # resource names the pod template can carry (found by the e2e fuzzer)
    (KAFKA_CLUSTER, {"brokers": {"resources": {"limits": {"gpu": "1"}}}},
     ["spec.brokers.resources.limits", "'gpu' is not a resource name", "nvidia.com/gpu"]),
    (SPARK_APPLICATION, SCALA | {"image": "apache/spark:3.5.3\nspark.master=local"}, ["spec.image", "pattern"]),
    (KAFKA_CLUSTER, {"image": " apache/kafka:4.1.1"}, ["spec.image", "' apache/kafka:4.1.1'"]),
    # requests within limits
    (CASSANDRA_DATACENTER, DC | {"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}},
     ["requests.memory: 8Gi is above limits.memory (4Gi)"]),
    # references are object names
    (KAFKA_CLUSTER, {"brokers": {"storage": {"storageClassName": "Fast SSD"}}},
     ["spec.brokers.storage.storageClassName", "'Fast SSD'", "pattern"]),
    (CASSANDRA_DATACENTER, DC | {"nodePool": "pool_1"}, ["spec.nodePool", "'pool_1'"]),
    (SPARK_APPLICATION, SCALA | {"driver": {"serviceAccount": "spark/driver"}},
     ["spec.driver.serviceAccount", "'spark/driver'"]),
    (KAFKA_CLUSTER, {"listeners": [{"name": "tls", "port": 9093, "tls": True, "certificateSecret": "My Cert"}]},
     ["certificateSecret", "'My Cert'"]),
    (SPARK_APPLICATION, SCALA | {"executor": {"labels": {"team name": "x"}}}, ["labels", "'team name'",
                                                                             "qualified name"]),
    (SPARK_APPLICATION, SCALA | {"executor": {"labels": {"team": "a b"}}}, ["labels.team", "'a b'", "label value"]),
    # placement the claim could never take (found by the fuzzer)
    (KAFKA_CLUSTER, {"brokers": {"constraints": [{"field": "@hostname", "operator": "CLUSTER"},
                                                 {"field": "@zone", "operator": "GROUP_BY", "value": "3"}]}},
     ["spec.brokers.constraints", "at most one GROUP_BY or value-less CLUSTER", "@zone GROUP_BY"]),
    # size caps
    (KAFKA_CLUSTER, {"config": {"log.cleaner.threads": "x" * 5000}}, ["config.log.cleaner.threads", "at most 4096"]),
    (KAFKA_CLUSTER, {"brokers": {"replicas": 200}, "config": {f"k{i}": "x" * 4000 for i in range(1)}},
     ["config:", "200 pods", "at most"]),
    (CASSANDRA_DATACENTER, DC | {"config": {"x": "y" * 300_000}}, ["spec.config", "at most 262144"]),
    (SPARK_APPLICATION, SCALA | {"sparkConf": {f"spark.k{i}": "v" * 4000 for i in range(70)}},
     ["sparkConf", "at most 262144"]),
    # dangerous durations
    (KAFKA_CLUSTER, {"recovery": {"nodeFailureTimeoutSeconds": 0}},
     ["spec.recovery.nodeFailureTimeoutSeconds", "greater than or equal to 30", "(got 0)"]),
    # cron, with the parser the schedules run on
    (SCHEDULED_SPARK_APPLICATION, {"schedule": "*/0 * * * *", "template": SCALA},
     ["spec.schedule", "step must be positive", "'*/0'"]),
    (SCHEDULED_SPARK_APPLICATION, {"schedule": "61 * * * *", "template": SCALA}, ["spec.schedule", "minute"]),
    # config keys and owned keys (part 3)
    (KAFKA_CLUSTER, {"config": {"node.id ": "7"}}, ["spec.config", "'node.id '", "letters, digits"]),
    (KAFKA_CLUSTER, {"config": {"NODE.ID": "7"}}, ["keys owned by the operator", "NODE.ID"]),
    (SPARK_APPLICATION, SCALA | {"sparkConf": {"Spark.Master": "local"}}, ["Spark.Master", "set by the operator"]),
    (CASSANDRA_DATACENTER, DC | {"config": {" Cluster_Name": "x"}}, ["Cluster_Name cannot be set"]),
    (CASSANDRA_DATACENTER, DC | {"jvm": {"options": ["-XX:+UseG1GC -Xmx64g"]}}, ["spec.jvm.options.0", "pattern"]),
    (CASSANDRA_DATACENTER, DC | {"jvm": {"options": ["-XMX64g"]}}, ["jvm.options", "'-XMX64g' cannot be set"]),
]


@pytest.mark.parametrize(("resource", "spec", "words"), CASES, ids=lambda v: getattr(v, "kind", None))
def test_unbuildable_specs_are_refused_naming_field_and_value(resource, spec, words):
    message = problems(resource.spec, spec)
    assert message is not None
    for word in words:
        assert word in message, message


def test_the_specs_they_vary_from_are_accepted():
    assert problems(KAFKA_CLUSTER.spec, {"recovery": {"nodeFailureTimeoutSeconds": 30}}) is None
    assert problems(KAFKA_CLUSTER.spec, {"brokers": {"resources": {"limits": {
        "cpu": "2", "nvidia.com/gpu": "1", "hugepages-2Mi": "1Gi"}}}}) is None
    assert problems(SCHEDULED_SPARK_APPLICATION.spec, {"schedule": "*/5 * * * *", "template": SCALA}) is None
    assert problems(CASSANDRA_DATACENTER.spec, DC | {"jvm": {"options": ["-XX:+UseG1GC"]}}) is None
    assert problems(SPARK_APPLICATION.spec, SCALA | {"executor": {"labels": {"example.com/team": "a-b"}}}) is None
