"""Prometheus metrics shared by every operator (served by ``python -m operators run``).

Names follow the Prometheus naming conventions: a ``smack_`` prefix, base units
(seconds) in the name, ``_total`` for counters.
Source: prometheus.io/docs/practices/naming.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_DURATION = Histogram(
    "smack_reconcile_duration_seconds",
    "Time one reconcile of a custom resource took, in seconds.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILE_TOTAL = Counter(
    "smack_reconcile_total",
    "Reconciles of custom resources, by outcome (ok, progressing, invalid, error).",
    ["kind", "result"],
)
APPLY_TOTAL = Counter(
    "smack_child_writes_total",
    "Child objects compared with their intent, by outcome (created, updated, unchanged).",
    ["kind", "child_kind", "outcome"],
)
RESOURCES_READY = Gauge(
    "smack_resources_ready",
    "1 when the custom resource's Ready condition is True, else 0.",
    ["kind", "namespace", "name"],
)
CLAIMS = Gauge(
    "smack_claims",
    "ServiceClaims per tenant and state (admitted, pending), after the last admission cycle.",
    ["tenant", "state"],
)
TENANT_SHARE = Gauge(
    "smack_tenant_dominant_share",
    "A tenant's weighted dominant resource share (0 to 1 per unit of weight) after the last admission cycle.",
    ["tenant"],
)
STATE_TRANSITIONS = Counter(
    "smack_state_transitions_total",
    "Transitions of a custom resource's lifecycle state machine, by state left and state entered.",
    ["kind", "from_state", "to_state"],
)
STATE_DURATION = Histogram(
    "smack_state_duration_seconds",
    "Time a custom resource spent in a lifecycle state before leaving it, in seconds.",
    ["kind", "state"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
START_LATENCY = Histogram(
    "smack_start_latency_seconds",
    "Time from a custom resource's creation to the creation of its first workload pod, in seconds.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
PLAN_STATUS = Gauge(
    "smack_plan_status",
    "1 for the status a plan (phase=\"\") or one of its phases has after the last reconcile, 0 for the others.",
    ["kind", "namespace", "name", "plan", "phase", "status"],
)
STEP_DURATION = Histogram(
    "smack_rollout_step_duration_seconds",
    "Time one rollout step took, from the operator starting it (deleting the pod) to the step being "
    "Complete (the new pod Ready behind its gates), in seconds.",
    ["kind", "plan", "phase"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
GATE_BLOCKED = Counter(
    "smack_gate_blocked_total",
    "Reconcile passes in which a service's safety gate held its next step, once per distinct reason "
    "(service: kafka, cassandra; reason: a short word the service documents in docs/metrics.md).",
    ["service", "reason"],
)
TENANT_USAGE = Gauge(
    "smack_tenant_usage",
    "What a tenant's admitted claims hold (its subtree's), per resource, in base units: cpu in cores, "
    "memory and storage in bytes, pods in pods; after the last admission cycle.",
    ["tenant", "resource"],
)

# The statuses smack_plan_status reports (operators.sdk.plans.Status values).
PLAN_STATUSES = ("Pending", "Prepared", "Starting", "Started", "Complete", "Delayed", "Waiting", "InProgress",
                 "Error")
_steps_started: dict[tuple[str, str, str, str, str, str], float] = {}


def gate_blocked(service: str, reasons: Iterable[str]) -> None:
    """Count one pass held by ``service``'s gates once for each distinct reason in ``reasons``
    (smack_gate_blocked_total)."""
    for reason in dict.fromkeys(reasons):
        GATE_BLOCKED.labels(service, reason).inc()


def step_started(kind: str, namespace: str, name: str, plan: str, phase: str, step: str) -> None:
    """Note that the operator started ``step`` now (e.g. deleted its pod); :func:`observe_plans` times it.

    Kept in memory: a step in flight when the operator restarts is not timed (no sample, no error).
    """
    _steps_started.setdefault((kind, namespace, name, plan, phase, step), time.monotonic())


def observe_plans(kind: str, namespace: str, name: str, plans: Iterable[Any]) -> None:
    """Export ``status.plans`` (PlanStatus models or their wire dicts) as smack_plan_status, and observe
    smack_rollout_step_duration_seconds for each step :func:`step_started` timed that is now Complete."""
    for plan in plans:
        p = plan if isinstance(plan, dict) else plan.wire()
        for phase_name, status in [("", p["status"])] + [(ph["name"], ph["status"]) for ph in p.get("phases") or []]:
            for s in PLAN_STATUSES:
                PLAN_STATUS.labels(kind, namespace, name, p["name"], phase_name, s).set(1 if s == status else 0)
        for ph in p.get("phases") or []:
            for step in ph.get("steps") or []:
                key = (kind, namespace, name, p["name"], ph["name"], step["name"])
                if step.get("status") == "Complete" and key in _steps_started:
                    STEP_DURATION.labels(kind, p["name"], ph["name"]).observe(
                        time.monotonic() - _steps_started.pop(key))
