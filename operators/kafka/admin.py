"""The Kafka Admin API as the operator uses it: the real client, a simulated one, and the choice.

``KafkaAdmin`` is the Protocol the handlers need: the reads of the gates
(:class:`operators.kafka.gates.Metadata`) and the two Admin steps of an update plan
(incrementalAlterConfigs, UpdateFeatures), and UnregisterBroker after a scale-down. Two
implementations, chosen once at start-up by :class:`operators.kafka.settings.Settings` (Strimzi
injects its ``AdminClientProvider`` the same way):

* ``KafkaPythonAdmin`` over kafka-python's ``KafkaAdminClient`` (the only Python client on PyPI
  with DescribeMetadataQuorum); the ``*_from_kafka_python`` functions convert that library's
  result dicts, so recorded results are testable without a broker. It reaches the brokers on the
  operator's own PLAINTEXT listener (REPLICATION, 9091), never a client listener (which may be TLS),
  and resolves their advertised names to the pod IPs the API server reports
  (:func:`operators.kafka.resources.pod_addresses`), so it works in a pod and on a host that does
  not resolve cluster DNS (``make run``);
* ``SimulatedAdmin`` for a cluster where no broker runs (kwok nodes, the e2e suite): partitions
  from the ConfigMap ``<cluster>-simulated-partitions``, no quorum, Admin steps that do nothing
  and say so in their events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ..sdk.apply import Client
from .gates import BrokerState, Metadata, PartitionState, QuorumState, ReplicaState
from .resources import CLUSTER_LABEL, Cluster, admin_bootstrap, pod_addresses

ADMIN_ENV = "SMACK_KAFKA_ADMIN"
SIMULATED_NOTE = f"(simulated: {ADMIN_ENV}=none)"
REQUEST_TIMEOUT_MS = 30000  # kafka-python's request_timeout_ms for every Admin call


class KafkaAdmin(Metadata, Protocol):
    """What the operator needs from a Kafka Admin client. Implementations raise on any error.

    ``note`` is appended to the events of the Admin steps ("" for a real cluster).
    """

    note: str

    def alter_broker_configs(self, broker_id: int | None, set_: Mapping[str, str],
                             delete: Iterable[str] = ()) -> dict[str, str]:
        """incrementalAlterConfigs on ``BROKER/<broker_id>`` (None: the cluster default, resource ``""``,
        kafka-configs ``--entity-default``): SET ``set_``, DELETE ``delete``.

        Kafka applies a resource's request all or nothing, so a refused key is retried alone and the
        others still go through. Returns the keys Kafka refused, each with its error; raises when
        Kafka could not be asked (connection, timeout).
        """
        ...

    def update_features(self, features: Mapping[str, int]) -> None:
        """UpdateFeatures (KIP-584): raise each finalized feature to its level, e.g. ``metadata.version``."""
        ...

    def cluster_default_keys(self) -> list[str]:
        """The keys set on the cluster default BROKER resource ``""`` (DescribeConfigs), sorted."""
        ...

    def unregister_broker(self, broker_id: int) -> bool:
        """UnregisterBroker (KIP-631) of a broker shut down for good: True when it was unregistered now,
        False when it was not registered (any more)."""
        ...


# --------------------------------------------------------------------------- kafka-python


def partitions_from_kafka_python(topics: Sequence[Mapping[str, Any]],
                                 min_isr_by_topic: Mapping[str, int] | None = None) -> list[PartitionState]:
    """Convert ``KafkaAdminClient.describe_topics()`` (MetadataResponse topics as dicts) to states.

    Shape: ``[{"name", "error_code", "partitions": [{"partition_index", "leader_id",
    "replica_nodes", "isr_nodes", ...}]}]``. Raises ValueError for a topic or partition
    that carries an error code (its metadata cannot be trusted for a safety check).
    """
    min_isr_by_topic = min_isr_by_topic or {}
    out: list[PartitionState] = []
    for t in topics:
        if t.get("error_code", 0):
            raise ValueError(f"topic {t.get('name')}: metadata error code {t['error_code']}")
        for p in t["partitions"]:
            # LEADER_NOT_AVAILABLE (5) still describes the partition; anything else does not.
            if p.get("error_code", 0) not in (0, 5):
                raise ValueError(f"{t['name']}-{p['partition_index']}: metadata error code {p['error_code']}")
            leader = p["leader_id"]
            out.append(PartitionState(
                topic=t["name"], partition=p["partition_index"], leader=leader if leader >= 0 else None,
                replicas=tuple(p["replica_nodes"]), isr=tuple(p["isr_nodes"]),
                min_insync_replicas=min_isr_by_topic.get(t["name"])))
    return out


def min_isr_from_kafka_python(described: Mapping[str, Any]) -> dict[str, int]:
    """Topic name -> ``min.insync.replicas`` from ``KafkaAdminClient.describe_configs`` on TOPIC
    resources: ``{"topic": {name: {"min.insync.replicas": {"value": "2", ...}}}}``."""
    out: dict[str, int] = {}
    for name, configs in described.get("topic", {}).items():
        entry = configs.get("min.insync.replicas")
        if entry is not None and entry.get("value") is not None:
            out[name] = int(entry["value"])
    return out


def quorum_from_kafka_python(described: Mapping[str, Any]) -> QuorumState:
    """Convert ``KafkaAdminClient.describe_metadata_quorum()`` (DescribeQuorumResponse as a dict).

    Reads ``topics[0].partitions[0]`` (``__cluster_metadata``-0): ``leader_id``, ``leader_epoch``,
    ``high_watermark``, ``current_voters`` and ``observers`` with ``replica_id``,
    ``log_end_offset``, ``last_fetch_timestamp``, ``last_caught_up_timestamp`` (-1: unknown).
    Raises ValueError when the partition reports an error.
    """
    partition = described["topics"][0]["partitions"][0]
    error = partition.get("error") or (partition.get("error_code") and f"error code {partition['error_code']}")
    if error:
        raise ValueError(f"DescribeQuorum failed: {error}")

    def replica(r: Mapping[str, Any]) -> ReplicaState:
        def ts(v: int) -> int | None:
            return v if v >= 0 else None
        return ReplicaState(node_id=r["replica_id"], log_end_offset=r["log_end_offset"],
                            last_fetch_timestamp_ms=ts(r["last_fetch_timestamp"]),
                            last_caught_up_timestamp_ms=ts(r["last_caught_up_timestamp"]))

    return QuorumState(leader_id=partition["leader_id"], leader_epoch=partition["leader_epoch"],
                       high_watermark=partition["high_watermark"],
                       voters=tuple(replica(r) for r in partition["current_voters"]),
                       observers=tuple(replica(r) for r in partition.get("observers", [])))


def brokers_from_kafka_python(described: Mapping[str, Any]) -> tuple[BrokerState, ...]:
    """Convert ``KafkaAdminClient.describe_cluster()`` (DescribeClusterResponse as a dict, fenced brokers
    included): ``{"brokers": [{"broker_id", "host", "port", "rack", "is_fenced"}, ...], ...}``."""
    return tuple(sorted((BrokerState(b["broker_id"], bool(b.get("is_fenced", False)))
                         for b in described["brokers"]), key=lambda b: b.node_id))


class KafkaPythonAdmin:
    """``KafkaAdmin`` over kafka-python's ``KafkaAdminClient`` (``pip install kafka-python>=3.0``).

    ``client`` is a connected ``kafka.admin.KafkaAdminClient``. Untested against a broker
    here: the calls are thin and the conversions above carry the logic.
    """

    note = ""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    @contextlib.contextmanager
    def connect(cls, cluster: Cluster, kube: Client) -> Iterator[KafkaPythonAdmin]:
        """A client on the brokers' REPLICATION listener, closed on exit. ``kube`` lists the cluster's
        pods, whose IPs the advertised names resolve to. Raises on connect errors (no broker pod has
        an IP yet, or no broker answers: kafka-python's KafkaError)."""
        from .client import admin_client

        pods = kube.list_objects("v1", "Pod", cluster.namespace, f"{CLUSTER_LABEL}={cluster.name}")
        addresses = pod_addresses(cluster, pods)
        if not admin_bootstrap(cluster, addresses):
            raise ConnectionError(f"no broker pod of {cluster.name} has an IP yet")
        with admin_client(admin_bootstrap(cluster, addresses), addresses, REQUEST_TIMEOUT_MS) as client:
            yield cls(client)

    def describe_partitions(self) -> tuple[list[PartitionState], int | None]:
        from kafka.admin import ConfigResource, ConfigResourceType

        topics = self._client.describe_topics()
        key = {"min.insync.replicas": None}
        described = self._client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t["name"], configs=dict(key)) for t in topics],
            config_filter="all")
        return partitions_from_kafka_python(topics, min_isr_from_kafka_python(described)), None

    def describe_quorum(self) -> QuorumState:
        return quorum_from_kafka_python(self._client.describe_metadata_quorum())

    def describe_brokers(self) -> tuple[BrokerState, ...]:
        return tuple(b if b.fenced else dataclasses.replace(b, answers=self._answers(b.node_id))
                     for b in brokers_from_kafka_python(self._client.describe_cluster()))

    def _answers(self, node_id: int) -> bool:
        """Whether broker ``node_id`` answers describeConfigs of itself (kafka-python sends a BROKER
        resource to the broker it names)."""
        from kafka.admin import ConfigResource, ConfigResourceType

        try:
            self._client.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(node_id),
                                                          {"broker.rack": None})])
        except Exception:  # refused, reset or timed out: the broker does not serve
            return False
        return True

    def alter_broker_configs(self, broker_id: int | None, set_: Mapping[str, str],
                             delete: Iterable[str] = ()) -> dict[str, str]:
        from kafka.admin import AlterConfigOp

        ops: dict[str, Any] = {k: (AlterConfigOp.SET, str(v)) for k, v in set_.items()}
        ops |= {k: (AlterConfigOp.DELETE, None) for k in delete}
        refused = self._alter(broker_id, ops)
        if refused is None or len(ops) == 1:
            return {k: refused for k in ops} if refused else {}
        # All or nothing: find the refused keys one by one, so the others are applied.
        return {k: why for k, op in ops.items() if (why := self._alter(broker_id, {k: op}))}

    def _alter(self, broker_id: int | None, ops: Mapping[str, Any]) -> str | None:
        """One incrementalAlterConfigs request; None when Kafka accepted it, else Kafka's refusal."""
        from kafka.admin import ConfigResource, ConfigResourceType

        name = "" if broker_id is None else str(broker_id)
        try:
            # raise_on_unknown: kafka-python refuses, before sending, a key the broker does not
            # describe as dynamic (a read-only key); that is a refusal like Kafka's own.
            result = self._client.alter_configs([ConfigResource(ConfigResourceType.BROKER, name, dict(ops))],
                                                incremental=True, raise_on_unknown=broker_id is not None)
        except ValueError as exc:
            return str(exc)
        outcome = result.get("broker", {}).get(name)
        return None if outcome == "OK" else str(outcome)

    def update_features(self, features: Mapping[str, int]) -> None:
        self._client.update_features(dict(features))

    def cluster_default_keys(self) -> list[str]:
        from kafka.admin import ConfigResource, ConfigResourceType

        # config_filter "modified" leaves the cluster default's own keys out (kafka-python 3.0.12).
        described = self._client.describe_configs([ConfigResource(ConfigResourceType.BROKER, "")], config_filter="all")
        return sorted(k for k, v in described.get("broker", {}).get("", {}).items()
                      if v.get("config_source") == "DYNAMIC_DEFAULT_BROKER_CONFIG")

    def unregister_broker(self, broker_id: int) -> bool:
        return self._client.unregister_broker(broker_id)


