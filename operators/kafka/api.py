"""KafkaCluster v1alpha1 (group kafka.smack.dev): the spec a user writes and the status we report.

KRaft only: a quorum of dedicated controllers and a set of brokers, each a
StatefulSet. Field names follow Strimzi's Kafka CR where one exists
(``version``, ``metadataVersion``, ``listeners``, ``config``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..scheduling.api import Constraint, PodSet
from ..sdk import properties
from ..sdk.api_types import Resources, Storage
from ..sdk.conditions import Conditions
from ..sdk.crd import CustomResource, PrinterColumn
from ..sdk.models import Model, cel, validations
from ..sdk.names import REVISION_HASH_SUFFIX, image_field, name_length_rule, object_name
from ..sdk.plans import Plans

GROUP = "kafka.smack.dev"

# The two kinds of KRaft node, each a StatefulSet (spec.controllers, spec.brokers), in rollout order.
Role = Literal["controller", "broker"]
ROLES: tuple[Role, ...] = ("controller", "broker")

# Kafka version -> its metadata.version (KRaft feature level). Sources: Apache
# Kafka release notes and org.apache.kafka.server.common.MetadataVersion
# (latest production level of each release line).
METADATA_VERSIONS: dict[str, str] = {
    "3.9.0": "3.9-IV0",
    "3.9.1": "3.9-IV0",
    "4.0.0": "4.0-IV3",
    "4.0.1": "4.0-IV3",
    "4.1.0": "4.1-IV1",
    "4.1.1": "4.1-IV1",
}
SUPPORTED_VERSIONS = tuple(METADATA_VERSIONS)
# metadata.version -> its feature level, the number UpdateFeatures takes. Source:
# org.apache.kafka.server.common.MetadataVersion (featureLevel of each IBP_x_y_IVz).
METADATA_LEVELS: dict[str, int] = {"3.9-IV0": 21, "4.0-IV3": 25, "4.1-IV1": 27}
_LEVEL_OF_VERSION = "{" + ", ".join(f"'{v}': {METADATA_LEVELS[m]}" for v, m in METADATA_VERSIONS.items()) + "}"
_LEVEL_OF_METADATA = "{" + ", ".join(f"'{m}': {lvl}" for m, lvl in METADATA_LEVELS.items()) + "}"
DEFAULT_VERSION = "4.1.1"
KafkaVersion = Literal[SUPPORTED_VERSIONS]  # the enum in the CRD

# Ports the operator reserves for its own listeners.
CONTROLLER_PORT = 9090
REPLICATION_PORT = 9091

# server.properties keys the operator derives from the spec, with where each comes
# from; a user may not set them. listener.name.* is refused as a prefix too.
OWNED_CONFIG_KEYS: dict[str, str] = {
    "node.id": "it is the pod ordinal (controllers 1000+)",
    "broker.id": "node.id is the pod ordinal",
    "process.roles": "it follows spec.brokers and spec.controllers",
    "controller.quorum.voters": "it follows spec.controllers",
    "controller.quorum.bootstrap.servers": "it follows spec.controllers",
    "controller.listener.names": "the operator owns the controller listener",
    "listeners": "it follows spec.listeners",
    "advertised.listeners": "it follows spec.listeners",
    "listener.security.protocol.map": "it follows spec.listeners",
    "inter.broker.listener.name": "the operator owns the replication listener",
    "log.dirs": "the operator mounts the volume",
    "log.dir": "the operator mounts the volume",
    "metadata.log.dir": "the operator mounts the volume",
    "broker.rack": "it is the zone of the broker's node",
    "config.providers": "the operator owns the config providers",
}
OWNED_CONFIG_PREFIXES = ("listener.name.",)
# Bytes of spec.config a role's ConfigMap may hold over all its pods' files: Kubernetes caps a ConfigMap at
# 1 MiB (docs, "ConfigMaps"); the rest is the operator's own lines (~1 KiB a pod) and start.sh.
CONFIG_MAP_BUDGET = 768 * 1024


def _owned_key_rules() -> list[dict[str, str]]:
    # One cheap map lookup per key: CEL that scans a map with unbounded keys
    # exceeds the API server's cost budget, and a rule per key names the key.
    rules = [cel(f"!('{key}' in self)", f"{key} cannot be set: {why}", reason="FieldValueForbidden")
             for key, why in OWNED_CONFIG_KEYS.items()]
    rules.append(cel(f"self.all(k, k.matches('{properties.KEY_PATTERN}'))",
                     f"config keys have {properties.KEY_ALLOWED}: server.properties cannot hold others "
                     "unescaped", reason="FieldValueInvalid"))
    rules.append(cel("self.all(k, !k.startsWith('listener.name.'))",
                     "listener.name.* keys cannot be set: per-listener settings come from spec.listeners",
                     reason="FieldValueForbidden"))
    return rules


ONE_PER_HOST = [Constraint(field="@hostname", operator="UNIQUE")]


_HEAP = r"^[1-9][0-9]{0,6}[mMgG]$"
_HEAP_DESCRIPTION = (
    "JVM heap of each node (-Xms and -Xmx), in Java's units, e.g. 512m or 2g. Default: half the container's "
    "memory limit, else of its memory request, at most 5g (Strimzi's default for Kafka); with neither, the "
    "image's default (kafka-server-start.sh: 1g). Keep it well under the limit: Kafka also needs off-heap "
    "memory and the page cache.")


class Placement(Model):
    """Where a role's pods may run, as the meta-controller's ServiceClaim states it."""

    constraints: Annotated[list[Constraint], Field(max_length=16, description=(
        "Marathon placement constraints (e.g. @hostname UNIQUE, @zone GROUP_BY 3); default: one pod per host. "
        "Set [] to allow several pods of the role on one host (a single-node test cluster). At most one "
        "GROUP_BY or value-less CLUSTER, as the ServiceClaim's pod set takes them."),
        # The pod set's own rule, so a role's constraints are refused at apply, not when the claim is built.
        json_schema_extra=PodSet.model_fields["constraints"].json_schema_extra)] = ONE_PER_HOST
    node_pool: Annotated[str | None, object_name("NodePool the pods run in")] = None

    @model_validator(mode="after")
    def _one_grouping(self) -> Placement:
        groupings = [f"{c.field} {c.operator}" for c in self.constraints if c.groups]
        if len(groupings) > 1:
            raise ValueError(f"constraints: at most one GROUP_BY or value-less CLUSTER constraint, got "
                             f"{', '.join(groupings)}")
        return self


class BrokerSet(Placement):
    """The brokers: they hold partitions and serve clients."""

    replicas: Annotated[int, Field(ge=1, le=200, description="Number of brokers.")] = 3
    resources: Resources = Resources()
    heap: Annotated[str | None, Field(pattern=_HEAP, max_length=8, description=_HEAP_DESCRIPTION)] = None
    storage: Storage = Storage()


class ControllerSet(Placement):
    """The KRaft controller quorum: it holds the cluster metadata."""

    replicas: Annotated[Literal[1, 3, 5], Field(
        description="Voters in the KRaft quorum: 1 (no fault tolerance), 3 or 5 (an odd number).")] = 3
    resources: Resources = Resources()
    heap: Annotated[str | None, Field(pattern=_HEAP, max_length=8, description=_HEAP_DESCRIPTION)] = None
    storage: Storage = Storage(size="2Gi")


class Listener(Model):
    """A client listener on every broker, reached through the headless Service's DNS names."""

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel("!self.tls || has(self.certificateSecret)",
            "a tls listener needs certificateSecret: a kubernetes.io/tls Secret with tls.crt and tls.key",
            field_path=".certificateSecret", reason="FieldValueRequired"),
        cel("self.port != 9090 && self.port != 9091",
            "ports 9090 and 9091 are reserved for the controller and replication listeners",
            field_path=".port"),
    )}

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,15}$", max_length=16,
                               description="Listener name: lowercase letters and digits, e.g. plain or tls.")]
    port: Annotated[int, Field(ge=1024, le=65535)]
    tls: bool = False
    certificate_secret: Annotated[str | None, object_name("kubernetes.io/tls Secret of a tls listener")] = None

    @model_validator(mode="after")
    def _tls_needs_secret(self) -> Listener:
        if self.tls and not self.certificate_secret:
            raise ValueError("a tls listener needs certificateSecret")
        if self.port in (CONTROLLER_PORT, REPLICATION_PORT):
            raise ValueError(f"port {self.port} is reserved")
        return self


