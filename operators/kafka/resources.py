"""Pure builders: a KafkaCluster spec in, the Kubernetes objects that run it out.

Nothing here talks to the API server. ``build(cluster)`` returns every child
object; the handler applies them. Layout for a cluster ``prod`` in namespace ``ns``:

* StatefulSets ``prod-controller`` and ``prod-broker`` (``updateStrategy: OnDelete``,
  so the operator decides when each pod restarts);
* headless Service ``prod-nodes``: stable DNS ``prod-broker-0.prod-nodes.ns.svc``;
* Service ``prod-bootstrap``: clients' first contact, one port per listener;
* ConfigMaps ``prod-controller-config`` / ``prod-broker-config``: one rendered
  ``<pod>.properties`` per pod and the ``start.sh`` entrypoint;
* PodDisruptionBudgets (maxUnavailable 1) for each role.

Node ids: brokers 0..n-1, controllers 1000+ordinal (KRaft ids are unique across roles).
"""

from __future__ import annotations

import base64
import dataclasses
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..scheduling.api import PodSet, ServiceClaimSpec
from ..scheduling.claims import CLAIM_LABEL, POD_SET_LABEL, Grant, claim_manifest, pod_scheduling
from ..sdk import builders, properties
from ..sdk.builders import (
    ServiceObject,
    accounted_requests,
    digest,
    retention_policy,
    service,
    volume_claim_template,
    volume_owner_init,
)
from ..sdk.objects import object_meta, standard_labels
from ..sdk.quantities import to_base_units
from ..sdk.templates import render
from .api import (
    CONTROLLER_PORT,
    GROUP,
    KAFKA_CLUSTER,
    REPLICATION_PORT,
    ROLES,
    BrokerSet,
    ControllerSet,
    KafkaClusterSpec,
    Role,
)
from .config import cluster_default_config, dynamic_config, role_config

CLUSTER_LABEL = f"{GROUP}/cluster"
ROLE_LABEL = f"{GROUP}/role"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
VERSION_ANNOTATION = f"{GROUP}/version"
ZONE_LABEL = "topology.kubernetes.io/zone"
CONTROLLER_NODE_ID_BASE = 1000
DATA_VOLUME = "data"  # the volumeClaimTemplate: each pod's claim is data-<pod>

DATA_DIR = "/var/lib/kafka/data"
LOG_DIR = f"{DATA_DIR}/kafka-log"
CONFIG_DIR = "/opt/kafka/smack/config"
CERTS_DIR = "/opt/kafka/smack/certs"
KAFKA_UID = 1000  # the apache/kafka image runs as appuser (uid 1000)
# The first words of the message start.sh exits with when it refuses to start Kafka (its
# termination message, which the operator reports: operators.kafka.plans.start_refusals).
START_REFUSED = "not starting Kafka"


