from __future__ import annotations

from operators.kafka.api import KafkaClusterSpec, KafkaClusterStatus
from operators.kafka.resources import Cluster
from operators.kafka.status import derive
from operators.sdk.conditions import get_condition

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLUSTER = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({}))


def sts(ready: int, updated: int, generation: int = 1, observed: int = 1) -> dict:
    return {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": updated}}


def conds(status: KafkaClusterStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_all_pods_ready_and_current_is_ready_and_stable():
    s = derive(CLUSTER, 4, {"broker": sts(3, 3), "controller": sts(3, 3)}, KafkaClusterStatus(), at="t")
    assert conds(s) == {"Ready": ("True", "AllNodesReady"), "Progressing": ("False", "Stable")}
    assert s.version == "4.1.1"
    assert s.metadata_version == "4.1-IV1"
    assert s.observed_generation == 4
    assert all(c.observed_generation == 4 for c in s.conditions)
    assert s.bootstrap_servers == "prod-bootstrap.ns.svc:9092"


def test_missing_or_unready_pods_are_not_ready():
    s = derive(CLUSTER, 1, {"broker": sts(2, 3), "controller": None}, KafkaClusterStatus(), at="t")
    assert conds(s) == {"Ready": ("False", "NodesNotReady"), "Progressing": ("True", "Deploying")}
    assert get_condition(s.conditions, "Ready").message == "2/3 brokers ready, 0/3 controllers ready"
    assert s.version is None


def test_stale_stateful_set_status_counts_for_nothing():
    s = derive(CLUSTER, 1, {"broker": sts(3, 3, generation=2, observed=1), "controller": sts(3, 3)},
               KafkaClusterStatus(), at="t")
    assert s.brokers.ready == 0
    assert conds(s)["Ready"] == ("False", "NodesNotReady")


def test_ready_pods_on_an_old_revision_keep_the_running_version():
    previous = KafkaClusterStatus(version="4.0.1")
    s = derive(CLUSTER, 2, {"broker": sts(3, 1), "controller": sts(3, 3)}, previous, at="t")
    assert conds(s) == {"Ready": ("True", "AllNodesReady"), "Progressing": ("True", "UpdatePending")}
    assert s.version == "4.0.1"


def test_transition_time_is_kept_across_passes():
    first = derive(CLUSTER, 1, {"broker": sts(3, 3), "controller": sts(3, 3)}, KafkaClusterStatus(), at="t1")
    second = derive(CLUSTER, 1, {"broker": sts(3, 3), "controller": sts(3, 3)}, first, at="t2")
    assert second.wire() == first.wire()
