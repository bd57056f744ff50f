"""The rendered cassandra.yaml stands alone for every supported release, and the JVM heap follows the container."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from pydantic import ValidationError

from operators.cassandra import config
from operators.cassandra.api import OWNED_CONFIG_KEYS, SUPPORTED_VERSIONS, CassandraDatacenterSpec, release_line
from operators.cassandra.resources import CONFIG_DIR, Datacenter, config_map, heap_sizes, operator_config

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def dc(**spec) -> Datacenter:
    return Datacenter("dc1", "ns", UID, CassandraDatacenterSpec.model_validate({"clusterName": "demo", **spec}))


class _UniqueKeys(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last; Cassandra would too,
    silently)."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode) -> dict:
    keys = [loader.construct_object(k) for k, _ in node.value]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise AssertionError(f"keys given twice: {duplicates}")
    return loader.construct_mapping(node)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parsed(d: Datacenter, rack: str = "r1") -> dict:
    return yaml.load(config_map(d, rack, {})["data"]["cassandra.yaml"], Loader=_UniqueKeys)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_every_supported_release_gets_the_directives_cassandra_requires(version):
    conf = parsed(dc(serverVersion=version))
    assert conf["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert conf["commitlog_sync"] == "periodic"
    if release_line(version) == "4.0":  # 4.0 names units in the key, 4.1 renamed them to durations
        assert conf["commitlog_sync_period_in_ms"] == 10000 and "commitlog_sync_period" not in conf
    else:
        assert conf["commitlog_sync_period"] == "10000ms" and "commitlog_sync_period_in_ms" not in conf
    assert conf["endpoint_snitch"] == "GossipingPropertyFileSnitch"
    seed_provider = conf["seed_provider"][0]
    assert seed_provider["class_name"] == "org.apache.cassandra.locator.SimpleSeedProvider"
    assert seed_provider["parameters"][0]["seeds"] == "dc1-seeds.ns.svc.cluster.local"
    assert conf["cluster_name"] == "demo" and conf["num_tokens"] == 16
    assert conf["listen_address"] == conf["broadcast_address"] == conf["broadcast_rpc_address"] == "@POD_IP@"
    assert conf["data_file_directories"] == ["/var/lib/cassandra/data"]
    assert {conf[k] for k in ("commitlog_directory", "hints_directory", "saved_caches_directory",
                              "cdc_raw_directory")} <= {f"/var/lib/cassandra/{d}" for d in (
                                  "commitlog", "hints", "saved_caches", "cdc_raw")}
    assert conf["storage_port"] == 7000 and conf["native_transport_port"] == 9042
    assert conf["disk_failure_policy"] == "stop", "the stock file's policy, not Config's 'ignore'"


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_the_rest_is_the_release_lines_own_defaults(version):
    line = release_line(version)
    assert version in config.generated_from(line), (
        f"defaults/{line}.yaml was not generated from {version}: run hack/cassandra-defaults.py")
    conf = parsed(dc(serverVersion=version))
    defaults = config.release_defaults(line)
    owned = set(operator_config(dc()))
    assert len(defaults) > 150, "the release's whole Config, not a hand-picked subset"
    assert {k: conf[k] for k in defaults if k not in owned} == {k: v for k, v in defaults.items() if k not in owned}


def test_each_line_has_the_keys_of_its_release_only():
    assert "storage_compatibility_mode" not in config.release_defaults("4.1")
    assert "commitlog_sync_period_in_ms" in config.release_defaults("4.0")
    assert "dynamic_data_masking_enabled" in config.release_defaults("5.0")
    assert "dynamic_data_masking_enabled" not in config.release_defaults("4.1")


def test_user_keys_override_the_defaults_once_and_stay_data():
    conf = parsed(dc(config={"concurrent_reads": 64, "ideal_consistency_level": "QUORUM\nlisten_address: 10.9.9.9",
                             "client_encryption_options": {"enabled": False}}))
    assert conf["concurrent_reads"] == 64
    assert conf["ideal_consistency_level"] == "QUORUM\nlisten_address: 10.9.9.9"
    assert conf["listen_address"] == "@POD_IP@"
    assert conf["client_encryption_options"] == {"enabled": False}


def test_batch_sync_from_the_user_drops_the_default_period():
    conf = parsed(dc(config={"commitlog_sync": "batch", "commitlog_sync_batch_window_in_ms": 2}))
    assert conf["commitlog_sync"] == "batch" and "commitlog_sync_period" not in conf
    kept = parsed(dc(config={"commitlog_sync": "periodic", "commitlog_sync_period": "5000ms"}))
    assert kept["commitlog_sync_period"] == "5000ms"


@pytest.mark.parametrize("key", sorted(OWNED_CONFIG_KEYS))
def test_operator_keys_cannot_be_set_in_spec_config(key):
    with pytest.raises(ValidationError, match=f"spec.config: {key} cannot be set"):
        CassandraDatacenterSpec.model_validate({"clusterName": "demo", "config": {key: "x"}})


def test_operator_keys_win_even_past_validation():
    operator = operator_config(dc())
    text = config.render("5.0.5", operator, {"cluster_name": "other", "concurrent_reads": 8}, "# header")
    conf = yaml.load(text, Loader=_UniqueKeys)
    assert conf["cluster_name"] == "demo" and conf["concurrent_reads"] == 8
    assert text.startswith("# header\n")


def test_every_operator_key_is_an_owned_key():
    assert set(operator_config(dc())) <= set(OWNED_CONFIG_KEYS)


@pytest.mark.parametrize(("resources", "jvm", "sizes"), [
    ({}, {}, (1024, 100)),  # the default request, 4Gi and 1 CPU
    ({"requests": {"cpu": "500m", "memory": "1Gi"}}, {}, (512, 100)),
    ({"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "16Gi"}}, {}, (4096, 400)),
    ({"requests": {"memory": "64Gi"}}, {}, (8192, 100)),  # at most 8 GiB
    ({"requests": {"memory": "1500Mi"}}, {}, (750, 100)),
    ({}, {"heapSize": "2Gi"}, (2048, 512)),
])
def test_heap_follows_heap_size_else_the_container_memory(resources, jvm, sizes):
    d = dc(resources=resources, jvm=jvm)
    assert heap_sizes(d.spec) == sizes
    start = config_map(d, "r1", {})["data"]["start.sh"]
    assert re.search(rf"^export MAX_HEAP_SIZE={sizes[0]}M HEAP_NEWSIZE={sizes[1]}M$", start, re.M)


def test_a_heap_at_or_over_the_memory_limit_is_refused():
    refused = r"jvm.heapSize must be less than resources.limits.memory: .* \(4Gi >= 4Gi\)"
    with pytest.raises(ValidationError, match=refused):
        dc(jvm={"heapSize": "4Gi"}, resources={"limits": {"memory": "4Gi"}})
    assert heap_sizes(dc(jvm={"heapSize": "3Gi"}, resources={"limits": {"memory": "4Gi"}}).spec) == (3072, 768)


@pytest.mark.parametrize("options", [[], ["-XX:+UseG1GC", "-Dx=y"]])
def test_start_script_writes_the_config_and_starts_cassandra(tmp_path, options):
    """start.sh run for real with bash: the pod's paths moved under tmp_path, a stand-in ``cassandra`` on PATH."""
    data = config_map(dc(jvm={"options": options}), "r1", {})["data"]
    conf, etc, bin_ = tmp_path / "config", tmp_path / "etc", tmp_path / "bin"
    for d in (conf, etc, bin_):
        d.mkdir()
    for name, text in data.items():
        (conf / name).write_text(text.replace(CONFIG_DIR, str(conf)).replace("/etc/cassandra", str(etc)))
    (bin_ / "cassandra").write_text('#!/bin/sh\necho "$* heap=$MAX_HEAP_SIZE/$HEAP_NEWSIZE opts=$JVM_EXTRA_OPTS"\n')
    (bin_ / "cassandra").chmod(0o755)
    run = subprocess.run(["bash", str(conf / "start.sh")], capture_output=True, text=True,
                         env={"PATH": f"{bin_}:/usr/bin:/bin", "POD_IP": "10.1.2.3", "HOSTNAME": "dc1-r1-0"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == f"-f heap=1024M/100M opts={' '.join(options)}".split()
    written = yaml.load((etc / "cassandra.yaml").read_text(), Loader=_UniqueKeys)
    assert written["listen_address"] == written["broadcast_rpc_address"] == "10.1.2.3"
    assert (etc / "cassandra-rackdc.properties").read_text() == data["cassandra-rackdc.properties"]