ConfigValue = Annotated[int | str, Field(json_schema_extra={"x-kubernetes-int-or-string": True})]




class Rollout(Model):
    """How the update plan restarts pods."""

    canary: Annotated[int, Field(ge=0, le=200, description=(
        "Canary brokers of an update: each of the first N broker restarts waits for approval, given with "
        "`kubectl annotate --overwrite kafkacluster NAME smack.dev/plan-proceed=update/brokers=K` (approves the "
        "first K); after them the other brokers follow without asking (the DC/OS canary strategy). 0: no "
        "canary. Controllers go first and are not part of it."))] = 0
    pod_ready_timeout_seconds: Annotated[int, Field(ge=30, le=86400, description=(
        "Seconds a restarted pod may take to become Ready; after that the update plan stops with "
        "Progressing=False, reason RolloutStalled, and restarts nothing else until the pod is Ready."))] = 600


# The shortest nodeFailureTimeoutSeconds: a node's NotReady for less than this is a blip (the node
# controller's own grace period is 40s, kube-controller-manager --node-monitor-grace-period).
MIN_NODE_FAILURE_TIMEOUT = 30


class Recovery(Model):
    """What the operator does when a node fails."""

    node_failure_timeout_seconds: Annotated[int | None, Field(ge=MIN_NODE_FAILURE_TIMEOUT, le=31536000, description=(
        "Seconds a broker's node may be NotReady before the broker is replaced on another node with a new, "
        "empty volume (Kafka re-replicates its partitions), e.g. 600. Unset (the default): wait for the node "
        "to come back. At least 30: a shorter NotReady blip (a kubelet restart, a slow heartbeat) would replace "
        "a healthy broker and its data. Controllers are never replaced automatically: their data is the "
        "metadata quorum's."))] = None


