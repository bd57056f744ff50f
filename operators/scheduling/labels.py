"""Names of the scheduling contract: the API group, the labels on claim pods, and the
constraint fields.

Every pod that holds a claim's capacity carries :data:`CLAIM_LABEL` (the claim's name) and
:data:`POD_SET_LABEL` (its pod set), so the meta-controller can tell which pods hold what.
Constraint fields follow Marathon (docs/docs/constraints.md): ``@hostname`` is the node,
``@zone`` and ``@region`` are the well-known ``topology.kubernetes.io`` node labels, and any
other field is a node label key.
"""

from __future__ import annotations

GROUP = "scheduling.smack.dev"
CLAIM_LABEL = f"{GROUP}/claim"
POD_SET_LABEL = f"{GROUP}/pod-set"

HOSTNAME, ZONE, REGION = "@hostname", "@zone", "@region"
# Marathon's @-fields on Kubernetes nodes; @hostname is the node's name (and its hostname label).
FIELD_LABELS = {ZONE: "topology.kubernetes.io/zone", REGION: "topology.kubernetes.io/region"}
HOSTNAME_LABEL = "kubernetes.io/hostname"
