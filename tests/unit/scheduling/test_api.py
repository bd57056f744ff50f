"""Tenant, NodePool and ServiceClaim models: wire shape, validation, CRD schemas, tenant resolution."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from operators.meta import allocator
from operators.scheduling.api import (
    NODE_POOL,
    SERVICE_CLAIM,
    TENANT,
    LabelSelector,
    LabelSelectorRequirement,
    ServiceClaimSpec,
    TenantSpec,
    Toleration,
    resolve_tenant,
)
from operators.sdk.crd import crd_manifest
from tests.unit.test_crd import test_schema_is_structural as check_structural
from tests.unit.test_crd import test_status_subresource_and_printer_columns as check_subresources

RESOURCES = (TENANT, NODE_POOL, SERVICE_CLAIM)
G = 1 << 30

KAFKA_CLAIM = {
    "tenant": "streaming",
    "priority": 100,
    "podSets": [{
        "name": "broker", "count": 3, "minCount": 3, "nodePool": "ssd",
        "requests": {"cpu": "4", "memory": "16Gi", "storage": "100Gi"},
        "constraints": [{"field": "@hostname", "operator": "UNIQUE"},
                        {"field": "@zone", "operator": "GROUP_BY", "value": "3"}],
    }],
}


# ---------------------------------------------------------------------------------------------
# CRDs

@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_crds_are_structural_with_status_and_printer_columns(resource):
    check_structural(resource)
    check_subresources(resource)


def test_scopes_and_names():
    assert [(r.kind, r.scope, r.group) for r in RESOURCES] == [
        ("Tenant", "Cluster", "scheduling.smack.dev"), ("NodePool", "Cluster", "scheduling.smack.dev"),
        ("ServiceClaim", "Namespaced", "scheduling.smack.dev")]
    assert crd_manifest(SERVICE_CLAIM)["metadata"]["name"] == "serviceclaims.scheduling.smack.dev"


def schema(resource, *path: str) -> dict[str, Any]:
    node = crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for step in path:
        node = node["items"] if step == "[]" else node["properties"][step]
    return node


def rules(node: dict[str, Any]) -> list[str]:
    return [v["rule"] for v in node.get("x-kubernetes-validations", [])]


def test_the_api_server_refuses_what_the_models_refuse():
    pod_set = schema(SERVICE_CLAIM, "podSets", "[]")
    assert "!has(self.minCount) || self.minCount <= self.count" in rules(pod_set)
    constraint = schema(SERVICE_CLAIM, "podSets", "[]", "constraints", "[]")
    constraint_rules = " ".join(rules(constraint))
    for needed in ("'GROUP_BY', 'MAX_PER', 'IS', 'LIKE', 'UNLIKE']) || has(self.value)",
                   "self.operator != 'UNIQUE' || !has(self.value)",
                   "self.value.matches('^[1-9][0-9]{0,3}$')",
                   "''.matches(self.value) == ''.matches(self.value)"):
        assert needed in constraint_rules
    assert constraint["properties"]["operator"]["enum"] == list(allocator.OPERATORS)
    assert "size() <= 1" in rules(schema(SERVICE_CLAIM, "podSets", "[]", "constraints"))[0]
    requests = schema(SERVICE_CLAIM, "podSets", "[]", "requests")
    assert sorted(requests["properties"]) == ["cpu", "ephemeral-storage", "memory", "storage"]  # no pods
    assert "quantity(self).isLessThan(quantity('0'))" in rules(requests["properties"]["cpu"])[1]
    tenant_rules = rules(schema(TENANT))
    assert len(tenant_rules) == len(allocator.RESOURCE_NAMES)
    assert "quantity(self.guarantee.ephemeral__dash__storage).compareTo(" \
           "quantity(self.limit.ephemeral__dash__storage)) <= 0" in " ".join(tenant_rules)
    assert schema(TENANT, "weight")["minimum"] == 1
    assert schema(SERVICE_CLAIM, "podSets")["x-kubernetes-list-map-keys"] == ["name"]


def test_every_cel_rule_has_a_message():
    def walk(node):
        yield from node.get("x-kubernetes-validations", [])
        for sub in node.get("properties", {}).values():
            yield from walk(sub)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from walk(node[key])
    for resource in RESOURCES:
        for rule in walk(crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]):
            assert rule.get("message") or rule.get("messageExpression"), rule


# ---------------------------------------------------------------------------------------------
# Wire shape and pydantic validation

def test_a_service_claim_round_trips_in_camel_case():
    spec = ServiceClaimSpec.model_validate(KAFKA_CLAIM)
    wire = spec.wire()
    assert wire["podSets"][0]["minCount"] == 3 and wire["podSets"][0]["nodePool"] == "ssd"
    assert ServiceClaimSpec.model_validate(wire) == spec
    assert spec.preemptible is False


@pytest.mark.parametrize(("change", "match"), [
    ({"count": 2, "minCount": 3}, "minCount"),
    ({"requests": {"pods": "1"}}, "pods\n  Extra inputs are not permitted"),
    ({"requests": {"gpu": "1"}}, "gpu\n  Extra inputs are not permitted"),
    ({"requests": {"cpu": "-1"}}, "negative"),
    ({"requests": {"memory": "lots"}}, "quantity"),
    ({"constraints": [{"field": "@zone", "operator": "GROUP_BY"}]}, "needs a value"),
    ({"constraints": [{"field": "@zone", "operator": "GROUP_BY", "value": "three"}]}, "positive integer"),
    ({"constraints": [{"field": "@zone", "operator": "MAX_PER", "value": "10000"}]}, "positive integer"),
    ({"constraints": [{"field": "disk", "operator": "LIKE", "value": "ssd("}]}, "regular expression"),
    ({"constraints": [{"field": "@hostname", "operator": "UNIQUE", "value": "x"}]}, "takes no value"),
    ({"constraints": [{"field": "@rack", "operator": "UNIQUE"}]}, "pattern"),
    ({"constraints": [{"field": "@zone", "operator": "GROUP_BY", "value": "3"},
                      {"field": "rack", "operator": "CLUSTER"}]}, "at most one GROUP_BY"),
])
def test_bad_pod_sets_are_refused_with_the_field_named(change, match):
    pod_set = {"name": "broker", "count": 3, **change}
    with pytest.raises(ValidationError, match=match):
        ServiceClaimSpec.model_validate({"podSets": [pod_set]})


def test_pod_set_names_are_unique():
    with pytest.raises(ValidationError, match="pod set names must be unique"):
        ServiceClaimSpec.model_validate({"podSets": [{"name": "a", "count": 1}, {"name": "a", "count": 2}]})


@pytest.mark.parametrize(("spec", "match"), [
    ({"guarantee": {"cpu": "8"}, "limit": {"cpu": "4"}}, "guarantee must not exceed limit for: cpu"),
    ({"guarantee": {"gpu": "1"}}, "gpu\n  Extra inputs are not permitted"),
    ({"weight": 0}, "greater than or equal to 1"),
    ({"weight": 1.5}, "integer"),
    ({"preemptionPolicy": "Always"}, "Never"),
    ({"namespaces": ["Not_A_Namespace"]}, "pattern"),
])
def test_bad_tenants_are_refused(spec, match):
    with pytest.raises(ValidationError, match=match):
        TenantSpec.model_validate(spec)


@pytest.mark.parametrize(("model", "data", "match"), [
    (Toleration, {"key": "dedicated", "operator": "Exists", "value": "ssd"}, "Exists takes no value"),
    (Toleration, {"operator": "Equal", "value": "x"}, "without a key"),
    (LabelSelectorRequirement, {"key": "disk", "operator": "In"}, "needs at least one value"),
    (LabelSelectorRequirement, {"key": "disk", "operator": "Exists", "values": ["x"]}, "takes no values"),
])
def test_bad_selectors_and_tolerations_are_refused(model, data, match):
    with pytest.raises(ValidationError, match=match):
        model.model_validate(data)


# ---------------------------------------------------------------------------------------------
# Tenant resolution and selectors

def test_claims_resolve_to_the_tenant_that_owns_their_namespace():
    tenants = {
        "streaming": TenantSpec.model_validate({"namespaces": ["kafka"]}),
        "analytics": TenantSpec.model_validate({"namespaceSelector": {"matchLabels": {"team": "analytics"}}}),
        "platform": TenantSpec.model_validate({"namespaceSelector": {"matchLabels": {"tier": "prod"}}}),
    }
    assert resolve_tenant("kafka", {"team": "analytics"}, tenants) == "streaming"  # a name wins
    assert resolve_tenant("spark", {"team": "analytics"}, tenants) == "analytics"
    both = {"team": "analytics", "tier": "prod"}
    assert resolve_tenant("spark", both, tenants, explicit="platform") == "platform"
    with pytest.raises(ValueError, match="several tenants \\(analytics, platform\\)"):
        resolve_tenant("spark", {"team": "analytics", "tier": "prod"}, tenants)
    with pytest.raises(ValueError, match="spec.tenant: tenant streaming does not own namespace spark"):
        resolve_tenant("spark", {}, tenants, explicit="streaming")
    with pytest.raises(ValueError, match="no tenant owns namespace default"):
        resolve_tenant("default", {}, tenants)


def test_label_selector_expressions():
    selector = LabelSelector.model_validate({"matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["a", "b"]},
        {"key": "spot", "operator": "NotIn", "values": ["true"]}]}).selector()
    assert selector.matches({"zone": "a"})
    assert not selector.matches({"zone": "c"})
    assert not selector.matches({"zone": "b", "spot": "true"})
