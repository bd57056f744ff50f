"""CassandraDatacenter v1alpha1 (group cassandra.smack.dev): the spec a user writes and the status we report.

One object is one Cassandra datacenter of the cluster ``clusterName`` (one datacenter per cluster for
now: seeds are the datacenter's own). Each rack is a StatefulSet pinned to one zone. Field names follow cass-operator's
CassandraDatacenter where one exists (``clusterName``, ``size``, ``racks``, ``serverVersion``,
``config``), shared/anchors/cassandra-anchors.md (c).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from kubernetes.utils import parse_quantity
from pydantic import Field, model_validator

from ..sdk import api_types, properties
from ..sdk.api_types import Storage
from ..sdk.conditions import Conditions
from ..sdk.crd import CustomResource, PrinterColumn
from ..sdk.models import Model, PositiveQuantity, Quantity, cel, validations
from ..sdk.names import REVISION_HASH_SUFFIX, image_field, object_name
from ..sdk.plans import Plans

GROUP = "cassandra.smack.dev"

# Supported Apache Cassandra releases, oldest first. A release line is major.minor (4.0, 4.1, 5.0):
# moving to a lower line is a downgrade Cassandra does not support (newer SSTable and system table
# formats), so it is refused at apply; patch releases within a line may go either way.
SUPPORTED_VERSIONS = ("4.0.17", "4.0.18", "4.1.8", "4.1.9", "5.0.4", "5.0.5")
DEFAULT_VERSION = "4.1.9"
ServerVersion = Literal[SUPPORTED_VERSIONS]  # the enum in the CRD


def release_line(version: str) -> str:
    """``"4.1.9"`` -> ``"4.1"``."""
    return ".".join(version.split(".")[:2])


def major(version: str) -> int:
    """``"4.1.9"`` -> 4. SSTables written by an older major are rewritten (upgradesstables) after an upgrade."""
    return int(version.split(".")[0])


_LINES = sorted({release_line(v) for v in SUPPORTED_VERSIONS}, key=lambda v: tuple(map(int, v.split("."))))
_LINE_OF = "{" + ", ".join(f"'{v}': {_LINES.index(release_line(v))}" for v in SUPPORTED_VERSIONS) + "}"

# Cassandra 4.0+ default (with allocate_tokens_for_local_replication_factor); 3.x used 256.
DEFAULT_NUM_TOKENS = 16
DEFAULT_ZONES = ("zone-a", "zone-b", "zone-c")

# cassandra.yaml keys the operator derives from the spec, with where each comes from; a user may not set them.
OWNED_CONFIG_KEYS: dict[str, str] = {
    "cluster_name": "it is spec.clusterName",
    "seed_provider": "seeds are the datacenter's seed Service",
    "endpoint_snitch": "the operator uses GossipingPropertyFileSnitch with the rack names",
    "listen_address": "it is the pod IP",
    "listen_interface": "the operator sets listen_address",
    "rpc_address": "it is the pod IP",
    "rpc_interface": "the operator sets rpc_address",
    "broadcast_address": "it is the pod IP",
    "broadcast_rpc_address": "it is the pod IP",
    "num_tokens": "it is spec.numTokens",
    "initial_token": "tokens are allocated by Cassandra",
    "allocate_tokens_for_local_replication_factor": "the operator sets it with numTokens",
    "data_file_directories": "the operator mounts the volume",
    "commitlog_directory": "the operator mounts the volume",
    "saved_caches_directory": "the operator mounts the volume",
    "hints_directory": "the operator mounts the volume",
    "cdc_raw_directory": "the operator mounts the volume",
    "auto_bootstrap": "the operator bootstraps nodes one at a time",
    "storage_port": "the pods' internode port is 7000 (Services and probes use it)",
    "native_transport_port": "the pods' CQL port is 9042 (Services and the readiness probe use it)",
}


def owned_config_problems(config: Mapping[str, Any]) -> list[str]:
    """One message per operator-owned key set in ``config``, naming the key and where its value comes from.

    Checked by the admission webhook (the API server's CEL cannot look into a free-form YAML map) and
    by the model, so a spec that reached the operator never sets one.
    """
    owned = {properties.normalise(k): k for k in OWNED_CONFIG_KEYS}
    return [f"spec.config: {key} cannot be set: {OWNED_CONFIG_KEYS[owned[properties.normalise(key)]]}"
            for key in config if isinstance(key, str) and properties.normalise(key) in owned]


_LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"


class Rack(Model):
    """A rack: a StatefulSet whose pods all run in one zone (its ServiceClaim pod set is pinned there)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$", max_length=16, description=(
        "Rack name as Cassandra sees it (cassandra-rackdc.properties); lowercase letters, digits and '-'."))]
    zone: Annotated[str, Field(pattern=_LABEL_VALUE, max_length=63, description=(
        "Value of topology.kubernetes.io/zone the rack's pods run in. A zone no node has is refused at apply "
        "by the admission webhook (the rack could never be placed)."))]


