"""Pure builders: a CassandraDatacenter spec in, the Kubernetes objects that run it out.

Nothing here talks to the API server. ``build(dc, replicas, grants, replacing)`` returns every child
object; the handler applies them. Layout for a datacenter ``dc1`` in namespace ``ns`` with racks r1..r3:

* StatefulSets ``dc1-r1``, ``dc1-r2``, ``dc1-r3`` (``updateStrategy: OnDelete``, pods created and
  restarted one at a time by the operator), each pinned to its rack's zone by the ServiceClaim grant;
* headless Service ``dc1-nodes``: stable DNS ``dc1-r1-0.dc1-nodes.ns.svc`` for every node;
* headless Service ``dc1-seeds``: the pods labelled ``cassandra.smack.dev/seed=true`` (Ready ones, or the
  first node while none is), which every node's SimpleSeedProvider resolves;
* Service ``dc1-client``: CQL (9042) on Ready nodes, for clients;
* ConfigMaps ``dc1-r1-config``, …: cassandra.yaml, cassandra-rackdc.properties (GossipingPropertyFileSnitch),
  jvm.options, start.sh, and ``<pod>.replace-address`` while a node is being replaced;
* PodDisruptionBudget ``dc1`` (maxUnavailable 1 over the datacenter);
* ServiceClaim ``dc1``: one pod set per rack with ``@zone IS <zone>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.utils import parse_quantity

from ..scheduling.api import Constraint, PodSet, ServiceClaimSpec
from ..scheduling.claims import CLAIM_LABEL, POD_SET_LABEL, Grant, claim_manifest, pod_scheduling
from ..sdk import builders
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
from ..sdk.templates import render
from . import config
from .api import CASSANDRA_DATACENTER, GROUP, CassandraDatacenterSpec, Rack

DATACENTER_LABEL = f"{GROUP}/datacenter"
RACK_LABEL = f"{GROUP}/rack"
SEED_LABEL = f"{GROUP}/seed"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
VERSION_ANNOTATION = f"{GROUP}/version"
# On a volume kept after its node was decommissioned (storage.deleteClaim false): a node must never
# rejoin the ring with it, so the operator does not start one on it until a person deletes it.
DECOMMISSIONED_ANNOTATION = f"{GROUP}/decommissioned"
# On a pod a restart drained and is about to delete: with gossip off the node still lists itself UN,
# so it must not answer for the ring (real-services Finding 5a). The pod, and the mark, go next.
DRAINED_ANNOTATION = f"{GROUP}/drained"

DATA_DIR = "/var/lib/cassandra"
CONFIG_DIR = "/opt/cassandra/smack/config"
CASSANDRA_UID = 999  # the cassandra image's cassandra user
CQL_PORT, INTERNODE_PORT, JMX_PORT = 9042, 7000, 7199
# Seconds a node may take to stop: nodetool drain (preStop) flushes memtables first.
TERMINATION_GRACE_SECONDS = 600
REPLACE_SUFFIX = ".replace-address"
MAX_SEEDS = 3


@dataclass(frozen=True)
class Datacenter(ServiceObject[CassandraDatacenterSpec]):
    """A CassandraDatacenter as the builders see it: identity plus the validated spec."""

    RESOURCE = CASSANDRA_DATACENTER
    SPEC = CassandraDatacenterSpec

    @property
    def racks(self) -> list[Rack]:
        return self.spec.racks

    def sts_name(self, rack: str) -> str:
        return f"{self.name}-{rack}"

    def pod_name(self, rack: str, ordinal: int) -> str:
        return f"{self.sts_name(rack)}-{ordinal}"

    def rack_of(self, pod: str) -> tuple[str, int] | None:
        """``"dc1-r2-3"`` -> ``("r2", 3)``; None for a name that is not one of the racks' pods."""
        base, _, ordinal = pod.rpartition("-")
        rack = base.removeprefix(f"{self.name}-")
        if not ordinal.isdigit() or base != self.sts_name(rack) or rack not in {r.name for r in self.racks}:
            return None
        return rack, int(ordinal)

    @property
    def nodes_service(self) -> str:
        return f"{self.name}-nodes"

    @property
    def seed_service(self) -> str:
        return f"{self.name}-seeds"

    @property
    def client_service(self) -> str:
        return f"{self.name}-client"

    def labels(self, rack: str | None = None) -> dict[str, str]:
        labels = standard_labels(name="cassandra", instance=self.name, component=f"rack-{rack}" if rack else
                                 "datacenter")
        labels[DATACENTER_LABEL] = self.name
        if rack:
            labels[RACK_LABEL] = rack
        return labels

    def selector(self, rack: str | None = None) -> dict[str, str]:
        sel = {DATACENTER_LABEL: self.name}
        if rack:
            sel[RACK_LABEL] = rack
        return sel


