"""The kafka-python result conversions, on the library's own protocol objects and recorded results."""

from __future__ import annotations

import uuid

import pytest

from operators.kafka.admin import partitions_from_kafka_python, quorum_from_kafka_python
from operators.kafka.api import KafkaClusterSpec
from operators.kafka.gates import PartitionState, QuorumState, ReplicaState, broker_restart_blockers
from operators.kafka.resources import Cluster
from operators.kafka.settings import Settings

from .recorded import load

# ----------------------------------------------------------------------------- kafka-python conversion


def test_conversion_from_kafka_python_protocol_objects():
    protocol = pytest.importorskip("kafka.protocol.metadata")
    admin = pytest.importorskip("kafka.protocol.admin")
    topic = protocol.MetadataResponse.MetadataResponseTopic
    part = topic.MetadataResponsePartition
    metadata = protocol.MetadataResponse(version=12, throttle_time_ms=0, brokers=[], cluster_id="c", controller_id=1,
                                         topics=[topic(error_code=0, name="orders", topic_id=uuid.uuid4(),
                                                       is_internal=False, partitions=[
                                                           part(error_code=0, partition_index=3, leader_id=1,
                                                                leader_epoch=5, replica_nodes=[1, 2, 3],
                                                                isr_nodes=[1, 2], offline_replicas=[])])])
    [state] = partitions_from_kafka_python(metadata.to_dict()["topics"], {"orders": 2})
    assert state == PartitionState("orders", 3, 1, (1, 2, 3), (1, 2), 2)
    assert broker_restart_blockers(1, [state]) == [
        "orders-3: ISR [1, 2] would drop to [2], below min.insync.replicas=2"]

    q = admin.DescribeQuorumResponse
    pdata = q.TopicData.PartitionData
    rs = pdata.ReplicaState
    response = q(version=2, error_code=0, error_message=None, nodes=[], topics=[q.TopicData(
        topic_name="__cluster_metadata", partitions=[pdata(
            partition_index=0, error_code=0, error_message=None, leader_id=1000, leader_epoch=3, high_watermark=50,
            current_voters=[rs(replica_id=1000, replica_directory_id=uuid.uuid4(), log_end_offset=50,
                               last_fetch_timestamp=9_000, last_caught_up_timestamp=9_000),
                            rs(replica_id=1001, replica_directory_id=uuid.uuid4(), log_end_offset=40,
                               last_fetch_timestamp=-1, last_caught_up_timestamp=-1)],
            observers=[])])])
    state_q = quorum_from_kafka_python(response.to_dict())
    assert state_q == QuorumState(1000, 3, 50, (ReplicaState(1000, 50, 9_000, 9_000),
                                                ReplicaState(1001, 40, None, None)))


def test_conversion_rejects_errors():
    with pytest.raises(ValueError, match="metadata error code 3"):
        partitions_from_kafka_python([{"name": "x", "error_code": 3, "partitions": []}])
    doc = load("quorum-healthy.json")
    doc["topics"][0]["partitions"][0]["error"] = "[Error 6] NotLeaderOrFollowerError"
    with pytest.raises(ValueError, match="NotLeaderOrFollower"):
        quorum_from_kafka_python(doc)


# ----------------------------------------------------------------------------- the choice, and the simulated admin


class ConfigMaps:
    """What SimulatedAdmin reads from Kubernetes: ConfigMaps by (namespace, name)."""

    def __init__(self, **data: str):
        self.data = data
        self.asked: list[tuple[str, str, str, str | None]] = []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict | None:
        self.asked.append((api_version, kind, name, namespace))
        return {"data": {"partitions": self.data[name]}} if name in self.data else None


def test_settings_choose_the_admin_once_from_the_environment():
    assert Settings.from_env({}) == Settings("kafka-python")
    assert Settings.from_env({"SMACK_KAFKA_ADMIN": "kafka-python"}).note == ""
    simulated = Settings.from_env({"SMACK_KAFKA_ADMIN": "none"})
    assert simulated.admin == "none" and simulated.note == "(simulated: SMACK_KAFKA_ADMIN=none)"
    with pytest.raises(ValueError, match=r"^SMACK_KAFKA_ADMIN='kafka' is not an Admin implementation; "
                                         r"allowed: kafka-python, none$"):
        Settings.from_env({"SMACK_KAFKA_ADMIN": "kafka"})


def test_the_simulated_admin_reads_its_partitions_from_a_config_map_and_has_no_quorum():
    cluster = Cluster("prod", "ns", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", KafkaClusterSpec.model_validate({}))
    kube = ConfigMaps(**{"prod-simulated-partitions": "orders-0: 3,0\n"})
    with Settings("none").connect(cluster, kube) as admin:
        assert admin.describe_partitions() == ([PartitionState("orders", 0, 3, (3, 0), (3, 0))], None)
        assert admin.describe_quorum() is None
        admin.update_features({"metadata.version": 27})
        admin.alter_broker_configs(0, {"log.retention.hours": "12"})
    assert kube.asked == [("v1", "ConfigMap", "prod-simulated-partitions", "ns")]
    with Settings("none").connect(cluster, ConfigMaps()) as admin:
        assert admin.describe_partitions() == ([], None)  # no ConfigMap: no partitions
