"""Admission checks: refuse at ``kubectl apply`` a demand that can never be met, and a Tenant that would
share a namespace or close a cycle of parents.

Tenants (:func:`register_tenant`): a namespace is owned by at most one Tenant in each way (by name; by
selector, where no Tenant names it), and parents form a tree. A Tenant that would own a namespace
another already owns the same way is refused naming the other; one whose parents would form a cycle
is refused naming the cycle (CEL refuses ``spec.parent`` equal to the name even without the webhook).
What the webhook cannot see — a namespace relabelled so that two selectors match, a Tenant created
while the webhook was down — the admission cycle reports on the Tenants, keeping every admission
(:mod:`operators.meta.cycle`).

Each service operator's kind is registered with :func:`register_service` by
``operators/__main__.py``, from the service's :class:`operators.scheduling.binding.ServiceBinding`
(the ServiceClaim its objects would produce). The check, run by the API server through a
validating webhook (kopf admission), refuses:

* a demand above its tenant's (or an ancestor's) limit — it would wait forever with
  ExceedsLimit;
* a pod set that no set of nodes could hold even on an empty cluster, under its pool and
  constraints — it would wait forever with Unschedulable.

Demand that merely has to wait (quota in use, busy nodes) is accepted: the claim queues. An
update that leaves the demand unchanged is not checked again: it was accepted before, and a
tenant whose limit shrank since must not block unrelated updates (such as the removal of a
finalizer when the object is deleted).
The webhook fails open (``ignore_failures``): when the operator is down the CRD schema
still guards the fields, and the allocator still refuses the claim at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from ..scheduling.api import (
    NODE_POOL,
    SERVICE_CLAIM,
    TENANT,
    NodePoolSpec,
    ServiceClaimSpec,
    TenantSpec,
    resolve_tenant,
)
from ..scheduling.binding import ServiceBinding
from ..sdk import runtime
from ..sdk.apply import client_for
from ..sdk.quantities import RESOURCE_NAMES, format_amount
from . import allocator, convert
from .cycle import DEFAULT_TENANT, namespace_conflicts, nodes_from, tenant_problems

log = logging.getLogger(__name__)
_PROBE = "__probe__"


def _vector_text(amounts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {format_amount(name, v)}" for name, v in amounts.items())


def refusals(spec: ServiceClaimSpec, tenant: str, tenants: Mapping[str, TenantSpec],
             nodes: Sequence[allocator.Node], pools: Sequence[allocator.Pool]) -> list[tuple[str | None, str]]:
    """Why ``spec`` can never be admitted, as ``(pod set name or None, message)`` pairs; empty if it can.

    Limits are checked for ``tenant`` and its ancestors on the claim's whole demand;
    placement per pod set on ``nodes`` as if nothing else ran (their ``used`` is ignored).
    """
    out: list[tuple[str | None, str]] = []
    demand: dict[str, int] = {}
    for pod_set in spec.pod_sets:
        per_pod = convert.pod_set(pod_set).per_pod
        for i, name in enumerate(RESOURCE_NAMES):
            demand[name] = demand.get(name, 0) + per_pod[i] * pod_set.count
    seen: set[str] = set()
    name: str | None = tenant
    while name is not None and name in tenants and name not in seen:
        seen.add(name)
        limit = tenants[name].limit.amounts()
        over = {r: demand[r] for r in limit if demand.get(r, 0) > limit[r]}
        if over:
            out.append((None, f"needs {_vector_text(over)} in all, above the limit of tenant {name} "
                              f"({_vector_text({r: limit[r] for r in over})})"))
        name = tenants[name].parent
    empty = [allocator.Node(n.name, n.allocatable, n.labels, n.taints, {}, n.unschedulable) for n in nodes]
    for pod_set in spec.pod_sets:
        probe = allocator.Claim(key=f"probe/{pod_set.name}", tenant=_PROBE, pod_sets=(convert.pod_set(pod_set),))
        decision = allocator.allocate(empty, [allocator.Tenant(_PROBE)], [probe], pools, preemption=False)
        d = decision.for_claim(probe.key)
        if isinstance(d, allocator.Pending) and d.reason == "Unschedulable":
            out.append((pod_set.name, f"can never be placed, even on an empty cluster: {d.message}"))
    return out


def register_service(service: ServiceBinding) -> None:
    """Validate the service's objects on create and update against their tenant and the cluster.

    ``service.demand(body)`` gives the ServiceClaim spec an object would produce; a refusal names
    the spec field of each pod set through ``service.field``. Registers nothing when this process
    serves no webhooks (:func:`operators.sdk.runtime.validate`).
    """
    resource, claim_spec = service.resource, service.demand

    @runtime.validate(resource.group, resource.version, resource.plural, id=f"demand-{resource.plural}",
                      operations=["CREATE", "UPDATE"], ignore_failures=True)
    def _validate(body: kopf.Body, old: kopf.Body | None, **_: Any) -> None:
        if old is None:
            taken = claim_owner_conflict(resource.kind, body.metadata.name, body.metadata.namespace)
            if taken:
                raise kopf.AdmissionError(taken, code=409)
        spec = claim_spec(dict(body))
        if spec is None:
            return
        if old is not None and claim_spec(dict(old)) == spec:
            return  # an update that leaves the demand as it was (metadata, finalizers, other fields)
        problems = _check(spec, body.metadata.namespace)
        if problems:
            raise kopf.AdmissionError("; ".join(f"{service.field(pod_set)}: {msg}" for pod_set, msg in problems),
                                      code=422)


def claim_owner_conflict(kind: str, name: str, namespace: str) -> str | None:
    """Why a new ``kind`` named ``name`` cannot have its ServiceClaim, or None.

    A service's claim carries the service's name, so two services of different kinds with one name in
    one namespace would share it; the second is refused at create, naming the first.
    """
    claim = client_for("smack-operators-webhook").get(SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind, name, namespace)
    owners = [o for o in ((claim or {}).get("metadata") or {}).get("ownerReferences") or [] if o.get("controller")]
    if owners and owners[0].get("kind") != kind:
        return (f"metadata.name: the ServiceClaim {name} of this namespace belongs to {owners[0]['kind']} {name}; "
                f"services of different kinds share claim names, so choose another name")
    return None


def _check(spec: ServiceClaimSpec, namespace: str) -> list[tuple[str | None, str]]:
    a = client_for("smack-operators-webhook")  # reads only
    tenants = {t["metadata"]["name"]: TenantSpec.model_validate(t.get("spec") or {})
               for t in a.list_objects(TENANT.api_version, TENANT.kind, None, "")}
    ns = a.get("v1", "Namespace", namespace, None) or {"metadata": {}}
    try:
        tenant = resolve_tenant(namespace, ns["metadata"].get("labels") or {}, tenants, spec.tenant)
    except ValueError:
        tenant = DEFAULT_TENANT
    nodes = nodes_from(a.list_objects("v1", "Node", None, ""), [])
    pools = [convert.pool(p["metadata"]["name"], NodePoolSpec.model_validate(p.get("spec") or {}))
             for p in a.list_objects(NODE_POOL.api_version, NODE_POOL.kind, None, "")]
    return refusals(spec, tenant, tenants, nodes, pools)


def tenant_refusals(name: str, spec: TenantSpec, old: TenantSpec | None, others: Mapping[str, TenantSpec],
                    namespaces: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why the Tenant ``name`` may not have ``spec`` (``old`` on update), given the other Tenants and the
    listed namespaces; each message starts with the field it is about. Empty when it may.

    Ownership is checked when it changed: on the listed namespaces and on every namespace ``spec``
    names (it may not exist yet). The parents are checked when ``spec.parent`` changed; a parent that
    does not exist yet is allowed (the cycle reports it until it does).
    """
    out: list[str] = []
    specs = dict(others) | {name: spec}
    if old is None or (old.namespaces, old.namespace_selector) != (spec.namespaces, spec.namespace_selector):
        listed = {n["metadata"]["name"] for n in namespaces}
        candidates = list(namespaces) + [{"metadata": {"name": n}} for n in spec.namespaces if n not in listed]
        for conflict in namespace_conflicts(candidates, specs).get(name, []):
            field_ = "spec.namespaces" if conflict.endswith("(by name)") else "spec.namespaceSelector"
            out.append(f"{field_}: {conflict}; a namespace has one owner")
    if old is None or old.parent != spec.parent:
        problem = tenant_problems(specs).get(name)
        if problem is not None and "cycle" in problem:
            out.append(problem)
    return out


