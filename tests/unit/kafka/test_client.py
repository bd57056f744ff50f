"""kafka-python as the operator opens it: pod addresses for advertised names, the cluster default
BROKER resource, the refusals of incrementalAlterConfigs one key at a time, and a bootstrap that
skips a hung broker."""

from __future__ import annotations

import socket
import threading

import pytest
from kafka import errors
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.net.inet import KafkaNetSocket
from kafka.protocol.admin import IncrementalAlterConfigsRequest

from operators.kafka import client
from operators.kafka.admin import KafkaPythonAdmin, brokers_from_kafka_python
from operators.kafka.client import _TABLES, SCHEME, AdminClient, PodAddresses
from operators.kafka.gates import BrokerState


def test_advertised_names_resolve_to_the_pod_ips_of_the_table_and_others_to_the_system():
    url = f"{SCHEME}://test"
    _TABLES[url] = {"prod-broker-0.prod-nodes.ns.svc": "10.201.1.7"}
    try:
        factory = KafkaNetSocket(url)  # kafka-python's choice by the proxy_url scheme
        assert isinstance(factory, PodAddresses)
        ((family, _, _, _, sockaddr),) = factory.dns_lookup("prod-broker-0.prod-nodes.ns.svc", 9091)
        assert (family, sockaddr) == (socket.AF_INET, ("10.201.1.7", 9091))
        assert {a[4] for a in factory.dns_lookup("127.0.0.1", 9091)} == {("127.0.0.1", 9091)}
    finally:
        _TABLES.pop(url)
    assert not isinstance(KafkaNetSocket(None), PodAddresses)


def test_the_cluster_default_resource_goes_to_any_broker_and_encodes_an_empty_name():
    default = ConfigResource(ConfigResourceType.BROKER, "", {"min.insync.replicas": "2"})
    one = ConfigResource(ConfigResourceType.BROKER, "1", {"num.io.threads": "8"})
    brokers, others = AdminClient._group_config_resources([default, one])
    assert dict(brokers) == {1: [one]} and others == [default]
    with pytest.raises(ValueError, match="Broker resource names must be an integer"):
        AdminClient.__mro__[1]._group_config_resources([default])  # kafka-python alone refuses it
    wire = AdminClient._alter_configs_request([default], incremental=True).encode(version=1)
    (resource,) = IncrementalAlterConfigsRequest.decode(wire, version=1).resources
    assert (resource.resource_type, resource.resource_name) == (ConfigResourceType.BROKER, "")
    assert [(c.name, c.config_operation, c.value) for c in resource.configs] == [("min.insync.replicas", 0, "2")]


class Refusing:
    """A KafkaAdminClient stand-in that answers incrementalAlterConfigs as Kafka 4.1 with ELR did
    (shared/anchors/real-services.md 1.4): all or nothing per resource."""

    REFUSED = {"min.insync.replicas": "[Error 40] InvalidConfigurationError: Broker-level min.insync.replicas "
                                      "cannot be altered while ELR is enabled."}

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, bool]] = []

    def alter_configs(self, resources, incremental, raise_on_unknown=True):
        (r,) = resources
        assert incremental
        self.calls.append((r.name, dict(r.configs), raise_on_unknown))
        if raise_on_unknown and "auto.create.topics.enable" in r.configs:
            raise ValueError("Unrecognized configs: {'auto.create.topics.enable'}")
        if r.name != "" and (refused := [k for k in r.configs if k in self.REFUSED]):
            return {"broker": {r.name: self.REFUSED[refused[0]]}}
        return {"broker": {r.name: "OK"}}


def test_a_refused_key_is_found_alone_and_does_not_hold_back_the_others():
    client = Refusing()
    admin = KafkaPythonAdmin(client)
    refused = admin.alter_broker_configs(1, {"log.retention.ms": "3600000", "min.insync.replicas": "2"})
    assert refused == {"min.insync.replicas": Refusing.REFUSED["min.insync.replicas"]}
    assert [c[1] for c in client.calls] == [
        {"log.retention.ms": (0, "3600000"), "min.insync.replicas": (0, "2")},  # all or nothing: refused
        {"log.retention.ms": (0, "3600000")}, {"min.insync.replicas": (0, "2")}]  # then one by one
    assert admin.alter_broker_configs(None, {"min.insync.replicas": "2"}) == {}  # the cluster default takes it
    assert client.calls[-1] == ("", {"min.insync.replicas": (0, "2")}, False)
    assert admin.alter_broker_configs(0, {"auto.create.topics.enable": "true"}) == {
        "auto.create.topics.enable": "Unrecognized configs: {'auto.create.topics.enable'}"}  # kafka-python's own


