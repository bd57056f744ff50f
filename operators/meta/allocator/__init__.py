"""The meta-controller's allocator: which pending claims are admitted, where, and who is preempted.

Pure: plain dataclasses in, plain dataclasses out, no Kubernetes calls. One call of
:func:`allocate` is one pass over a snapshot of the cluster; the handler writes the
decisions into ServiceClaim status and calls it again on the next change.

The package follows the pass's seams, each module with its semantics and sources:

- :mod:`.model`: the inputs (nodes, pools, tenants, claims with pod sets and Marathon
  constraints) and the outputs (decisions, tenant usage), amounts as vectors in base units;
- :mod:`.quota`: guarantees, limits, headroom and the weighted dominant share (Mesos quota, DRF);
- :mod:`.nodes`: free capacity per node, indexed per pool by free CPU; pools, taints, cordons;
- :mod:`.placement`: placing a pod set on nodes under its constraints (Marathon);
- :mod:`.preemption`: choosing victims for a guaranteed claim (YuniKorn, Kueue);
- :mod:`.allocate`: the pass itself, in weighted-DRF order.

Complexity of one pass, with C pending claims, T tenants, N nodes, P pods of a pod set, R
running claims and V preemption candidates: the DRF queue costs O(C log T); a quota check
O(depth of the tenant tree). Nodes are indexed per pool by free CPU: placing a pod set
without GROUP_BY/CLUSTER walks its pool's nodes that have enough CPU, least free first, and
stops when the pods are placed, O(N) at worst; with GROUP_BY/CLUSTER it scans the pool once
and tries O(log P) sizes. Free capacity only shrinks within a pass, so a pod set that found
no room is remembered, and any pod set needing as much or more per pod and as many or more
pods, in the same pool under the same constraints, is refused without a scan. A preemption
search costs O(R) to list candidates plus O(16 + log V + victims) placements. Nothing is
O(claims × nodes × pods).
"""

from ...scheduling.labels import FIELD_LABELS, HOSTNAME, REGION, ZONE
from ...sdk.quantities import RESOURCE_NAMES, format_amount, format_amounts, parse_amounts, to_base_units
from ...sdk.selectors import Requirement, Selector, Taint, Toleration
from .allocate import allocate
from .model import (
    OPERATORS,
    UNLIMITED,
    Admit,
    Allocation,
    Claim,
    Constraint,
    Decision,
    Node,
    Pending,
    PendingReason,
    PodSet,
    PodSetAdmission,
    Pool,
    Preempt,
    PreemptionPolicy,
    Tenant,
    TenantUsage,
    describe,
)

__all__ = [
    "FIELD_LABELS", "HOSTNAME", "OPERATORS", "REGION", "RESOURCE_NAMES", "UNLIMITED", "ZONE", "Admit", "Allocation",
    "Claim", "Constraint", "Decision", "Node", "Pending", "PendingReason", "PodSet", "PodSetAdmission", "Pool",
    "Preempt", "PreemptionPolicy", "Requirement", "Selector", "Taint", "Tenant", "TenantUsage", "Toleration",
    "allocate", "describe", "format_amount", "format_amounts", "parse_amounts", "to_base_units",
]