DEFAULT_RACKS = [Rack(name=f"r{i + 1}", zone=zone) for i, zone in enumerate(DEFAULT_ZONES)]


class Resources(api_types.Resources):
    """Compute resources of each Cassandra container; by default 1 CPU and 4Gi requested."""

    requests: Annotated[dict[str, PositiveQuantity], Field(
        max_length=8, json_schema_extra=api_types.Resources.model_fields["requests"].json_schema_extra)] = {
        "cpu": "1", "memory": "4Gi"}


class Rollout(Model):
    """How the update plan restarts nodes."""

    canary: Annotated[int, Field(ge=0, le=300, description=(
        "Nodes an update (version or config change) restarts first; the update then waits until approved "
        "with the annotation smack.dev/plan-proceed=update=1 (kubectl smack plan proceed). 0: no canary."))] = 0


# JVM options the operator sets, compared after normalising (trimmed, case-folded): the heap and young
# generation (spec.jvm.heapSize, or sized from the container) and the node replacement address.
FORBIDDEN_JVM_OPTIONS = ("-xms", "-xmx", "-xmn", "-xx:maxheapsize=", "-xx:initialheapsize=", "-xx:minheapsize=",
                         "-xx:newsize=", "-xx:maxnewsize=", "-dcassandra.replace_address")
# One option per item: start.sh joins the lines of jvm.options with spaces into JVM_EXTRA_OPTS, which
# cassandra-env.sh splits on whitespace, so a space or a line break would add an option. Printable ASCII only.
JVM_OPTION_PATTERN = r"^-[A-Za-z][!-~]*$"


def jvm_option_problems(options: list[str]) -> list[str]:
    """One message per option the operator sets itself, naming it (compared after normalising)."""
    return [f"jvm.options: {o!r} cannot be set: the operator sets the heap (jvm.heapSize) and replace_address "
            f"(node replacement); refused: {', '.join(FORBIDDEN_JVM_OPTIONS)} (any case)"
            for o in options if o.strip().casefold().startswith(FORBIDDEN_JVM_OPTIONS)]


class Jvm(Model):
    """JVM settings of each node (jvm-server.options)."""

    heap_size: Annotated[Quantity | None, Field(description=(
        "-Xms and -Xmx, e.g. 2Gi; default: Cassandra's own sizing (cassandra-env.sh) applied to the container's "
        "memory limit, else its request: max(min(1/2, 1Gi), min(1/4, 8Gi))."))] = None
    options: Annotated[list[Annotated[str, Field(pattern=JVM_OPTION_PATTERN, max_length=256)]], Field(
        max_length=64, description=(
            "Extra JVM options, one option per item: '-' and a letter, then printable ASCII without spaces, "
            "e.g. -XX:+UseG1GC."),
        json_schema_extra=validations(cel(
            "self.all(o, " + " && ".join(f"!o.lowerAscii().startsWith('{f}')" for f in FORBIDDEN_JVM_OPTIONS) + ")",
            "replace_address and -Xms/-Xmx are set by the operator (node replacement, heapSize): refused in any "
            "case, with -Xmn, -XX:*HeapSize= and -XX:*NewSize=", reason="FieldValueForbidden")))] = []

    @model_validator(mode="after")
    def _forbidden(self) -> Jvm:
        problems = jvm_option_problems(self.options)
        if problems:
            raise ValueError("; ".join(problems))
        return self


ConfigMap = Annotated[dict[str, Any], Field(
    max_length=256,
    description=("cassandra.yaml entries passed through to every node (any YAML value); keys the operator "
                 "owns (cluster_name, seed_provider, endpoint_snitch, listen_address, num_tokens, the "
                 "directories, the ports, ...) are refused at apply. The rest of cassandra.yaml is the "
                 "release's own defaults."),
    json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})]


# spec.config's size cap: cassandra.yaml (the release defaults and the user's keys) shares the rack's
# ConfigMap, which Kubernetes caps at 1 MiB (docs, "ConfigMaps").
CONFIG_MAX_BYTES = 256 * 1024

_HEAP_OVER_LIMIT = ("jvm.heapSize must be less than resources.limits.memory: the heap, Cassandra's off-heap "
                    "memory and the JVM's own share the container's limit")


