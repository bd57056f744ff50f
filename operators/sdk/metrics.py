"""Prometheus metrics shared by every operator (served by ``python -m operators run``).

Names follow the Prometheus naming conventions: a ``smack_`` prefix, base units
(seconds) in the name, ``_total`` for counters.
Source: prometheus.io/docs/practices/naming.
"""

from __future__ import annotations

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
