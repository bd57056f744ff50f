"""The ServiceClaim contract, as a service operator sees it.

A service operator states its demand in a ServiceClaim it owns (one per service
object, same name), reads back what the meta-controller admitted, runs pods only
for admitted capacity, and steers kube-scheduler to the nodes it was granted:

* ``claim_manifest`` builds the claim from pod sets (count, per-pod requests,
  constraints); applied like any other child;
* ``grants`` reads the admission from the live claim: pods per pod set and the
  nodes they may use;
* ``pod_scheduling`` compiles a grant and its constraints into node affinity
  (the granted nodes), pod anti-affinity (UNIQUE) and topology spread (GROUP_BY);
* every pod carries ``CLAIM_LABEL`` and ``POD_SET_LABEL`` so the meta-controller
  can tell which pods hold a claim's capacity.

The pattern follows Kueue's job integration contract: admission injects node
placement and counts (``RunWithPodSetsInfo``), and nothing runs before it
(Kueue docs, "Integrate a custom Job").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..sdk.conditions import Condition, get_condition
from ..sdk.objects import object_meta
from .api import SERVICE_CLAIM, Constraint, ServiceClaimSpec, ServiceClaimStatus
from .labels import (  # noqa: F401 - the labels are part of the contract re-exported here
    CLAIM_LABEL,
    FIELD_LABELS,
    HOSTNAME,
    HOSTNAME_LABEL,
    POD_SET_LABEL,
)


@dataclass(frozen=True)
class Grant:
    """What the meta-controller admitted for one pod set: ``count`` pods on ``nodes``, which they reach
    with ``tolerations`` (their NodePool's, as pod-spec dicts; empty outside a pool)."""

    count: int
    nodes: tuple[str, ...]
    tolerations: tuple[dict[str, str], ...] = ()


def claim_manifest(*, name: str, namespace: str, labels: dict[str, str], owner: dict[str, Any],
                   spec: ServiceClaimSpec) -> dict[str, Any]:
    """The ServiceClaim a service operator applies for its object ``name``."""
    return {
        "apiVersion": SERVICE_CLAIM.api_version,
        "kind": SERVICE_CLAIM.kind,
        "metadata": object_meta(name=name, namespace=namespace, labels=labels, owner=owner),
        "spec": spec.wire(),
    }


def admission_condition(claim: dict[str, Any] | None) -> Condition | None:
    """The condition that says where the claim's admission stands, or None before the
    meta-controller has looked at it: QuotaReserved when it is False on an admitted claim
    (a scale-up waits, with the reason), else Admitted."""
    status = ServiceClaimStatus.model_validate((claim or {}).get("status") or {})
    admitted = get_condition(status.conditions, "Admitted")
    reserved = get_condition(status.conditions, "QuotaReserved")
    if admitted is not None and admitted.status == "True" and reserved is not None and reserved.status == "False":
        return reserved
    return admitted


def grants(claim: dict[str, Any] | None) -> dict[str, Grant]:
    """Per pod set, what is admitted; empty when the claim is missing or not admitted.

    After a scale-up the grant may be smaller than the demand until the meta-controller
    admits the rest: the service runs what is granted, never more.
    """
    if not claim:
        return {}
    status = ServiceClaimStatus.model_validate(claim.get("status") or {})
    admitted = get_condition(status.conditions, "Admitted")
    if admitted is None or admitted.status != "True":
        return {}
    return {p.name: Grant(p.count, tuple(sorted(n.name for n in p.nodes)), tuple(t.wire() for t in p.tolerations or ()))
            for p in status.pod_sets}


def _topology_key(field: str) -> str:
    return HOSTNAME_LABEL if field == HOSTNAME else FIELD_LABELS.get(field, field)


def pod_scheduling(grant: Grant, constraints: list[Constraint], selector: dict[str, str]) -> dict[str, Any]:
    """Pod spec fields that keep kube-scheduler within a grant and its constraints.

    ``selector`` matches the pod set's own pods. Returns ``affinity`` (required node
    affinity on the granted nodes; required anti-affinity for each UNIQUE) and
    ``topologySpreadConstraints`` (maxSkew 1 for each GROUP_BY). The other Marathon
    operators are already satisfied by the granted node set.
    """
    affinity: dict[str, Any] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": HOSTNAME_LABEL, "operator": "In", "values": list(grant.nodes)}]}]}}}
    unique = [{"topologyKey": _topology_key(c.field), "labelSelector": {"matchLabels": selector}}
              for c in constraints if c.operator == "UNIQUE"]
    if unique:
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": unique}
    spread = [{"maxSkew": 1, "topologyKey": _topology_key(c.field), "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": selector}}
              for c in constraints if c.operator == "GROUP_BY"]
    scheduling = {"affinity": affinity, "topologySpreadConstraints": spread}
    if grant.tolerations:
        scheduling["tolerations"] = [dict(t) for t in grant.tolerations]
    return scheduling