@dataclass(frozen=True)
class Cluster(ServiceObject[KafkaClusterSpec]):
    """A KafkaCluster as the builders see it: identity plus the validated spec.

    ``refused_config`` is what Kafka refused to take dynamically (key -> value, from
    ``status.refusedConfig``): those values are applied by a restart instead (:attr:`dynamic_config`).
    """

    RESOURCE = KAFKA_CLUSTER
    SPEC = KafkaClusterSpec

    refused_config: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Cluster:
        """Parse a KafkaCluster object (and what Kafka refused, from its status). Raises
        pydantic.ValidationError for an invalid spec."""
        refused = dict((body.get("status") or {}).get("refusedConfig") or {})
        return dataclasses.replace(super().from_body(body), refused_config=refused)

    @property
    def dynamic_config(self) -> dict[str, str]:
        """The broker keys the operator sets through the Admin API without a restart
        (:func:`operators.kafka.config.dynamic_config`), less those Kafka refused at their current value."""
        return {k: v for k, v in dynamic_config(self.spec).items() if self.refused_config.get(k) != v}

    def keeping_brokers(self, count: int) -> Cluster:
        """This cluster with ``count`` brokers: what runs while a scale-down waits for its brokers to empty."""
        brokers = self.spec.brokers.model_copy(update={"replicas": count})
        return dataclasses.replace(self, spec=self.spec.model_copy(update={"brokers": brokers}))

    @property
    def cluster_id(self) -> str:
        """The Kafka cluster id, derived from the object's UID.

        Derived, not generated, so every reconcile and every operator restart
        formats storage with the same id.
        """
        return kafka_uuid(self.uid, "cluster-id")

    def sts_name(self, role: Role) -> str:
        return f"{self.name}-{role}"

    @property
    def headless_service(self) -> str:
        return f"{self.name}-nodes"

    @property
    def bootstrap_service(self) -> str:
        return f"{self.name}-bootstrap"

    def node_set(self, role: Role) -> ControllerSet | BrokerSet:
        return self.spec.controllers if role == "controller" else self.spec.brokers

    def replicas(self, role: Role) -> int:
        return self.node_set(role).replicas

    def pod_host(self, role: Role, ordinal: int) -> str:
        return f"{self.pod_name(role, ordinal)}.{self.headless_service}.{self.namespace}.svc"

    def pod_name(self, role: Role, ordinal: int) -> str:
        return f"{self.sts_name(role)}-{ordinal}"

    def volume_claim_name(self, pod: str) -> str:
        """The PersistentVolumeClaim of pod ``pod``, as the StatefulSet names it (``<template>-<pod>``)."""
        return f"{DATA_VOLUME}-{pod}"

    def node_id(self, role: Role, ordinal: int) -> int:
        """The KRaft node id of a pod: brokers 0..n-1, controllers 1000+ordinal."""
        return ordinal + (CONTROLLER_NODE_ID_BASE if role == "controller" else 0)

    def node_of(self, node_id: int) -> tuple[Role, int]:
        """The role and ordinal of a KRaft node id: the inverse of :meth:`node_id`."""
        if node_id >= CONTROLLER_NODE_ID_BASE:
            return "controller", node_id - CONTROLLER_NODE_ID_BASE
        return "broker", node_id

    def labels(self, role: Role | None = None) -> dict[str, str]:
        labels = standard_labels(name="kafka", instance=self.name, component=role or "cluster")
        labels[CLUSTER_LABEL] = self.name
        if role:
            labels[ROLE_LABEL] = role
        return labels

    def selector(self, role: Role | None = None) -> dict[str, str]:
        sel = {CLUSTER_LABEL: self.name}
        if role:
            sel[ROLE_LABEL] = role
        return sel


def bootstrap_servers(cluster: Cluster) -> dict[str, str]:
    """``{listener name: host:port}`` of the bootstrap Service, in listener order."""
    host = f"{cluster.bootstrap_service}.{cluster.namespace}.svc"
    return {lst.name: f"{host}:{lst.port}" for lst in cluster.spec.listeners}


def pod_addresses(cluster: Cluster, pods: list[dict[str, Any]]) -> dict[str, str]:
    """``{advertised host name: pod IP}`` of every pod of ``cluster`` that has an IP.

    The one place the operator chooses how it reaches a node: by the pod IP the API server reports
    under the name the node advertises (:meth:`Cluster.pod_host`), so it needs no cluster DNS and
    works from a pod and from a host that routes pod IPs (``make run`` beside the real nodes).
    """
    out = {}
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        ip = (pod.get("status") or {}).get("podIP")
        name = pod["metadata"]["name"]
        role = labels.get(ROLE_LABEL)
        if ip and role in ROLES and name.startswith(f"{cluster.sts_name(role)}-"):
            out[f"{name}.{cluster.headless_service}.{cluster.namespace}.svc"] = ip
    return out


def admin_bootstrap(cluster: Cluster, addresses: dict[str, str]) -> list[str]:
    """The operator's bootstrap servers: every broker with an address (:func:`pod_addresses`), on the
    REPLICATION listener, which is always PLAINTEXT and the operator's own (a client listener may be
    TLS, or missing from a broker that is still starting). Empty when no broker pod has an IP."""
    hosts = (cluster.pod_host("broker", i) for i in range(cluster.replicas("broker")))
    return [f"{h}:{REPLICATION_PORT}" for h in hosts if h in addresses]


def kafka_uuid(seed: str, name: str) -> str:
    """A Kafka Uuid string (22 URL-safe base64 characters) derived from ``seed`` and ``name``.

    Like org.apache.kafka.common.Uuid.randomUuid(), never one starting with "-",
    which command-line tools would take for an option.
    """
    for attempt in range(100):
        raw = uuid.uuid5(uuid.UUID(seed), f"{name}/{attempt}").bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-"):
            return text
    raise AssertionError("unreachable: 100 uuids in a row started with '-'")


def directory_id(cluster: Cluster, node_id: int) -> str:
    """A controller's metadata directory id (KIP-853), derived so it never changes."""
    return kafka_uuid(cluster.uid, f"directory-{node_id}")


