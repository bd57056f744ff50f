"""kopf wiring for the meta-controller: watch, run an admission cycle, write statuses.

One cycle runs at a time for the whole cluster (the allocator needs every claim and
every node at once). Any change to a ServiceClaim, Tenant, NodePool, Node or claim pod
wakes it; it also runs every ``RESYNC`` seconds. The meta-controller writes only
ServiceClaim and Tenant status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from ..sdk.apply import Applier, applier_for
from ..sdk.conditions import now
from ..sdk.controller import WAKE_PREFIX
from ..sdk.metrics import CLAIMS, RECONCILE_DURATION, RECONCILE_TOTAL, TENANT_SHARE, TENANT_USAGE
from . import cycle
from .api import GROUP, NODE_POOL, SERVICE_CLAIM, TENANT

log = logging.getLogger(__name__)
FIELD_MANAGER = "smack-operators-meta"
RESYNC = 30.0
KIND = "AdmissionCycle"

_wake = asyncio.Event()
_POOL = ThreadPoolExecutor(16, thread_name_prefix="admission")


def applier() -> Applier:
    return applier_for(FIELD_MANAGER)


def admission_cycle() -> cycle.Result:
    """List everything, decide, write what changed. Runs in a worker thread."""
    a = applier()
    kinds = {"nodes": ("v1", "Node"), "pods": ("v1", "Pod"), "namespaces": ("v1", "Namespace"),
             "tenants": (TENANT.api_version, TENANT.kind), "pools": (NODE_POOL.api_version, NODE_POOL.kind),
             "claims": (SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind)}
    # The lists and the status writes wait on the API server, not on this process: they go out
    # together (a burst of a few hundred admissions otherwise took a write's latency each).
    listed = dict(zip(kinds, _POOL.map(lambda k: a.list_objects(*k, None, ""), kinds.values()), strict=True))
    result = cycle.run(**listed, at=now())
    bodies = {cycle.claim_key(c): c for c in listed["claims"]}

    def write(item: tuple[str, Any]) -> None:
        namespace, name = item[0].split("/", 1)
        a.patch_status(SERVICE_CLAIM.api_version, SERVICE_CLAIM.kind, name, namespace, item[1].wire())
    list(_POOL.map(write, result.claims.items()))
    for event in result.events:
        if event.key in bodies:
            kopf.event(bodies[event.key], type=event.type, reason=event.reason, message=event.message)
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


async def _loop(stopped: asyncio.Event) -> None:
    while not stopped.is_set():
        _wake.clear()
        started = time.monotonic()
        try:
            await asyncio.to_thread(admission_cycle)
            RECONCILE_TOTAL.labels(KIND, "ok").inc()
            delay = RESYNC
        except Exception:
            RECONCILE_TOTAL.labels(KIND, "error").inc()
            log.exception("admission cycle failed; retrying in 5s")
            delay = 5.0
        finally:
            RECONCILE_DURATION.labels(KIND).observe(time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wake.wait(), timeout=delay)
        await asyncio.sleep(0.2)  # coalesce a burst of watch events into one cycle


_task: asyncio.Task[None] | None = None
_stopped = asyncio.Event()


async def _on_change(**_: Any) -> None:
    """Wake the cycle. The cycle task starts on the first watch event: kopf's event posting is
    set up for tasks started from its handlers, not from startup activities."""
    global _task
    if _task is None:
        _task = asyncio.create_task(_loop(_stopped))
    _wake.set()


@kopf.on.cleanup()
async def _stop(**_: Any) -> None:
    _stopped.set()
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _task


for _group, _version, _plural, _labels in (
        (GROUP, "v1alpha1", SERVICE_CLAIM.plural, None),
        (GROUP, "v1alpha1", TENANT.plural, None),
        (GROUP, "v1alpha1", NODE_POOL.plural, None),
        ("", "v1", "nodes", None),
        ("", "v1", "pods", {cycle.CLAIM_LABEL: kopf.PRESENT})):
    kopf.on.event(_group, _version, _plural, id=f"{WAKE_PREFIX}{_plural}-meta", labels=_labels)(_on_change)