# --------------------------------------------------------------------------- simulated


_ASSIGNMENT_LINE = re.compile(r"(?P<topic>[A-Za-z0-9._-]+)-(?P<partition>[0-9]+)\s*:\s*"
                              r"(?P<replicas>[0-9]+(\s*,\s*[0-9]+)*)")


def partitions_from_text(text: str) -> list[PartitionState]:
    """Parse a partition assignment written as lines ``<topic>-<partition>: <broker>,<broker>,...``.

    The simulated cluster's stand-in for describeTopics (no broker runs there): the e2e suite
    writes it into the ConfigMap ``<cluster>-simulated-partitions`` (:class:`SimulatedAdmin`). Every replica counts as
    in sync and the first one leads. Blank lines and ``#`` comments are skipped. Raises
    ValueError naming the line that does not parse.
    """
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _ASSIGNMENT_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"line {number}: {raw!r} is not '<topic>-<partition>: <broker>,<broker>,...'")
        replicas = tuple(int(b) for b in match["replicas"].split(","))
        out.append(PartitionState(match["topic"], int(match["partition"]), replicas[0], replicas, replicas))
    return out


class SimulatedAdmin:
    """``KafkaAdmin`` for a cluster where no broker runs (``SMACK_KAFKA_ADMIN=none``).

    The partition assignment is the ConfigMap ``<cluster>-simulated-partitions`` (key
    ``partitions``, see :func:`partitions_from_text`), which tests write; none when it is absent.
    There is no quorum and no broker registration to describe (None). Admin steps do nothing and succeed; their events
    carry :data:`SIMULATED_NOTE`.
    """

    note = SIMULATED_NOTE

    def __init__(self, cluster: Cluster, kube: Client) -> None:
        self._cluster = cluster
        self._kube = kube

    @classmethod
    @contextlib.contextmanager
    def connect(cls, cluster: Cluster, kube: Client) -> Iterator[SimulatedAdmin]:
        """The simulated admin of ``cluster``, reading its ConfigMap through ``kube``."""
        yield cls(cluster, kube)

    def describe_partitions(self) -> tuple[list[PartitionState], int | None]:
        cm = self._kube.get("v1", "ConfigMap", f"{self._cluster.name}-simulated-partitions", self._cluster.namespace)
        return partitions_from_text(((cm or {}).get("data") or {}).get("partitions", "")), None

    def describe_quorum(self) -> None:
        return None

    def describe_brokers(self) -> None:
        return None

    def alter_broker_configs(self, broker_id: int | None, set_: Mapping[str, str],
                             delete: Iterable[str] = ()) -> dict[str, str]:
        return {}

    def update_features(self, features: Mapping[str, int]) -> None:
        return None

    def cluster_default_keys(self) -> list[str]:
        return []

    def unregister_broker(self, broker_id: int) -> bool:
        return True