def _tls_listeners(cluster: Cluster) -> list[dict[str, str]]:
    return [{"name": lst.name, "secret": lst.certificate_secret, "secret_dir": f"{CERTS_DIR}/{lst.name}",
             "keystore": f"/tmp/{lst.name}-keystore.pem", "refusal": shlex.quote(
                 f"{START_REFUSED}: listener {lst.name}: tls.key of Secret {lst.certificate_secret} cannot be "
                 "read by Kafka's PEM keystore, which needs an unencrypted PKCS#8 key (BEGIN PRIVATE KEY; "
                 "cert-manager: spec.privateKey.encoding: PKCS8)")}
            for lst in cluster.spec.listeners if lst.tls]


def server_properties(cluster: Cluster, role: Role, ordinal: int) -> str:
    """The rendered server.properties of one pod (``broker.rack`` is added at start)."""
    host = cluster.pod_host(role, ordinal)
    quorum = ",".join(f"{cluster.pod_host('controller', i)}:{CONTROLLER_PORT}"
                      for i in range(cluster.replicas("controller")))
    if role == "controller":
        listeners = [("CONTROLLER", CONTROLLER_PORT, "PLAINTEXT")]
    else:
        listeners = [("REPLICATION", REPLICATION_PORT, "PLAINTEXT")] + [
            (lst.name.upper(), lst.port, "SSL" if lst.tls else "PLAINTEXT") for lst in cluster.spec.listeners]
    config = role_config(cluster.spec, role)
    protocols = dict.fromkeys(["CONTROLLER"], "PLAINTEXT") | {n: p for n, _, p in listeners}
    return render(
        "operators.kafka", "server.properties.j2",
        cluster=cluster.name, pod=cluster.pod_name(role, ordinal), role=role,
        node_id=cluster.node_id(role, ordinal),
        quorum_bootstrap_servers=quorum,
        listeners=",".join(f"{n}://:{port}" for n, port, _ in listeners),
        advertised_listeners=",".join(f"{n}://{host}:{port}" for n, port, _ in listeners),
        protocol_map=",".join(f"{n}:{p}" for n, p in protocols.items()),
        log_dir=LOG_DIR,
        tls_listeners=_tls_listeners(cluster) if role == "broker" else [],
        # Each line escaped as java.util.Properties reads it: a value can never start another key.
        config=[properties.line(k, str(v)) for k, v in sorted(config.items())],
    )


def start_script(cluster: Cluster, role: Role) -> str:
    """The container entrypoint: pick this pod's properties, format storage once, start Kafka."""
    if role == "controller":
        voters = ",".join(
            f"{cluster.node_id('controller', i)}@{cluster.pod_host('controller', i)}:{CONTROLLER_PORT}:"
            f"{directory_id(cluster, cluster.node_id('controller', i))}"
            for i in range(cluster.replicas("controller")))
        # The release version is read from the environment: it matters only when a volume is
        # formatted, so changing it must not mark running controllers as out of date.
        release = '${KAFKA_RELEASE_VERSION:+--release-version "$KAFKA_RELEASE_VERSION"}'
        format_args = f'--initial-controllers "{voters}" {release}'
    else:
        format_args = "--no-initial-controllers"
    return render("operators.kafka", "start.sh.j2", cluster=cluster.name, role=role, config_dir=CONFIG_DIR,
                  log_dir=LOG_DIR, cluster_id=cluster.cluster_id, format_args=format_args,
                  tls_listeners=_tls_listeners(cluster) if role == "broker" else [])


def config_map(cluster: Cluster, role: Role) -> dict[str, Any]:
    """The role's ConfigMap: ``<pod>.properties`` for every pod and ``start.sh``."""
    data = {f"{cluster.pod_name(role, i)}.properties": server_properties(cluster, role, i)
            for i in range(cluster.replicas(role))}
    data["start.sh"] = start_script(cluster, role)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(name=f"{cluster.sts_name(role)}-config", namespace=cluster.namespace,
                                labels=cluster.labels(role), owner=cluster.owner),
        "data": data,
    }


def config_hash(cluster: Cluster, role: Role, config_map_: dict[str, Any]) -> str:
    """The digest of what only a restart applies; pods carry it, so a changed digest means a roll.

    Values of keys brokers take dynamically are left out (the operator applies them through
    the Admin API; a value Kafka refused dynamically stays in, so it rolls the brokers); their names
    stay in, because removing a dynamic key needs a restart:
    deleting the dynamic value would fall back to the one the broker started with.
    """
    # Controllers read the cluster-wide keys they share with brokers (min.insync.replicas,
    # unclean.leader.election.enable) from the cluster default the operator sets, as brokers do;
    # their own file only seeds it when storage is formatted, so a change needs no restart there either.
    dynamic = cluster.dynamic_config if role == "broker" else cluster_default_config(cluster.dynamic_config)
    return digest({name: [line.split("=", 1)[0] if line.split("=", 1)[0] in dynamic else line
                          for line in text.splitlines()] for name, text in config_map_["data"].items()})


