from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operators.kafka.resources import CONFIG_HASH_ANNOTATION, VERSION_ANNOTATION
from operators.sdk.rollout import PodView, controller_lag, pod_step, restart_allowed

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WANTED = {CONFIG_HASH_ANNOTATION: "new", VERSION_ANNOTATION: "4.1.1"}


def pod(name: str, *, role: str = "broker", hash_: str = "new", ready: bool = True, deleting: bool = False,
        age: float = 60) -> dict:
    meta = {"name": name, "labels": {"kafka.smack.dev/role": role},
            "annotations": {CONFIG_HASH_ANNOTATION: hash_, VERSION_ANNOTATION: "4.1.1"},
            "creationTimestamp": (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if deleting:
        meta["deletionTimestamp"] = NOW.isoformat()
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def view(p: dict) -> PodView:
    return PodView.of(p, WANTED)


def test_pod_steps_follow_what_the_cluster_shows():
    step = lambda p: pod_step("b", None if p is None else view(p), now=NOW, timeout=300)  # noqa: E731
    assert step(None).status == "Starting"
    assert step(pod("b", deleting=True)).status == "Starting"
    assert step(pod("b", hash_="old")).status == "Pending"
    assert step(pod("b")).status == "Complete"
    assert step(pod("b", ready=False, age=10)).status == "Started"
    stuck = step(pod("b", ready=False, age=400))
    assert stuck.status == "Error" and "not Ready 400s after it started (timeout 300s)" in stuck.message


def test_restart_waits_until_every_other_pod_is_ready():
    views = [view(pod("a")), view(pod("b", hash_="old")), view(pod("c", ready=False))]
    assert restart_allowed("b", views) == ["c is not Ready"]
    assert restart_allowed("c", views) == []
    assert restart_allowed("a", [view(pod("a")), view(pod("b", deleting=True))]) == ["b is not Ready"]


def test_restart_and_replace_requests_make_a_current_pod_pending():
    restart = pod("b")
    restart["metadata"]["annotations"]["smack.dev/restart"] = "true"
    replace = pod("c")
    replace["metadata"]["annotations"]["smack.dev/replace"] = "true"
    assert (view(restart).requested, view(replace).requested, view(pod("a")).requested) == ("restart", "replace", None)
    step = pod_step("b", view(restart), now=NOW, timeout=300)
    assert (step.status, step.message) == ("Pending", "restart requested by annotation")


def test_a_restart_waits_for_the_stateful_set_controller_to_observe_the_latest_spec():
    sts = {"metadata": {"name": "web", "generation": 3}, "status": {"observedGeneration": 2}}
    assert controller_lag(sts) == "StatefulSet web: the controller has not observed generation 3 yet"
    assert controller_lag({"metadata": {"name": "web", "generation": 3}, "status": {}}) is not None
    assert controller_lag({"metadata": {"name": "web", "generation": 3}, "status": {"observedGeneration": 3}}) is None
    assert controller_lag(None) is None


def test_restart_reasons_are_a_closed_vocabulary_with_their_notes():
    from operators.sdk.rollout import RestartReason
    outdated = PodView.of(pod("a", hash_="old"), WANTED)
    requested = PodView.of(pod("b") | {"metadata": pod("b")["metadata"] | {"annotations": {
        **pod("b")["metadata"]["annotations"], "smack.dev/replace": "true"}}}, WANTED)
    assert (outdated.restart_reason, requested.restart_reason, view(pod("c")).restart_reason) == (
        RestartReason.OUTDATED, RestartReason.REPLACE_REQUESTED, None)
    assert [(r.value, r.step_note, r.note) for r in RestartReason] == [
        ("outdated", "runs an older config or version", "to apply the current config and version"),
        ("restart", "restart requested by annotation", "restart requested"),
        ("replace", "replace requested by annotation", "replace requested")]
