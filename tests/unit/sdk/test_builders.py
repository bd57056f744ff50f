"""Shared builders: identity, Services, PodDisruptionBudgets, volume templates, digests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from operators.sdk.builders import (
    accounted_requests,
    digest,
    pod_disruption_budget,
    retention_policy,
    service,
    volume_claim_template,
    volume_owner_init,
)
from operators.spark.resources import Application

OWNER = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "uid": "u"}}


def test_identity_and_owner_come_from_the_body() -> None:
    app = Application.from_body({"metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
                                 "spec": {"type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi",
                                          "mainApplicationFile": "local:///opt/spark/examples/jars/e.jar"}})
    assert (app.name, app.namespace, app.uid) == ("pi", "ns", "u1")
    assert app.owner == {"apiVersion": "spark.smack.dev/v1alpha1", "kind": "SparkApplication",
                         "metadata": {"name": "pi", "uid": "u1"}}


def test_a_spec_the_models_refuse_raises() -> None:
    with pytest.raises(ValidationError):
        Application.from_body({"metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
                               "spec": {"executor": {"instances": -1}}})


def test_a_headless_service_publishing_not_ready_pods() -> None:
    svc = service(name="n", namespace="ns", labels={"a": "b"}, owner=OWNER, selector={"a": "b"},
                  ports=[("cql", 9042)], headless=True, publish_not_ready=True)
    assert svc["spec"] == {"selector": {"a": "b"}, "clusterIP": "None", "publishNotReadyAddresses": True,
                           "ports": [{"name": "cql", "port": 9042, "targetPort": 9042, "protocol": "TCP"}]}


def test_a_budget_of_one_and_volumes_kept_by_default() -> None:
    pdb = pod_disruption_budget(name="p", namespace="ns", labels={}, owner=OWNER, selector={"a": "b"})
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}
    assert retention_policy(False) == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert retention_policy(True) == {"whenDeleted": "Delete", "whenScaled": "Delete"}


def test_a_volume_template_names_its_class_only_when_given() -> None:
    assert "storageClassName" not in volume_claim_template(name="data", labels={}, size="1Gi",
                                                           storage_class_name=None)["spec"]
    assert volume_claim_template(name="data", labels={}, size="1Gi",
                                 storage_class_name="ssd")["spec"]["storageClassName"] == "ssd"


def test_digests_ignore_key_order_and_requests_keep_what_is_accounted() -> None:
    assert digest({"a": 1, "b": [2]}) == digest({"b": [2], "a": 1}) != digest({"a": 2, "b": [2]})
    assert accounted_requests({"cpu": "1", "hugepages-2Mi": "1Gi", "memory": "1Gi"}) == {"cpu": "1", "memory": "1Gi"}


def test_the_volume_owner_init_container_chowns_only_the_mount_with_cap_chown_alone() -> None:
    init = volume_owner_init(image="apache/kafka:4.1.1", volume="data", mount_path="/var/lib/kafka/data",
                             uid=1000)
    assert init["command"] == ["chown", "1000:1000", "/var/lib/kafka/data"]
    assert init["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/kafka/data"}]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert init["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_volume_owner_init_container_adds_nothing_to_the_pods_request() -> None:
    # A pod asking for nothing (as the meta-controller admitted it) must stay so: the larger of the init
    # containers' and the containers' requests is the pod's.
    init = volume_owner_init(image="apache/kafka:4.1.1", volume="data", mount_path="/var/lib/kafka/data", uid=1000)
    assert "resources" not in init