def register_tenant() -> None:
    """Validate Tenants on create and update (:func:`tenant_refusals`); registered by ``operators/__main__.py``
    in each process that runs a service. Fails open like the service checks: the admission cycle still
    reports, and survives, whatever gets past it."""

    @runtime.validate(TENANT.group, TENANT.version, TENANT.plural, id="tenant-ownership",
                      operations=["CREATE", "UPDATE"], ignore_failures=True)
    def _validate(body: kopf.Body, old: kopf.Body | None, **_: Any) -> None:
        try:
            spec = TenantSpec.model_validate(dict(body).get("spec") or {})
            before = TenantSpec.model_validate(dict(old).get("spec") or {}) if old is not None else None
        except ValueError:
            return  # the schema and CEL name the field; the cycle reports what slips past them
        a = client_for("smack-operators-webhook")  # reads only
        others = {}
        for t in a.list_objects(TENANT.api_version, TENANT.kind, None, ""):
            if t["metadata"]["name"] != body.metadata.name:
                try:
                    others[t["metadata"]["name"]] = TenantSpec.model_validate(t.get("spec") or {})
                except ValueError:
                    continue
        namespaces = a.list_objects("v1", "Namespace", None, "")
        problems = tenant_refusals(body.metadata.name, spec, before, others, namespaces)
        if problems:
            raise kopf.AdmissionError("; ".join(problems), code=422)
