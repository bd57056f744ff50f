"""The pure builders: StatefulSets per rack pinned to zones, rendered config, seeds, the claim."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from operators.cassandra.api import CassandraDatacenterSpec
from operators.cassandra.resources import (
    CONFIG_HASH_ANNOTATION,
    VERSION_ANNOTATION,
    Datacenter,
    build,
    claim_spec,
    config_hash,
    config_map,
    seeds,
)
from operators.scheduling.claims import Grant

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def dc(**spec) -> Datacenter:
    return Datacenter("dc1", "ns", UID, CassandraDatacenterSpec.model_validate({"clusterName": "demo", **spec}))


GRANTS = {"r1": Grant(2, ("a1", "a2")), "r2": Grant(2, ("b1",)), "r3": Grant(2, ("c1",))}


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_default_racks_cover_the_three_zones_and_split_size_evenly():
    d = dc(size=7)
    assert [(r.name, r.zone) for r in d.racks] == [("r1", "zone-a"), ("r2", "zone-b"), ("r3", "zone-c")]
    assert d.spec.rack_sizes() == {"r1": 3, "r2": 2, "r3": 2}


def test_one_stateful_set_per_rack_pinned_to_its_granted_nodes():
    objects = build(dc(size=6), {"r1": 1, "r2": 2, "r3": 0}, GRANTS, {})
    sets = by_kind(objects, "StatefulSet")
    assert [(n, s["spec"]["replicas"]) for n, s in sets.items()] == [("dc1-r1", 1), ("dc1-r2", 2), ("dc1-r3", 0)]
    r1 = sets["dc1-r1"]["spec"]
    assert r1["updateStrategy"] == {"type": "OnDelete"}
    assert r1["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    terms = r1["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["a1", "a2"]
    container = r1["template"]["spec"]["containers"][0]
    assert container["image"] == "cassandra:4.1.9"
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["nodetool", "drain"]
    assert r1["template"]["metadata"]["annotations"][VERSION_ANNOTATION] == "4.1.9"


def test_replicas_never_exceed_the_grant():
    sets = by_kind(build(dc(size=6), {"r1": 3}, {"r1": Grant(1, ("a1",))}, {}), "StatefulSet")
    assert sets["dc1-r1"]["spec"]["replicas"] == 1 and sets["dc1-r2"]["spec"]["replicas"] == 0


def test_delete_claim_deletes_volumes_on_scale_down_and_delete():
    sets = by_kind(build(dc(storage={"deleteClaim": True}), {}, GRANTS, {}), "StatefulSet")
    assert sets["dc1-r1"]["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Delete", "whenScaled": "Delete"}


def test_cassandra_yaml_has_the_operator_keys_and_the_passthrough():
    cm = config_map(dc(config={"concurrent_reads": 32, "client_encryption_options": {"enabled": False}}), "r2", {})
    conf = yaml.safe_load(cm["data"]["cassandra.yaml"])
    assert conf["cluster_name"] == "demo" and conf["endpoint_snitch"] == "GossipingPropertyFileSnitch"
    assert conf["num_tokens"] == 16 and conf["allocate_tokens_for_local_replication_factor"] == 3
    assert conf["seed_provider"][0]["parameters"][0]["seeds"] == "dc1-seeds.ns.svc.cluster.local"
    assert conf["listen_address"] == "@POD_IP@"
    assert conf["concurrent_reads"] == 32 and conf["client_encryption_options"] == {"enabled": False}
    assert "dc=dc1\nrack=r2\n" in cm["data"]["cassandra-rackdc.properties"]


def test_jvm_heap_and_options():
    cm = config_map(dc(jvm={"heapSize": "2Gi", "options": ["-XX:+UseG1GC"]}), "r1", {})
    assert "export MAX_HEAP_SIZE=2048M HEAP_NEWSIZE=512M" in cm["data"]["start.sh"]
    assert "-XX:+UseG1GC" in cm["data"]["jvm.options"]


def test_a_replace_address_reaches_its_rack_without_rolling_it():
    d = dc()
    plain, replacing = config_map(d, "r2", {}), config_map(d, "r2", {"dc1-r2-1": "10.0.0.7"})
    assert replacing["data"]["dc1-r2-1.replace-address"] == "10.0.0.7"
    assert "dc1-r2-1.replace-address" not in config_map(d, "r1", {"dc1-r2-1": "10.0.0.7"})["data"]
    assert config_hash(plain) == config_hash(replacing)
    assert "replace_address_first_boot" in plain["data"]["start.sh"]


def test_a_config_change_changes_the_pods_config_hash():
    before = by_kind(build(dc(), {}, GRANTS, {}), "StatefulSet")["dc1-r1"]
    after = by_kind(build(dc(config={"concurrent_reads": 64}), {}, GRANTS, {}), "StatefulSet")["dc1-r1"]
    key = ["spec", "template", "metadata", "annotations", CONFIG_HASH_ANNOTATION]

    def get(obj):
        for k in key:
            obj = obj[k]
        return obj
    assert get(before) != get(after)


def test_the_seed_service_lists_seeds_before_they_are_ready():
    services = by_kind(build(dc(), {}, GRANTS, {}), "Service")
    seeds_ = services["dc1-seeds"]["spec"]
    assert seeds_["clusterIP"] == "None" and seeds_["publishNotReadyAddresses"] is True, (
        "the first node seeds itself before it is Ready; an empty seed list stops Cassandra at start")
    assert seeds_["selector"] == {"cassandra.smack.dev/datacenter": "dc1", "cassandra.smack.dev/seed": "true"}
    assert "publishNotReadyAddresses" not in services["dc1-client"]["spec"]


def test_seeds_are_ready_pods_round_robin_over_the_racks():
    d = dc(size=9)
    assert seeds(d, ["dc1-r1-1", "dc1-r1-0", "dc1-r2-2", "dc1-r3-0", "dc1-r1-2"]) == [
        "dc1-r1-0", "dc1-r2-2", "dc1-r3-0"]
    assert seeds(d, ["dc1-r1-0", "dc1-r1-1", "dc1-r1-2", "dc1-r2-0"]) == ["dc1-r1-0", "dc1-r2-0", "dc1-r1-1"]
    assert seeds(d, []) == ["dc1-r1-0"], "the first node seeds itself"


def test_claim_has_one_pod_set_per_rack_in_its_zone():
    spec = claim_spec(dc(size=5, resources={"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}}).spec)
    assert [(p.name, p.count, [(c.field, c.operator, c.value) for c in p.constraints]) for p in spec.pod_sets] == [
        ("r1", 2, [("@zone", "IS", "zone-a")]), ("r2", 2, [("@zone", "IS", "zone-b")]),
        ("r3", 1, [("@zone", "IS", "zone-c")])]
    assert spec.pod_sets[0].requests.wire() == {"cpu": "2", "memory": "8Gi", "storage": "10Gi"}


@pytest.mark.parametrize(("spec", "message"), [
    ({"config": {"num_tokens": 8}}, "num_tokens cannot be set: it is spec.numTokens"),
    ({"size": 2}, "size 2 is smaller than the number of racks"),
    ({"racks": [{"name": "r1", "zone": "a"}, {"name": "r1", "zone": "b"}]}, "rack names must be unique"),
    ({"serverVersion": "3.11.17"}, "Input should be"),
])
def test_invalid_specs_are_refused_by_the_model(spec, message):
    with pytest.raises(ValidationError, match=message):
        CassandraDatacenterSpec.model_validate({"clusterName": "demo", **spec})