def replication_factor(dc: Datacenter) -> int:
    """The replication factor token allocation plans for: 3, or fewer nodes than that."""
    return min(3, dc.spec.size)


def operator_config(dc: Datacenter) -> dict[str, Any]:
    """The cassandra.yaml keys the operator sets (:data:`~.api.OWNED_CONFIG_KEYS`); ``@POD_IP@`` is replaced at start.

    Seeds are the seed Service's one DNS name; Cassandra 5.0 takes every address it resolves to
    (``resolve_multiple_ip_addresses_per_dns_record``), 4.x the first, and ignores the parameter.
    """
    return {
        "cluster_name": dc.spec.cluster_name,
        "num_tokens": dc.spec.num_tokens,
        "allocate_tokens_for_local_replication_factor": replication_factor(dc),
        "endpoint_snitch": "GossipingPropertyFileSnitch",
        "seed_provider": [{"class_name": "org.apache.cassandra.locator.SimpleSeedProvider", "parameters": [
            {"seeds": f"{dc.seed_service}.{dc.namespace}.svc.cluster.local",
             "resolve_multiple_ip_addresses_per_dns_record": "true"}]}],
        "listen_address": "@POD_IP@",
        "broadcast_address": "@POD_IP@",
        "rpc_address": "0.0.0.0",
        "broadcast_rpc_address": "@POD_IP@",
        "storage_port": INTERNODE_PORT,
        "native_transport_port": CQL_PORT,
        "auto_bootstrap": True,
        "data_file_directories": [f"{DATA_DIR}/data"],
        "commitlog_directory": f"{DATA_DIR}/commitlog",
        "hints_directory": f"{DATA_DIR}/hints",
        "saved_caches_directory": f"{DATA_DIR}/saved_caches",
        "cdc_raw_directory": f"{DATA_DIR}/cdc_raw",
    }


def cassandra_yaml(dc: Datacenter, rack: str) -> str:
    """The complete cassandra.yaml of a rack's nodes (:func:`~.config.render`); ``@POD_IP@`` is replaced at start."""
    header = (f"# Rendered by smack-operators for rack {rack} of CassandraDatacenter {dc.name}. Do not edit: the\n"
              "# operator rewrites this file from the CassandraDatacenter spec. @POD_IP@ is the pod IP, set at start.")
    return config.render(dc.spec.server_version, operator_config(dc), dc.spec.config, header)


MiB = 2**20