def test_registered_brokers_from_describe_cluster():
    described = {"cluster_id": "x", "controller_id": 1, "brokers": [
        {"broker_id": 2, "host": "b2", "port": 9091, "rack": "zone-c", "is_fenced": True},
        {"broker_id": 0, "host": "b0", "port": 9091, "rack": "zone-a", "is_fenced": False}]}
    assert brokers_from_kafka_python(described) == (BrokerState(0), BrokerState(2, fenced=True))


def test_each_unfenced_broker_is_asked_whether_it_still_answers():
    class Cluster:
        asked: list[str] = []

        def describe_cluster(self):
            return {"brokers": [{"broker_id": b, "is_fenced": b == 3} for b in range(4)]}

        def describe_configs(self, resources):
            (r,) = resources
            self.asked.append(r.name)
            if r.name == "2":
                raise ConnectionResetError(104, "Connection reset by peer")  # killed a moment ago
            return {"broker": {r.name: {}}}

    client = Cluster()
    assert KafkaPythonAdmin(client).describe_brokers() == (
        BrokerState(0), BrokerState(1), BrokerState(2, answers=False), BrokerState(3, fenced=True))
    assert client.asked == ["0", "1", "2"]  # a fenced broker is not asked


def test_the_keys_set_on_the_cluster_default_are_those_kafka_reports_as_dynamic_defaults():
    class Described:
        def describe_configs(self, resources, config_filter):
            (r,) = resources
            assert (r.name, config_filter) == ("", "all")  # "modified" leaves them out
            return {"broker": {"": {  # as Kafka 4.1.1 answered for BROKER ""
                "log.retention.ms": {"value": "7200000", "config_source": "DYNAMIC_DEFAULT_BROKER_CONFIG"},
                "min.insync.replicas": {"value": "2", "config_source": "DYNAMIC_DEFAULT_BROKER_CONFIG"}}}}

    assert KafkaPythonAdmin(Described()).cluster_default_keys() == ["log.retention.ms", "min.insync.replicas"]


def test_unregister_broker_is_kafkas_message_64_and_not_registered_is_no_error():
    from kafka import errors

    from operators.kafka.client import UnregisterBrokerRequest, UnregisterBrokerResponse

    request = UnregisterBrokerRequest(broker_id=3)
    assert (UnregisterBrokerRequest.API_KEY, UnregisterBrokerRequest.max_version) == (64, 0)
    assert bytes(request.encode(version=0)) == b"\x00\x00\x00\x03\x00"  # int32 id, no tagged fields
    # throttle 0, BROKER_ID_NOT_REGISTERED (102), null message, no tagged fields
    response = UnregisterBrokerResponse.decode(b"\x00\x00\x00\x00\x00\x66\x00\x00", version=0)
    assert errors.for_code(response.error_code) is errors.BrokerIdNotRegisteredError
    assert response.error_message is None


def hung_broker() -> tuple[socket.socket, list[socket.socket]]:
    """A loopback listener that accepts connections and never answers: a broker whose JVM is stopped."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


def test_each_bootstrap_broker_is_tried_in_turn_with_its_own_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "BOOTSTRAP_ATTEMPT_MS", 300)
    brokers = [hung_broker() for _ in range(2)]
    servers = [f"127.0.0.1:{server.getsockname()[1]}" for server, _ in brokers]
    try:
        with pytest.raises(errors.KafkaError), client.admin_client(servers, {}, request_timeout_ms=300):
            pass
        # Both were asked: the first hung broker did not spend the whole bootstrap.
        assert all(accepted for _, accepted in brokers), [len(a) for _, a in brokers]
    finally:
        for server, accepted in brokers:
            server.close()
            for conn in accepted:
                conn.close()