# Strimzi's default heap when jvmOptions sets none: 50% of the container's memory (limit, else
# request), at most 5 GiB (strimzi-kafka-operator KafkaCluster / ModelUtils.heapOptions; Streams for
# Apache Kafka API reference, "jvmOptions", default heap table). The rest is Kafka's off-heap memory
# (network buffers, metaspace) and, above all, the page cache its logs are read from.
HEAP_FRACTION = 0.5
HEAP_MAX_MIB = 5 * 1024


def heap_options(node_set: ControllerSet | BrokerSet) -> str | None:
    """``KAFKA_HEAP_OPTS`` of a role's nodes: ``-Xms<h> -Xmx<h>`` with ``node_set.heap``, else
    :data:`HEAP_FRACTION` of the memory limit (else request) in MiB, at most :data:`HEAP_MAX_MIB`;
    None when none of them is set (the image's default applies)."""
    if node_set.heap:
        return f"-Xms{node_set.heap} -Xmx{node_set.heap}"
    memory = node_set.resources.limits.get("memory") or node_set.resources.requests.get("memory")
    if memory is None:
        return None
    mib = max(1, min(HEAP_MAX_MIB, int(to_base_units("memory", memory) * HEAP_FRACTION) // 2**20))
    return f"-Xms{mib}m -Xmx{mib}m"


def _ports(cluster: Cluster, role: Role) -> list[dict[str, Any]]:
    if role == "controller":
        return [{"name": "controller", "containerPort": CONTROLLER_PORT}]
    return [{"name": "replication", "containerPort": REPLICATION_PORT}] + [
        {"name": lst.name, "containerPort": lst.port} for lst in cluster.spec.listeners]


# The spec field a user edits for each pod set of the claim (named in admission errors).
POD_SET_FIELDS = {"controller": "spec.controllers", "broker": "spec.brokers"}


def claim_spec(spec: KafkaClusterSpec) -> ServiceClaimSpec:
    """The demand of a cluster: one pod set per role, each pod asking for its requests and volume."""
    pod_sets = []
    for role in ROLES:
        node_set = spec.controllers if role == "controller" else spec.brokers
        pod_sets.append(PodSet(name=role, count=node_set.replicas, constraints=node_set.constraints,
                               node_pool=node_set.node_pool,
                               requests=accounted_requests(node_set.resources.requests)
                               | {"storage": node_set.storage.size}))
    return ServiceClaimSpec(pod_sets=pod_sets, priority=spec.priority)


def service_claim(cluster: Cluster) -> dict[str, Any]:
    """The cluster's ServiceClaim (same name), owned by the KafkaCluster."""
    return claim_manifest(name=cluster.name, namespace=cluster.namespace, labels=cluster.labels(),
                          owner=cluster.owner, spec=claim_spec(cluster.spec))


def stateful_set(cluster: Cluster, role: Role, config_digest: str, grant: Grant | None) -> dict[str, Any]:
    """The role's StatefulSet: OnDelete updates, one volume per pod, as many pods as admitted.

    Without a grant the StatefulSet exists with no pods; with one, its pods may only
    run on the granted nodes, under the role's placement constraints.
    """
    node_set = cluster.node_set(role)
    storage = node_set.storage
    probe_port = CONTROLLER_PORT if role == "controller" else REPLICATION_PORT
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": f"{cluster.sts_name(role)}-config"}}]
    mounts = [{"name": DATA_VOLUME, "mountPath": DATA_DIR}, {"name": "config", "mountPath": CONFIG_DIR}]
    if role == "broker":
        for lst in _tls_listeners(cluster):
            volumes.append({"name": f"tls-{lst['name']}", "secret": {"secretName": lst["secret"]}})
            mounts.append({"name": f"tls-{lst['name']}", "mountPath": lst["secret_dir"], "readOnly": True})
    container = {
        "name": "kafka",
        "image": cluster.spec.image_ref,
        "command": ["/bin/bash", f"{CONFIG_DIR}/start.sh"],
        "ports": _ports(cluster, role),
        # The API server copies the node's zone onto the pod at binding (PodTopologyLabels
        # admission, Kubernetes 1.35+, KEP-4742), so the downward API reads the node's zone with
        # no API access from the pod (Strimzi's init container needs a ClusterRole on nodes).
        "env": [{"name": "KAFKA_BROKER_RACK",
                 "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{ZONE_LABEL}']"}}}] + (
            [{"name": "KAFKA_RELEASE_VERSION", "value": cluster.spec.target_metadata_version}]
            if role == "controller" else []) + (
            [{"name": "KAFKA_HEAP_OPTS", "value": heap}] if (heap := heap_options(node_set)) else []),
        "resources": node_set.resources.wire(),
        "volumeMounts": mounts,
        "readinessProbe": {"tcpSocket": {"port": probe_port}, "periodSeconds": 5, "failureThreshold": 3},
        # Log recovery after an unclean stop can take minutes: be patient before restarting.
        "startupProbe": {"tcpSocket": {"port": probe_port}, "periodSeconds": 10, "failureThreshold": 60},
        "livenessProbe": {"tcpSocket": {"port": probe_port}, "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        # A refusal of start.sh (its last log line) becomes the container's termination message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_labels = cluster.labels(role) | {CLAIM_LABEL: cluster.name, POD_SET_LABEL: role}
    pod_spec: dict[str, Any] = {
        "initContainers": [volume_owner_init(image=cluster.spec.image_ref, volume=DATA_VOLUME, mount_path=DATA_DIR,
                                             uid=KAFKA_UID)],
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": 120,  # room for a controlled shutdown
        "securityContext": {"runAsNonRoot": True, "runAsUser": KAFKA_UID, "fsGroup": KAFKA_UID},
    }
    if grant is not None and grant.count:
        pod_spec |= pod_scheduling(grant, node_set.constraints, cluster.selector(role))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(name=cluster.sts_name(role), namespace=cluster.namespace,
                                labels=cluster.labels(role), owner=cluster.owner),
        "spec": {
            "replicas": grant.count if grant else 0,
            "serviceName": cluster.headless_service,
            "selector": {"matchLabels": cluster.selector(role)},
            # KRaft needs its voters up together to elect a leader; start pods in parallel.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"},
            "persistentVolumeClaimRetentionPolicy": retention_policy(storage.delete_claim),
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {
                    CONFIG_HASH_ANNOTATION: config_digest, VERSION_ANNOTATION: cluster.spec.version}},
                "spec": pod_spec,
            },
            "volumeClaimTemplates": [volume_claim_template(name=DATA_VOLUME, labels=pod_labels, size=storage.size,
                                                           storage_class_name=storage.storage_class_name)],
        },
    }