class KafkaClusterSpec(Model):
    """Desired state of a KafkaCluster."""

    # Until voters can be removed from the quorum, the API server refuses quorum changes.
    # (A broker scale-down is accepted and waits for the brokers to empty: see handlers.)
    model_config = Model.model_config | {"json_schema_extra": validations(
        cel(f"!has(self.metadataVersion) || {_LEVEL_OF_METADATA}[self.metadataVersion] <= "
            f"{_LEVEL_OF_VERSION}[self.version]",
            "metadataVersion is newer than spec.version supports", field_path=".metadataVersion",
            reason="FieldValueInvalid"),
        cel("self.controllers.replicas == oldSelf.controllers.replicas",
            "controllers.replicas is fixed after creation: changing the KRaft quorum's voters is not "
            "supported yet", field_path=".controllers.replicas", reason="FieldValueForbidden"),
        # A major downgrade is never rolled (DESIGN.md): 4.x binaries write what 3.x may not read.
        cel("int(self.version.split('.')[0]) >= int(oldSelf.version.split('.')[0])",
            "cannot downgrade to an older major version of Kafka: pin spec.metadataVersion and stay on the "
            "same major, or restore from a backup", field_path=".version", reason="FieldValueForbidden"),
    )}

    version: Annotated[KafkaVersion, Field(description="Apache Kafka version every node runs.")] = DEFAULT_VERSION
    metadata_version: Annotated[Literal[tuple(METADATA_LEVELS)] | None, Field(description=(
        "KRaft metadata.version to run. Unset: once every node runs spec.version, the operator raises it "
        "to that version's latest. Set: it is raised to this value and no further. It is never lowered."))] = None
    priority: Annotated[int | None, Field(ge=-2147483648, le=1000000000, description=(
        "Priority of the cluster's ServiceClaim within its tenant; default: the tenant's."))] = None
    image: Annotated[str | None, image_field("Container image; default apache/kafka:<version>.")] = None
    brokers: BrokerSet = BrokerSet()
    controllers: ControllerSet = ControllerSet()
    listeners: Annotated[list[Listener], Field(
        min_length=1, max_length=8, description="Client listeners; names and ports must be unique.",
        json_schema_extra=validations(
            cel("self.all(l, self.exists_one(m, m.name == l.name))", "listener names must be unique"),
            cel("self.all(l, self.exists_one(m, m.port == l.port))", "listener ports must be unique"),
        ))] = [Listener(name="plain", port=9092)]
    rollout: Rollout = Rollout()
    recovery: Recovery = Recovery()
    config: Annotated[dict[str, ConfigValue], Field(
        max_length=256,
        description="server.properties entries passed through to every broker (string or integer values).",
        json_schema_extra=validations(*_owned_key_rules()),
    )] = {}

    @model_validator(mode="after")
    def _checks(self) -> KafkaClusterSpec:
        problems = properties.key_problems("config", self.config)
        problems += [f"config.{k}: a value has at most {properties.VALUE_MAX_LENGTH} characters, got {len(v)}"
                     for k, v in self.config.items() if isinstance(v, str) and len(v) > properties.VALUE_MAX_LENGTH]
        # Every pod's own server.properties is in its role's ConfigMap, which holds 1 MiB in all.
        per_pod = sum(len(properties.line(k, str(v))) + 1 for k, v in self.config.items())
        pods = max(self.brokers.replicas, self.controllers.replicas)
        if per_pod * pods > CONFIG_MAP_BUDGET:
            problems.append(f"config: {per_pod} bytes per server.properties × {pods} pods is above the "
                            f"{CONFIG_MAP_BUDGET} bytes a role's ConfigMap may hold; at most "
                            f"{CONFIG_MAP_BUDGET // pods} bytes of config with {pods} pods")
        if problems:
            raise ValueError("; ".join(problems))
        # Compared after trimming and case-folding: Kafka's keys are lowercase, so NODE.ID is a mistake
        # at best and an attempt at an owned key at worst.
        owned = sorted(properties.owned_keys(self.config, OWNED_CONFIG_KEYS, OWNED_CONFIG_PREFIXES))
        if owned:
            raise ValueError(f"config: keys owned by the operator cannot be set: {', '.join(owned)} (owned: "
                             f"{', '.join(OWNED_CONFIG_KEYS)} and {', '.join(OWNED_CONFIG_PREFIXES)}*)")
        if self.metadata_version and METADATA_LEVELS[self.metadata_version] > METADATA_LEVELS[
                METADATA_VERSIONS[self.version]]:
            raise ValueError(f"metadataVersion {self.metadata_version} is newer than version {self.version} "
                             f"supports ({METADATA_VERSIONS[self.version]})")
        for attr in ("name", "port"):
            values = [getattr(lst, attr) for lst in self.listeners]
            if len(values) != len(set(values)):
                raise ValueError(f"listener {attr}s must be unique")
        return self

    @property
    def image_ref(self) -> str:
        return self.image or f"apache/kafka:{self.version}"

    @property
    def target_metadata_version(self) -> str:
        """The metadata.version the cluster should end up at."""
        return self.metadata_version or METADATA_VERSIONS[self.version]


