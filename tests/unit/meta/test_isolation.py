"""Fault isolation and sticky admissions in the admission cycle (issue 16, parts 1 and 2): an ownership
conflict, a Tenant cycle or an unusable claim is reported on its own object and never revokes an
admission or fails the cycle for the others."""

from __future__ import annotations

from operators.meta import cycle
from operators.scheduling.api import TenantSpec

from .test_cycle import admitted_status, claim, conds, run, tenant


def labelled(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


def tenant_conds(result, name: str) -> dict[str, tuple[str, str]]:
    return conds(result.tenants[name])


def test_a_second_tenant_naming_an_owned_namespace_keeps_every_admission():
    owner = tenant("owner", namespaces=["team"])
    first = run([claim("kafka")], tenants=[owner])
    admitted = admitted_status(first, "team/kafka")
    assert admitted["tenant"] == "owner"

    intruder = tenant("intruder", namespaces=["team"])
    result = run([claim("kafka", status=admitted), claim("late", count=1)], tenants=[owner, intruder])
    kept = result.claims.get("team/kafka")
    assert kept is None or (kept.wire()["podSets"] == admitted["podSets"] and kept.tenant == "owner")
    assert conds(result.claims["team/late"])["Admitted"] == ("False", "TenantNotFound")
    for name, other in (("owner", "intruder"), ("intruder", "owner")):
        assert tenant_conds(result, name)["NamespaceConflict"] == ("True", "NamespaceOwnedTwice")
        message = next(c.message for c in result.tenants[name].conditions if c.type == "NamespaceConflict")
        assert f"namespace team is also owned by tenant {other} (by name)" in message
    assert {(e.key, e.reason, e.tenant) for e in result.events} >= {
        ("owner", "NamespaceOwnedTwice", True), ("intruder", "NamespaceOwnedTwice", True)}


def test_a_namespace_label_that_makes_two_selectors_match_keeps_the_admission():
    a = tenant("a", namespaceSelector={"matchLabels": {"team": "a"}})
    b = tenant("b", namespaceSelector={"matchLabels": {"zone": "x"}})
    first = cycle.run(nodes=_nodes(), pods=[], namespaces=[labelled("team", team="a")], tenants=[a, b], pools=[],
                      claims=[claim("kafka")], at="t")
    admitted = admitted_status(first, "team/kafka")
    assert admitted["tenant"] == "a"
    a["status"] = first.tenants["a"].wire()
    result = cycle.run(nodes=_nodes(), pods=[], namespaces=[labelled("team", team="a", zone="x")], tenants=[a, b],
                       pools=[], claims=[claim("kafka", status=admitted)], at="t")
    assert "team/kafka" not in result.claims  # nothing about the claim changed
    assert tenant_conds(result, "a")["NamespaceConflict"] == ("True", "NamespaceOwnedTwice")


def test_the_conflict_condition_clears_once_one_owner_remains():
    owner, intruder = tenant("owner", namespaces=["team"]), tenant("intruder", namespaces=["team"])
    conflicted = run([], tenants=[owner, intruder])
    owner["status"] = conflicted.tenants["owner"].wire()
    resolved = run([], tenants=[owner])
    assert tenant_conds(resolved, "owner")["NamespaceConflict"] == ("False", "Resolved")


def test_tenant_problems_name_cycles_and_missing_parents():
    specs = {"a": TenantSpec(parent="b"), "b": TenantSpec(parent="a"), "self": TenantSpec(parent="self"),
             "orphan": TenantSpec(parent="ghost"), "child": TenantSpec(parent="a"), "root": TenantSpec(),
             "leaf": TenantSpec(parent="root")}
    problems = cycle.tenant_problems(specs)
    assert set(problems) == {"a", "b", "self", "orphan", "child"}
    assert problems["a"] == "spec.parent: the parents form a cycle (a → b → a)"
    assert problems["self"] == "spec.parent: the parents form a cycle (self → self)"
    assert problems["orphan"] == "spec.parent: tenant ghost does not exist"
    assert problems["child"] == "spec.parent: its ancestors form a cycle (a → b → a)"


def test_a_tenant_cycle_is_reported_while_other_claims_are_admitted():
    good = tenant("good", namespaces=["team"])
    loop_a, loop_b = tenant("loop-a", namespaces=["loop"], parent="loop-b"), tenant("loop-b", parent="loop-a")
    result = run([claim("kafka"), claim("stuck", "loop", count=1)], tenants=[good, loop_a, loop_b],
                 namespaces=["team", "loop"])
    assert conds(result.claims["team/kafka"])["Admitted"] == ("True", "Admitted")
    assert conds(result.claims["loop/stuck"])["Admitted"] == ("False", "InvalidTenant")
    assert tenant_conds(result, "loop-a")["Invalid"] == ("True", "ParentCycle")
    assert tenant_conds(result, "loop-b")["Invalid"] == ("True", "ParentCycle")
    assert "Invalid" not in tenant_conds(result, "good")


def test_an_admitted_claim_of_a_tenant_that_became_a_cycle_keeps_its_admission():
    loop = tenant("loop", namespaces=["team"])
    first = run([claim("kafka")], tenants=[loop])
    admitted = admitted_status(first, "team/kafka")
    loop["spec"]["parent"] = "loop"  # forced in past the webhook and CEL
    result = run([claim("kafka", status=admitted)], tenants=[loop])
    assert "team/kafka" not in result.claims
    assert tenant_conds(result, "loop")["Invalid"] == ("True", "ParentCycle")


def test_an_unusable_claim_is_reported_on_its_own_status_next_to_a_good_one():
    bad = claim("bad")
    bad["spec"]["podSets"][0]["count"] = "many"
    result = run([bad, claim("kafka")])
    assert conds(result.claims["team/kafka"])["Admitted"] == ("True", "Admitted")
    assert conds(result.claims["team/bad"]) == {"Invalid": ("True", "InvalidSpec")}
    assert "spec.podSets.0.count" in result.claims["team/bad"].conditions[0].message
    assert ("team/bad", "InvalidSpec") in [(e.key, e.reason) for e in result.events]
    bad["status"] = result.claims["team/bad"].wire()
    again = run([bad, claim("kafka", status=admitted_status(result, "team/kafka"))])
    assert again.claims == {} and again.events == []  # reported once, not every cycle


def _nodes() -> list[dict]:
    from .test_cycle import NODES
    return NODES


def test_the_tenant_webhook_refuses_a_namespace_another_tenant_owns_naming_it():
    from operators.meta.webhook import tenant_refusals
    others = {"owner": TenantSpec(namespaces=["team"]), "labels": TenantSpec(namespace_selector={
        "matchLabels": {"team": "a"}})}
    namespaces = [labelled("team"), labelled("a-ns", team="a")]
    assert tenant_refusals("intruder", TenantSpec(namespaces=["team"]), None, others, namespaces) == [
        "spec.namespaces: namespace team is also owned by tenant owner (by name); a namespace has one owner"]
    assert tenant_refusals("sel", TenantSpec(namespace_selector={"matchLabels": {"team": "a"}}), None, others,
                           namespaces) == ["spec.namespaceSelector: namespace a-ns is also owned by tenant labels "
                                           "(by selector); a namespace has one owner"]
    # Names win over selectors: naming a namespace another tenant selects is no ambiguity.
    assert tenant_refusals("named", TenantSpec(namespaces=["a-ns", "not-yet"]), None, others, namespaces) == []
    # A namespace named before it exists is checked too.
    others["early"] = TenantSpec(namespaces=["not-yet"])
    assert tenant_refusals("late", TenantSpec(namespaces=["not-yet"]), None, others, namespaces)
    # An update that leaves ownership as it was is not checked again (the cycle reports a forced-in conflict).
    assert tenant_refusals("owner", TenantSpec(namespaces=["team"], weight=3), TenantSpec(namespaces=["team"]),
                           {"intruder": TenantSpec(namespaces=["team"])}, namespaces) == []


def test_the_tenant_webhook_refuses_a_cycle_of_parents_but_not_a_parent_yet_to_come():
    from operators.meta.webhook import tenant_refusals
    others = {"a": TenantSpec(parent="b"), "b": TenantSpec()}
    assert tenant_refusals("b", TenantSpec(parent="a"), TenantSpec(), others, []) == [
        "spec.parent: the parents form a cycle (b → a → b)"]
    assert tenant_refusals("c", TenantSpec(parent="later"), None, others, []) == []
    assert tenant_refusals("c", TenantSpec(parent="a"), None, others, []) == []


def test_the_tenant_crd_refuses_a_tenant_that_is_its_own_parent():
    from operators.scheduling.api import TENANT
    from operators.sdk.crd import crd_manifest
    rules = crd_manifest(TENANT)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    assert rules[0]["rule"] == "!has(self.spec.parent) || self.spec.parent != self.metadata.name"
    assert rules[0]["fieldPath"] == ".spec.parent"
