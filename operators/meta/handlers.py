"""kopf wiring for the meta-controller: watch, run an admission cycle, write statuses.

One cycle runs at a time for the whole cluster (the allocator needs every claim and
every node at once). Any change to a ServiceClaim, Tenant, NodePool, Node or claim pod
wakes it; it also runs every ``RESYNC`` seconds. The meta-controller writes only
ServiceClaim and Tenant status. ``operators/__main__.py`` calls :func:`setup`.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from ..scheduling.api import NODE_POOL, SERVICE_CLAIM, TENANT
from ..scheduling.labels import CLAIM_LABEL, GROUP
from ..sdk.apply import Client, client_for
from ..sdk.conditions import now
from ..sdk.controller import Watch, register_singleton
from ..sdk.metrics import CLAIMS, TENANT_SHARE, TENANT_USAGE
from . import cycle

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-meta"
RESYNC = 30.0
KIND = "AdmissionCycle"  # the kind label of the reconcile metrics

# The lists and status writes of one cycle go out in parallel from this pool.
_POOL = ThreadPoolExecutor(16, thread_name_prefix="admission")


def client() -> Client:
    return client_for(FIELD_MANAGER)


def admission_cycle() -> cycle.Result:
    """List everything, decide, write what changed. Runs in a worker thread."""
    a = client()
    kinds = {"nodes": ("v1", "Node"), "pods": ("v1", "Pod"), "namespaces": ("v1", "Namespace"),
             "tenants": (TENANT.api_version, TENANT.kind), "pools": (NODE_POOL.api_version, NODE_POOL.kind),
             "claims": (SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind)}
    # The lists and the status writes wait on the API server, not on this process: they go out
    # together (a burst of a few hundred admissions otherwise took a write's latency each).
    listed = dict(zip(kinds, _POOL.map(lambda k: a.list_objects(*k, None, ""), kinds.values()), strict=True))
    result = cycle.run(**listed, at=now())
    bodies = {cycle.claim_key(c): c for c in listed["claims"]}
    tenant_bodies = {t["metadata"]["name"]: t for t in listed["tenants"]}

    def write(item: tuple[str, Any]) -> None:
        namespace, name = item[0].split("/", 1)
        a.patch_status(SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind, name, namespace, item[1].wire())
    list(_POOL.map(write, result.claims.items()))
    for event in result.events:
        if (body := (tenant_bodies if event.tenant else bodies).get(event.key)) is not None:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    for name, status in result.tenants.items():
        a.patch_status(TENANT.api_version, TENANT.kind, name, None, status.wire())
    _observe(result)
    if result.claims or result.tenants:
        kinds = Counter(type(d).__name__ for d in result.allocation.decisions) if result.allocation else Counter()
        log.info("admission cycle over %d claims, %d nodes: %s; wrote %d claim and %d tenant statuses",
                 len(listed["claims"]), len(listed["nodes"]),
                 ", ".join(f"{n} {k.lower()}" for k, n in sorted(kinds.items())) or "nothing to decide",
                 len(result.claims), len(result.tenants))
    return result


def _observe(result: cycle.Result) -> None:
    if result.allocation is None:
        return
    for name, usage in result.allocation.tenants.items():
        TENANT_SHARE.labels(name).set(usage.dominant_share)
        CLAIMS.labels(name, "admitted").set(usage.admitted)
        CLAIMS.labels(name, "pending").set(usage.pending)
        for resource, amount in usage.usage.items():  # cpu in millicores, the rest in base units
            TENANT_USAGE.labels(name, resource).set(amount / 1000 if resource == "cpu" else amount)


def setup() -> None:
    """Register the admission cycle: one loop for the cluster, woken by the kinds it reads."""
    register_singleton(KIND, admission_cycle, resync=RESYNC, wake_on=[
        Watch(GROUP, "v1alpha1", SERVICE_CLAIM.plural), Watch(GROUP, "v1alpha1", TENANT.plural),
        Watch(GROUP, "v1alpha1", NODE_POOL.plural), Watch("", "v1", "nodes"),
        Watch("", "v1", "pods", {CLAIM_LABEL: kopf.PRESENT})])
