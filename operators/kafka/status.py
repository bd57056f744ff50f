"""Pure status derivation: what the observed StatefulSets say about a KafkaCluster."""

from __future__ import annotations

from typing import Any

from ..sdk.conditions import Condition, set_condition
from .api import KafkaClusterStatus, ListenerStatus, NodeSetStatus
from .resources import ROLES, Cluster, Role, bootstrap_servers


def node_set_status(cluster: Cluster, role: Role, sts: dict[str, Any] | None) -> NodeSetStatus:
    """Desired, ready and up-to-date pod counts of one role's StatefulSet (zero when absent or stale)."""
    observed = (sts or {}).get("status") or {}
    current = sts is not None and observed.get("observedGeneration", 0) >= sts["metadata"].get("generation", 0)
    return NodeSetStatus(
        desired=cluster.replicas(role),
        ready=(observed.get("readyReplicas") or 0) if current else 0,
        updated=(observed.get("updatedReplicas") or 0) if current else 0,
    )


def derive(cluster: Cluster, generation: int, stateful_sets: dict[Role, dict[str, Any] | None],
           previous: KafkaClusterStatus, *, at: str | None = None) -> KafkaClusterStatus:
    """The new status of ``cluster`` from its live StatefulSets and the previous status.

    Ready is True when every controller and broker pod is ready. ``version`` is
    set once every pod runs the current template, so it names what actually runs.
    Condition transition times are kept when a condition's status does not change.
    """
    sets = {role: node_set_status(cluster, role, stateful_sets.get(role)) for role in ROLES}
    ready = all(s.ready >= s.desired for s in sets.values())
    updated = all(s.updated >= s.desired for s in sets.values())
    counts = ", ".join(f"{sets[r].ready}/{sets[r].desired} {r}s ready" for r in ("broker", "controller"))

    conditions = previous.conditions
    if ready:
        conditions = set_condition(conditions, Condition(
            type="Ready", status="True", reason="AllNodesReady", message=counts,
            observed_generation=generation), at=at)
    else:
        conditions = set_condition(conditions, Condition(
            type="Ready", status="False", reason="NodesNotReady", message=counts,
            observed_generation=generation), at=at)
    if ready and updated:
        progressing = Condition(type="Progressing", status="False", reason="Stable",
                                message="every pod runs the current spec", observed_generation=generation)
    elif ready:
        stale = sum(s.desired - s.updated for s in sets.values())
        progressing = Condition(type="Progressing", status="True", reason="UpdatePending",
                                message=f"{stale} pods run an older revision and wait for a rolling restart",
                                observed_generation=generation)
    else:
        progressing = Condition(type="Progressing", status="True", reason="Deploying",
                                message=f"waiting for pods: {counts}", observed_generation=generation)
    conditions = set_condition(conditions, progressing, at=at)

    servers = bootstrap_servers(cluster)
    return KafkaClusterStatus(
        observed_generation=generation,
        conditions=conditions,
        cluster_id=cluster.cluster_id,
        version=cluster.spec.version if ready and updated else previous.version,
        metadata_version=previous.metadata_version or (cluster.spec.metadata_version if ready else None),
        bootstrap_servers=next(iter(servers.values())),
        listeners=[ListenerStatus(name=n, bootstrap_servers=s) for n, s in servers.items()],
        brokers=sets["broker"],
        controllers=sets["controller"],
    )