class CassandraDatacenterSpec(Model):
    """Desired state of a CassandraDatacenter."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("self.size >= size(self.racks)", "size must be at least the number of racks: every rack needs a node",
            field_path=".size", reason="FieldValueInvalid"),
        cel(f"{_LINE_OF}[self.serverVersion] >= {_LINE_OF}[oldSelf.serverVersion]",
            message_expression="'serverVersion cannot go from ' + oldSelf.serverVersion + ' to ' + "
                               "self.serverVersion + ': Cassandra does not support downgrading to an older "
                               "release line'", field_path=".serverVersion", reason="FieldValueForbidden"),
        cel("self.clusterName == oldSelf.clusterName", "clusterName is immutable: nodes keep the cluster they "
            "joined", field_path=".clusterName", reason="FieldValueForbidden"),
        cel("self.numTokens == oldSelf.numTokens", "numTokens is immutable: a node keeps the tokens it "
            "bootstrapped with (a datacenter from 3.x keeps its 256)", field_path=".numTokens",
            reason="FieldValueForbidden"),
        cel("!has(self.jvm) || !has(self.jvm.heapSize) || !has(self.resources) || !has(self.resources.limits) || "
            "!('memory' in self.resources.limits) || !isQuantity(self.jvm.heapSize) || "
            "!isQuantity(self.resources.limits['memory']) || "
            "quantity(self.jvm.heapSize).isLessThan(quantity(self.resources.limits['memory']))",
            _HEAP_OVER_LIMIT, field_path=".jvm.heapSize", reason="FieldValueInvalid"),
        cel("self.racks == oldSelf.racks", "racks cannot be added, removed, renamed, reordered or moved to "
            "another zone after creation", field_path=".racks", reason="FieldValueForbidden"),
    )}

    cluster_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_ .]{0,62}$", max_length=64, description=(
        "Cassandra cluster name (cassandra.yaml cluster_name); datacenters of one cluster share it."))]
    size: Annotated[int, Field(ge=1, le=300, description=(
        "Number of nodes, spread evenly over the racks (earlier racks take the extra ones)."))] = 3
    racks: Annotated[list[Rack], Field(
        min_length=1, max_length=16, description="Racks in order; default r1, r2, r3 over zone-a, zone-b, zone-c.",
        json_schema_extra=validations(
            cel("self.all(r, self.exists_one(s, s.name == r.name))", "rack names must be unique"),
        ))] = DEFAULT_RACKS
    server_version: Annotated[ServerVersion, Field(description=(
        "Apache Cassandra version every node runs; bump it to upgrade rack by rack."))] = DEFAULT_VERSION
    image: Annotated[str | None, image_field("Container image; default cassandra:<serverVersion>.")] = None
    num_tokens: Annotated[int, Field(ge=1, le=1024, description=(
        "Tokens per node (vnodes), fixed at creation. Default 16, Cassandra 4's; a datacenter that came "
        "from 3.x sets its 256."))] = DEFAULT_NUM_TOKENS
    resources: Resources = Resources()
    storage: Storage = Storage()
    jvm: Jvm = Jvm()
    config: ConfigMap = {}
    rollout: Rollout = Rollout()
    priority: Annotated[int | None, Field(ge=-2147483648, le=1000000000, description=(
        "Priority of the datacenter's ServiceClaim within its tenant; default: the tenant's."))] = None
    node_pool: Annotated[str | None, object_name("NodePool the nodes run in")] = None

    @model_validator(mode="after")
    def _checks(self) -> CassandraDatacenterSpec:
        owned = owned_config_problems(self.config)
        if owned:
            raise ValueError("; ".join(owned))
        size = len(json.dumps(self.config))
        if size > CONFIG_MAX_BYTES:
            raise ValueError(f"spec.config: {size} bytes as JSON, at most {CONFIG_MAX_BYTES} are allowed: it is "
                             f"written into each rack's ConfigMap, which holds 1 MiB in all")
        names = [r.name for r in self.racks]
        if len(names) != len(set(names)):
            raise ValueError("rack names must be unique")
        limit = self.resources.limits.get("memory")
        if self.jvm.heap_size and limit and parse_quantity(self.jvm.heap_size) >= parse_quantity(limit):
            raise ValueError(f"{_HEAP_OVER_LIMIT} ({self.jvm.heap_size} >= {limit})")
        if self.size < len(self.racks):
            raise ValueError(f"size {self.size} is smaller than the number of racks ({len(self.racks)})")
        return self

    @property
    def image_ref(self) -> str:
        return self.image or f"cassandra:{self.server_version}"

    def rack_sizes(self) -> dict[str, int]:
        """Nodes per rack: ``size`` split evenly, earlier racks take the extra (cass-operator SplitRacks)."""
        base, extra = divmod(self.size, len(self.racks))
        return {r.name: base + (i < extra) for i, r in enumerate(self.racks)}


NodeState = Literal["UN", "UJ", "UL", "UM", "DN", "DJ", "DL", "DM", "?N"]


class NodeStatus(Model):
    """One node of the datacenter, as last observed (``nodetool status``, or pod readiness when not probed)."""

    pod: str
    rack: str
    host_id: Annotated[str | None, Field(description="Cassandra host ID (nodetool status); unset when not "
                                                     "probed.")] = None
    ip: str | None = None
    state: Annotated[str, Field(description=(
        "Status and state letters as nodetool prints them: UN up/normal, UJ joining, UL leaving, DN down. "
        "Without a probe (SMACK_CASSANDRA_PROBE=none): UN for a Ready pod, DN otherwise."))] = "DN"
    version: str | None = Field(default=None, description="Cassandra version the node's pod runs.")
    sstables: Annotated[str | None, Field(description=(
        "serverVersion whose SSTable format the node's data is in (set at bootstrap and by upgradesstables)."))] = None
    cleanup: Annotated[bool, Field(description=(
        "nodetool cleanup is due: the node lost token ranges to nodes that joined since."))] = False
    decommissioned: Annotated[bool, Field(description=(
        "nodetool decommission finished: the node left the ring and its pod is being removed."))] = False
    replace_address: Annotated[str | None, Field(description=(
        "While the node is being replaced: the IP of the dead node it replaces "
        "(-Dcassandra.replace_address_first_boot)."))] = None
    replaced: Annotated[str | None, Field(description=(
        "The IP of the dead node this node last replaced (replaceAddress once the replacement joined)."))] = None


class CassandraDatacenterStatus(Model):
    """Observed state of a CassandraDatacenter."""

    RENAMED = {"updateTarget": "updateRevision"}

    observed_generation: int | None = None
    conditions: Conditions = []
    version: str | None = Field(default=None, description="Cassandra version every node runs, once they agree.")
    initialized: Annotated[bool, Field(description=(
        "The first deploy finished: every node of the first size joined. Later joins are scale-ups "
        "(followed by cleanup on the older nodes)."))] = False
    size: int = Field(default=0, description="Nodes in the ring (pods that joined and were not decommissioned).")
    ready: int = Field(default=0, description="Nodes up and normal.")
    seeds: list[str] = Field(default=[], description="Pods serving as seeds (labelled for the seed Service).")
    nodes: Annotated[list[NodeStatus], Field(description="Every node that joined, by pod name.", json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["pod"]})] = []
    update_revision: Annotated[str | None, Field(description=(
        "Digest of the version and config the last update rolled toward; a new one restarts the canary."))] = None
    plans: Plans = []


# The longest name with the longest rack name: each rack's StatefulSet <name>-<rack> carries a revision hash
# label of at most 63 characters (tests/unit/cassandra/test_names.py builds every object at the limit).
NAME_AND_RACK_MAX = 63 - REVISION_HASH_SUFFIX - 1

CASSANDRA_DATACENTER = CustomResource(
    group=GROUP,
    kind="CassandraDatacenter",
    plural="cassandradatacenters",
    short_names=("cassdc", "cdc", "cassandra"),
    spec=CassandraDatacenterSpec,
    object_validations=({
        "rule": f"self.spec.racks.all(r, size(self.metadata.name) + size(r.name) <= {NAME_AND_RACK_MAX})",
        "message": (f"metadata.name is too long for its racks: the name and each rack name together have at most "
                    f"{NAME_AND_RACK_MAX} characters (the StatefulSet <name>-<rack> and the controller-revision-hash "
                    "label of its pods, 63 at most)"),
        "reason": "FieldValueInvalid"},),
    status=CassandraDatacenterStatus,
    printer_columns=(
        PrinterColumn("Cluster", ".spec.clusterName"),
        PrinterColumn("Version", ".status.version"),
        PrinterColumn("Size", ".spec.size", "integer"),
        PrinterColumn("Up", ".status.ready", "integer"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Progressing", '.status.conditions[?(@.type=="Progressing")].reason'),
        PrinterColumn("Update", '.status.plans[?(@.name=="update")].status', priority=1),
        PrinterColumn("Deploy", '.status.plans[?(@.name=="deploy")].status', priority=1),
    ),
)
