"""The wire models of :mod:`operators.scheduling.api` as the allocator's inputs, and its outputs
as status fields.

Amounts go from Kubernetes quantities to base units (:mod:`operators.sdk.quantities`:
millicores, bytes, pods) and back. The wire models have validated every field by the time
they get here; the allocator's dataclasses check their own invariants again (a second
guard) and raise ValueError.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..scheduling.api import (
    Constraint,
    NodeAssignment,
    NodePoolSpec,
    PodSet,
    PodSetAssignment,
    ServiceClaimSpec,
    TenantSpec,
    TenantStatus,
)
from ..sdk.quantities import format_amount
from . import allocator


def tenant(name: str, spec: TenantSpec) -> allocator.Tenant:
    """The Tenant ``name``: guarantee and limit in base units, weight, parent, preemption policy."""
    return allocator.Tenant(name=name, guarantee=spec.guarantee.amounts(), limit=spec.limit.amounts(),
                            weight=spec.weight, parent=spec.parent, preemption_policy=spec.preemption_policy)


def pool(name: str, spec: NodePoolSpec) -> allocator.Pool:
    """The NodePool ``name``: its node selector and the taints its pods tolerate."""
    return allocator.Pool(name, spec.node_selector.selector(), tuple(t.toleration() for t in spec.tolerations))


def constraint(spec: Constraint) -> allocator.Constraint:
    """One Marathon constraint, field, operator and value as written."""
    return allocator.Constraint(spec.field, spec.operator, spec.value)


def pod_set(spec: PodSet) -> allocator.PodSet:
    """One pod set: counts, per-pod requests in base units, pool and constraints."""
    return allocator.PodSet(name=spec.name, count=spec.count, requests=spec.requests.amounts(),
                            min_count=spec.min_count, pool=spec.node_pool,
                            constraints=tuple(constraint(c) for c in spec.constraints))


def claim(spec: ServiceClaimSpec, key: str, tenant: str, *, created: str = "", default_priority: int = 0,
          admission: Mapping[str, Mapping[str, int]] | None = None, preempting: bool = False) -> allocator.Claim:
    """The allocator's view of the claim ``key`` ("namespace/name") charged to ``tenant``.

    ``created`` is its RFC 3339 creation time; ``default_priority`` (the tenant's) applies when
    the spec sets none. ``admission`` and ``preempting`` come from the status
    (:meth:`ServiceClaimStatus.admission`, :meth:`ServiceClaimStatus.preempting`).
    """
    return allocator.Claim(
        key=key, tenant=tenant, pod_sets=tuple(pod_set(p) for p in spec.pod_sets),
        priority=default_priority if spec.priority is None else spec.priority,
        preemptible=spec.preemptible, created=created, admission=admission, preempting=preempting)


def tenant_status(usage: allocator.TenantUsage, *, generation: int | None = None) -> TenantStatus:
    """The Tenant status fields the allocator computes, as quantities (conditions are left to the caller)."""
    def quantities(amounts: Mapping[str, int]) -> dict[str, str]:
        return {name: format_amount(name, value) for name, value in amounts.items()}
    return TenantStatus(observed_generation=generation, usage=quantities(usage.usage),
                        guaranteed=quantities(usage.guaranteed), borrowed=quantities(usage.borrowed),
                        dominant_share=f"{usage.dominant_share:.3f}", dominant_resource=usage.dominant_resource,
                        admitted_claims=usage.admitted, pending_claims=usage.pending)


def pod_set_assignments(decision: allocator.Admit) -> list[PodSetAssignment]:
    """An admission as ``status.podSets``: per pod set, its count and pods per node."""
    return [PodSetAssignment(name=p.name, count=p.count, nodes=[NodeAssignment(name=n, count=c) for n, c in p.nodes])
            for p in decision.pod_sets]