class NodeSetStatus(Model):
    desired: int = 0
    admitted: int = Field(default=0, description="Pods the meta-controller admitted (the StatefulSet's replicas).")
    ready: int = 0
    updated: int = 0


class ListenerStatus(Model):
    name: str
    bootstrap_servers: str


class KafkaClusterStatus(Model):
    """Observed state of a KafkaCluster."""

    RENAMED = {"dynamicConfig": "dynamicConfigHash", "updateTarget": "updateRevision"}

    observed_generation: int | None = None
    conditions: Conditions = []
    cluster_id: str | None = None
    version: str | None = Field(default=None, description="Kafka version all nodes run, once they agree.")
    metadata_version: str | None = Field(default=None, description="The finalized KRaft metadata.version.")
    dynamic_config_hash: str | None = Field(default=None, description=(
        "Digest of the dynamically updatable broker config last applied (in the files or by the Admin API)."))
    refused_config: dict[str, str] = Field(default={}, description=(
        "Dynamic broker keys Kafka refused to change without a restart, with the value it refused: the "
        "brokers are restarted to apply them instead."))
    removed_brokers: list[int] = Field(default=[], description=(
        "Node ids of brokers a scale-down removed, to unregister from the controllers (KRaft "
        "UnregisterBroker) once their pods are gone."))
    bootstrap_servers: str | None = Field(default=None, description="host:port of the first listener.")
    listeners: list[ListenerStatus] = []
    brokers: NodeSetStatus = NodeSetStatus()
    controllers: NodeSetStatus = NodeSetStatus()
    plans: Plans = []
    update_revision: str | None = Field(default=None, description=(
        "Digest of what the update plan rolls toward; when it changes, the plan-proceed and "
        "plan-force-complete annotations of the previous update are dropped."))


# The longest name: the controllers' StatefulSet <name>-controller carries a revision hash label of at most
# 63 characters (tests/unit/kafka/test_names.py builds every object at this length and checks each name).
MAX_NAME_LENGTH = 63 - REVISION_HASH_SUFFIX - len("-controller")

KAFKA_CLUSTER = CustomResource(
    group=GROUP,
    kind="KafkaCluster",
    plural="kafkaclusters",
    short_names=("kc", "kafka"),
    spec=KafkaClusterSpec,
    object_validations=(name_length_rule(MAX_NAME_LENGTH, (
        "the StatefulSet <name>-controller and the controller-revision-hash label (63 at most) "
        "derive from it")),),
    status=KafkaClusterStatus,
    printer_columns=(
        PrinterColumn("Version", ".status.version"),
        PrinterColumn("Brokers", ".spec.brokers.replicas", "integer"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Plan", '.status.plans[?(@.name=="update")].status', priority=1),
        PrinterColumn("Bootstrap", ".status.bootstrapServers", priority=1),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
    ),
)
