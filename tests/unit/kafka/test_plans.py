from __future__ import annotations

from operators.kafka.api import KafkaClusterSpec, KafkaClusterStatus
from operators.kafka.plans import derive
from operators.kafka.resources import CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION, Cluster
from operators.scheduling.claims import Grant
from operators.sdk.conditions import Condition, get_condition

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLUSTER = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({}))
GRANTS = {"broker": Grant(3, ("a", "b", "c")), "controller": Grant(3, ("a", "b", "c"))}
ADMITTED = Condition(type="Admitted", status="True", reason="Admitted", message="admitted in tenant default")


def sts(hash_: str = "h1", version: str = "4.1.1") -> dict:
    return {"metadata": {"generation": 1}, "spec": {"template": {"metadata": {"annotations": {
        CONFIG_HASH_ANNOTATION: hash_, VERSION_ANNOTATION: version}}}}}


def pod(role: str, ready: bool = True, hash_: str = "h1", version: str = "4.1.1") -> dict:
    return {"metadata": {"labels": {"kafka.smack.dev/role": role},
                         "annotations": {CONFIG_HASH_ANNOTATION: hash_, VERSION_ANNOTATION: version}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def all_pods(**overrides) -> list[dict]:
    return [pod(role, **overrides) for role in ("broker", "controller") for _ in range(3)]


def conds(status: KafkaClusterStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def derive_(pods, *, sets=None, grants=GRANTS, admission=ADMITTED, previous=None, at="t"):
    sets = sets or {"broker": sts(), "controller": sts()}
    return derive(CLUSTER, 4, stateful_sets=sets, pods=pods, grants=grants, admission=admission,
                  previous=previous or KafkaClusterStatus(), at=at)


def test_all_pods_ready_and_current_is_ready_and_stable():
    s = derive_(all_pods())
    assert conds(s) == {"Ready": ("True", "AllNodesReady"), "Admitted": ("True", "Admitted"),
                        "Progressing": ("False", "Stable")}
    assert s.version == "4.1.1"
    assert s.metadata_version == "4.1-IV1"
    assert s.observed_generation == 4
    assert all(c.observed_generation == 4 for c in s.conditions)
    assert s.bootstrap_servers == "prod-bootstrap.ns.svc:9092"
    assert (s.brokers.desired, s.brokers.admitted, s.brokers.ready, s.brokers.updated) == (3, 3, 3, 3)


def test_unready_pods_are_not_ready():
    pods = all_pods()
    pods[0] = pod("broker", ready=False)
    s = derive_(pods[:5])
    assert conds(s)["Ready"] == ("False", "NodesNotReady")
    assert conds(s)["Progressing"] == ("True", "Deploying")
    assert get_condition(s.conditions, "Ready").message == "2/3 brokers ready, 2/3 controllers ready"
    assert s.version is None


def test_claim_waiting_for_quota_shows_why():
    waiting = Condition(type="Admitted", status="False", reason="WaitingForQuota",
                        message="tenant team-a is at its limit for cpu")
    s = derive_([], grants={}, admission=waiting)
    assert conds(s) == {"Ready": ("False", "NotAdmitted"), "Admitted": ("False", "WaitingForQuota"),
                        "Progressing": ("True", "WaitingForAdmission")}
    assert "tenant team-a is at its limit for cpu" in get_condition(s.conditions, "Ready").message
    assert s.brokers.admitted == 0


def test_claim_not_yet_seen_is_unknown():
    s = derive_([], grants={}, admission=None)
    assert conds(s)["Admitted"] == ("Unknown", "Pending")


def test_partial_grant_after_scale_up_is_not_admitted():
    grants = GRANTS | {"broker": Grant(3, ("a", "b", "c"))}
    c = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({"brokers": {"replicas": 4}}))
    s = derive(c, 5, stateful_sets={"broker": sts(), "controller": sts()}, pods=all_pods(), grants=grants,
               admission=ADMITTED, previous=KafkaClusterStatus(), at="t")
    assert conds(s)["Admitted"] == ("False", "ScalingUp")
    assert get_condition(s.conditions, "Admitted").message.startswith("3/4 brokers, 3/3 controllers admitted")


def test_pods_on_an_old_config_keep_the_running_version():
    pods = all_pods()
    pods[0] = pod("broker", hash_="h0", version="4.0.1")
    s = derive_(pods, previous=KafkaClusterStatus(version="4.0.1"))
    assert conds(s)["Ready"] == ("True", "AllNodesReady")
    assert conds(s)["Progressing"] == ("True", "RollingUpdate")
    assert s.brokers.updated == 2
    assert s.version == "4.0.1"


def test_transition_time_is_kept_across_passes():
    first = derive_(all_pods(), at="t1")
    second = derive_(all_pods(), previous=first, at="t2")
    assert second.wire() == first.wire()


def test_a_version_below_the_finalized_metadata_version_is_refused():
    from operators.kafka.plans import metadata_downgrade
    assert metadata_downgrade("4.1-IV1", {"version": "4.0.1"}) == (
        "spec.version: the cluster has finalized metadata.version 4.1-IV1; 4.0.1 would need 4.0-IV3, "
        "and Kafka cannot lower metadata.version")
    assert metadata_downgrade("4.1-IV1", {"version": "4.1.1", "metadataVersion": "4.0-IV3"}).startswith(
        "spec.metadataVersion:")
    assert metadata_downgrade("4.0-IV3", {"version": "4.1.1"}) is None  # an upgrade
    assert metadata_downgrade(None, {"version": "3.9.0"}) is None  # nothing finalized yet


def named(role: str, i: int, **kw) -> dict:
    p = pod(role, **kw)
    p["metadata"]["name"] = f"prod-{role}-{i}"
    return p


def test_the_deploy_plan_shows_admission_creation_and_readiness():
    from operators.kafka.plans import deploy_plan
    grants = {"broker": Grant(2, ("a", "b")), "controller": Grant(3, ("a", "b", "c"))}
    pods = [named("controller", i) for i in range(3)] + [named("broker", 0, ready=False)]
    plan = deploy_plan(CLUSTER, pods, grants, set(), "1 of 3 brokers fit")
    brokers = {s.name: (s.status, s.message) for s in plan.phases[1].steps}
    assert plan.phases[0].status == "Complete"
    assert brokers == {"prod-broker-0": ("Started", "waiting for the pod to become Ready"),
                       "prod-broker-1": ("Starting", "waiting for the StatefulSet to create the pod"),
                       "prod-broker-2": ("Pending", "waiting for admission: 1 of 3 brokers fit")}
    assert plan.status == "InProgress"
    done = deploy_plan(CLUSTER, pods[:3], GRANTS, {f"prod-broker-{i}" for i in range(3)}, None)
    assert done.status == "Complete"  # once up, a pod's restart is the update or recovery plan's business


def test_a_waiting_canary_is_not_progressing_and_says_how_to_approve():
    from datetime import UTC, datetime

    from operators.kafka.plans import update_plan
    from operators.sdk.plans import NO_CONTROLS
    canary = Cluster("prod", "ns", UID, KafkaClusterSpec.model_validate({"rollout": {"canary": 2}}))
    pods = [named("controller", i) for i in range(3)] + [named("broker", i, hash_="old") for i in range(3)]
    sets = {"broker": sts(), "controller": sts()}
    plan, _ = update_plan(canary, sets, pods, GRANTS, NO_CONTROLS, now=datetime.now(UTC))
    s = derive(canary, 4, stateful_sets=sets, pods=pods, grants=GRANTS, admission=ADMITTED,
               previous=KafkaClusterStatus(), plan=plan, at="t")
    progressing = get_condition(s.conditions, "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "CanaryWaiting")
    assert "smack.dev/plan-proceed=update/brokers=1" in progressing.message
