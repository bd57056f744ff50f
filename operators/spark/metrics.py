"""Prometheus metrics of the Spark operator (served with the shared ones of :mod:`operators.sdk.metrics`).

Reruns and preemptions are counted apart from ``smack_state_transitions_total``: a PENDING_RERUN entered
from RUNNING is a preemption or nothing, but one entered from SUCCEEDING (restartPolicy Always) and one
from FAILING look alike there only by their source state, and a preemption under restartPolicy Never ends
FAILED like any failure. Source: prometheus.io/docs/practices/naming.
"""

from __future__ import annotations

from prometheus_client import Counter

RERUNS = Counter(
    "smack_spark_reruns_total",
    "SparkApplications queued again (PENDING_RERUN), by cause: failed (a failed run, per "
    "restartPolicy.onFailureRetries), submission_failed, preempted, always (a success under restartPolicy Always).",
    ["cause"],
)
PREEMPTIONS = Counter(
    "smack_spark_preemptions_total",
    "SparkApplications stopped because the meta-controller preempted their claim, by outcome: requeued "
    "(restartPolicy OnFailure or Always) or failed (Never).",
    ["outcome"],
)