def heap_sizes(spec: CassandraDatacenterSpec) -> tuple[int, int]:
    """``-Xmx``/``-Xms`` and ``-Xmn`` of each node, in MiB: ``jvm.heapSize`` (young generation a quarter of it), else
    Cassandra's own sizing (conf/cassandra-env.sh ``calculate_heap_sizes``) applied to the container instead of
    the machine: the heap is max(min(½ memory, 1 GiB), min(¼ memory, 8 GiB)) and the young generation
    min(100 MiB per core, ¼ heap), where memory and cores are the container's limits, else its requests.

    A pod never sizes itself from the node's memory: three nodes with small requests fit on one small machine.
    """
    if spec.jvm.heap_size:
        heap = int(parse_quantity(spec.jvm.heap_size) // MiB)
        return heap, heap // 4
    resources = spec.resources
    memory = resources.limits.get("memory") or resources.requests.get("memory") or "4Gi"
    cores = max(1, math.ceil(parse_quantity(resources.limits.get("cpu") or resources.requests.get("cpu") or "1")))
    total = int(parse_quantity(memory) // MiB)
    heap = max(min(total // 2, 1024), min(total // 4, 8192))
    return heap, min(100 * cores, heap // 4)


def config_map(dc: Datacenter, rack: str, replacing: Mapping[str, str]) -> dict[str, Any]:
    """The rack's ConfigMap. ``replacing`` maps a pod of the rack being replaced to the dead node's IP."""
    heap, young = heap_sizes(dc.spec)
    data = {
        "cassandra.yaml": cassandra_yaml(dc, rack),
        "cassandra-rackdc.properties": render("operators.cassandra", "cassandra-rackdc.properties.j2",
                                              datacenter=dc.name, rack=rack),
        "jvm.options": render("operators.cassandra", "jvm.options.j2", options=dc.spec.jvm.options),
        "start.sh": render("operators.cassandra", "start.sh.j2", datacenter=dc.name, rack=rack,
                           config_dir=CONFIG_DIR, heap=f"{heap}M", heap_new=f"{young}M"),
    }
    data |= {f"{pod}{REPLACE_SUFFIX}": ip for pod, ip in sorted(replacing.items())
             if dc.rack_of(pod) and dc.rack_of(pod)[0] == rack}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(name=f"{dc.sts_name(rack)}-config", namespace=dc.namespace,
                                labels=dc.labels(rack), owner=dc.owner),
        "data": data,
    }


def config_hash(config_map_: Mapping[str, Any]) -> str:
    """The digest of what a restart applies; pods carry it, so a changed digest means a roll.

    Replace addresses are left out: they matter only on a replacement's first boot.
    """
    return digest({k: v for k, v in config_map_["data"].items() if not k.endswith(REPLACE_SUFFIX)})


def rack_field(rack: str) -> str:
    """The spec field a user edits for a rack's pod set (named in admission errors)."""
    return f"spec.racks (rack {rack})"


def rack_constraints(rack: Rack) -> list[Constraint]:
    """A rack's placement: every node of the rack in the rack's zone."""
    return [Constraint(field="@zone", operator="IS", value=rack.zone)]


def claim_spec(spec: CassandraDatacenterSpec, counts: Mapping[str, int] | None = None) -> ServiceClaimSpec:
    """The demand of a datacenter: one pod set per rack in the rack's zone.

    ``counts`` (pods per rack) defaults to the spec's split of ``size``; during a scale-down the handler
    keeps the pods that are still decommissioning in it, so their capacity is released only once they left.
    """
    counts = counts or spec.rack_sizes()
    requests = accounted_requests(spec.resources.requests)
    return ServiceClaimSpec(pod_sets=[
        PodSet(name=r.name, count=max(1, counts[r.name]), constraints=rack_constraints(r), node_pool=spec.node_pool,
               requests=requests | {"storage": spec.storage.size}) for r in spec.racks], priority=spec.priority)


def service_claim(dc: Datacenter, counts: Mapping[str, int]) -> dict[str, Any]:
    """The datacenter's ServiceClaim (same name), owned by the CassandraDatacenter."""
    return claim_manifest(name=dc.name, namespace=dc.namespace, labels=dc.labels(), owner=dc.owner,
                          spec=claim_spec(dc.spec, counts))


def stateful_set(dc: Datacenter, rack: Rack, replicas: int, config_digest: str, grant: Grant | None) -> dict[str, Any]:
    """The rack's StatefulSet: OnDelete updates, one volume per node, ``replicas`` pods (set by the plans).

    Pods run only on the nodes the rack's grant names (its zone). ``nodetool drain`` runs before a
    node stops; the grace period leaves it time to flush. A node is Ready once CQL listens, which
    Cassandra does only after the node joined the ring.
    """
    storage = dc.spec.storage
    pod_labels = dc.labels(rack.name) | {CLAIM_LABEL: dc.name, POD_SET_LABEL: rack.name}
    container = {
        "name": "cassandra",
        "image": dc.spec.image_ref,
        "command": ["/bin/bash", f"{CONFIG_DIR}/start.sh"],
        "ports": [{"name": "cql", "containerPort": CQL_PORT}, {"name": "internode", "containerPort": INTERNODE_PORT},
                  {"name": "jmx", "containerPort": JMX_PORT}],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "resources": dc.spec.resources.wire(),
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}, {"name": "config", "mountPath": CONFIG_DIR}],
        "readinessProbe": {"tcpSocket": {"port": CQL_PORT}, "periodSeconds": 10, "failureThreshold": 3},
        "lifecycle": {"preStop": {"exec": {"command": ["nodetool", "drain"]}}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict[str, Any] = {
        "initContainers": [volume_owner_init(image=dc.spec.image_ref, volume="data", mount_path=DATA_DIR,
                                             uid=CASSANDRA_UID)],
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": f"{dc.sts_name(rack.name)}-config"}}],
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": {"runAsNonRoot": True, "runAsUser": CASSANDRA_UID, "fsGroup": CASSANDRA_UID},
    }
    if grant is not None and grant.count:
        pod_spec |= pod_scheduling(grant, rack_constraints(rack), dc.selector(rack.name))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(name=dc.sts_name(rack.name), namespace=dc.namespace, labels=dc.labels(rack.name),
                                owner=dc.owner),
        "spec": {
            "replicas": replicas,
            "serviceName": dc.nodes_service,
            "selector": {"matchLabels": dc.selector(rack.name)},
            # The operator creates nodes one at a time itself (replicas grows by one per bootstrap).
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"},
            "persistentVolumeClaimRetentionPolicy": retention_policy(storage.delete_claim),
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {
                    CONFIG_HASH_ANNOTATION: config_digest, VERSION_ANNOTATION: dc.spec.server_version}},
                "spec": pod_spec,
            },
            "volumeClaimTemplates": [volume_claim_template(name="data", labels=pod_labels, size=storage.size,
                                                           storage_class_name=storage.storage_class_name)],
        },
    }


def services(dc: Datacenter) -> list[dict[str, Any]]:
    """Per-node DNS (not-ready nodes included, so a joining node resolves), seeds, and the clients' Service.

    The seed Service lists its pods before they are Ready: the label alone says who seeds (:func:`seeds`). The
    first node is labelled before it can be Ready (CQL listens only once it joined), and a node whose seed
    name resolves to nothing exits at start ("The seed provider lists no seeds").
    """
    common = {"namespace": dc.namespace, "labels": dc.labels(), "owner": dc.owner}
    return [
        service(name=dc.nodes_service, selector=dc.selector(), ports=[("internode", INTERNODE_PORT), ("cql", CQL_PORT)],
                headless=True, publish_not_ready=True, **common),
        service(name=dc.seed_service, selector=dc.selector() | {SEED_LABEL: "true"},
                ports=[("internode", INTERNODE_PORT)], headless=True, publish_not_ready=True, **common),
        service(name=dc.client_service, selector=dc.selector(), ports=[("cql", CQL_PORT)], **common),
    ]


def pod_disruption_budget(dc: Datacenter) -> dict[str, Any]:
    """At most one node of the datacenter voluntarily down at a time (node drains, evictions)."""
    return builders.pod_disruption_budget(name=dc.name, namespace=dc.namespace, labels=dc.labels(), owner=dc.owner,
                                          selector=dc.selector())


def seeds(dc: Datacenter, ready: list[str]) -> list[str]:
    """The seed pods: Ready pods only, the lowest ordinals taken round-robin over the racks, at most
    :data:`MAX_SEEDS` (cass-operator: 3 per datacenter, spread over racks). With no Ready pod, the first
    node of the first rack seeds itself so the datacenter can start."""
    placed = [dc.rack_of(p) for p in ready]
    by_rack = {r.name: sorted(o for rack, o in filter(None, placed) if rack == r.name) for r in dc.racks}
    chosen: list[str] = []
    depth = 0
    while len(chosen) < MAX_SEEDS and any(len(v) > depth for v in by_rack.values()):
        for rack, ordinals in by_rack.items():
            if len(ordinals) > depth and len(chosen) < MAX_SEEDS:
                chosen.append(dc.pod_name(rack, ordinals[depth]))
        depth += 1
    return chosen or [dc.pod_name(dc.racks[0].name, 0)]


def build(dc: Datacenter, replicas: Mapping[str, int], grants: Mapping[str, Grant],
          replacing: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every child object of ``dc`` but its ServiceClaim, in the order they should be applied.

    ``replicas``: pods per rack the plans allow now; ``grants``: what the meta-controller admitted per
    rack (the StatefulSet never runs more); ``replacing``: pod -> IP of the dead node it replaces.
    """
    objects = services(dc)
    for rack in dc.racks:
        cm = config_map(dc, rack.name, replacing)
        grant = grants.get(rack.name)
        objects += [cm, stateful_set(dc, rack, min(replicas.get(rack.name, 0), grant.count if grant else 0),
                                     config_hash(cm), grant)]
    objects.append(pod_disruption_budget(dc))
    return objects