def headless_service(cluster: Cluster) -> dict[str, Any]:
    """Per-pod DNS for every node; not-ready pods are published so a quorum can form."""
    ports = [("controller", CONTROLLER_PORT), ("replication", REPLICATION_PORT)]
    ports += [(lst.name, lst.port) for lst in cluster.spec.listeners]
    return service(name=cluster.headless_service, namespace=cluster.namespace, labels=cluster.labels(),
                   owner=cluster.owner, selector=cluster.selector(), ports=ports, headless=True,
                   publish_not_ready=True)


def bootstrap_service(cluster: Cluster) -> dict[str, Any]:
    """The clients' bootstrap address: ready brokers only, one port per listener."""
    return service(name=cluster.bootstrap_service, namespace=cluster.namespace, labels=cluster.labels("broker"),
                   owner=cluster.owner, selector=cluster.selector("broker"),
                   ports=[(lst.name, lst.port) for lst in cluster.spec.listeners])


def pod_disruption_budget(cluster: Cluster, role: Role) -> dict[str, Any]:
    """At most one pod of the role voluntarily down at a time (node drains, evictions)."""
    return builders.pod_disruption_budget(name=cluster.sts_name(role), namespace=cluster.namespace,
                                          labels=cluster.labels(role), owner=cluster.owner,
                                          selector=cluster.selector(role))


def build(cluster: Cluster, grants: dict[str, Grant]) -> list[dict[str, Any]]:
    """Every child object of ``cluster`` but its ServiceClaim, in the order they should be applied.

    ``grants`` is what the meta-controller admitted per role (see :func:`service_claim`).
    ConfigMaps and Services come before the StatefulSets that mount and use them.
    """
    objects: list[dict[str, Any]] = [headless_service(cluster), bootstrap_service(cluster)]
    for role in ROLES:
        cm = config_map(cluster, role)
        objects += [cm, stateful_set(cluster, role, config_hash(cluster, role, cm), grants.get(role)),
                    pod_disruption_budget(cluster, role)]
    return objects
