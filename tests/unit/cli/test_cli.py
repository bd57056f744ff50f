"""kubectl smack without a cluster: kinds, plan-control patches, tables."""

from __future__ import annotations

import pytest

from operators.cli import CliError, control_patch, main, plan_rows, table
from operators.cli.kinds import KINDS, lookup, resolve
from operators.sdk.plans import parse_controls

PAUSE, FORCE, PROCEED = "smack.dev/plan-pause", "smack.dev/plan-force-complete", "smack.dev/plan-proceed"


@pytest.mark.parametrize(("typed", "kind"), [
    ("kc", "KafkaCluster"), ("KafkaCluster", "KafkaCluster"), ("kafkaclusters.kafka.smack.dev", "KafkaCluster"),
    ("cassdc", "CassandraDatacenter"), ("sparkapp", "SparkApplication"), ("tenant", "Tenant"),
    ("scheduledsparkapplications", "ScheduledSparkApplication"),
])
def test_resolve(typed: str, kind: str):
    assert resolve(typed).kind == kind


def test_resolve_generic_and_unknown():
    k = resolve("widgets.example.dev/v1")
    assert (k.group, k.plural, k.version) == ("example.dev", "widgets", "v1")
    with pytest.raises(ValueError, match="unknown kind"):
        resolve("nothing")


def test_every_kind_has_unique_names():
    seen: dict[str, str] = {}
    for kind in KINDS:
        for name in kind.names():
            assert seen.setdefault(name, kind.kind) == kind.kind, name


def test_lookup_paths():
    obj = {"status": {"bootstrapServers": "a:9092", "seeds": ["p-0", "p-1"],
                      "listeners": [{"name": "plain", "bootstrapServers": "a:9092"}]}}
    assert lookup(obj, "status.bootstrapServers") == "a:9092"
    assert lookup(obj, "status.seeds[]") == ["p-0", "p-1"]
    assert lookup(obj, "status.listeners[].name=bootstrapServers") == {"plain": "a:9092"}
    assert lookup(obj, "status.missing.deeper") is None
    dc = {"metadata": {"name": "dc1", "namespace": "db"},
          "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert lookup(dc, "={name}-client.{namespace}.svc:9042") == "dc1-client.db.svc:9042"
    assert lookup({"metadata": {"name": "dc1"}}, "={name}-client") is None  # not Ready yet


def test_pause_and_resume_round_trip():
    patch = control_patch({}, "pause", "update/brokers")
    assert patch == {PAUSE: "update/brokers"}
    both = control_patch(patch, "pause", "deploy")
    assert both == {PAUSE: "update/brokers,deploy"}
    assert control_patch(both, "pause", "deploy") == {}  # already paused: nothing to write
    assert parse_controls(both).paused == {"update/brokers", "deploy"}
    assert control_patch(both, "resume", "deploy") == {PAUSE: "update/brokers"}
    assert control_patch({PAUSE: "update/brokers"}, "resume", "update/brokers") == {PAUSE: None}
    # resuming a plan resumes its phases too
    assert control_patch({PAUSE: "update/brokers,update/controllers"}, "resume", "update") == {PAUSE: None}


def test_force_complete_and_proceed():
    assert control_patch({}, "force-complete", "update/brokers/kc-broker-1") == {FORCE: "update/brokers/kc-broker-1"}
    assert control_patch({PROCEED: "update/brokers=1"}, "proceed", "update/brokers", 2) == {PROCEED: "update/brokers=2"}


def test_a_bad_path_is_refused_before_writing():
    with pytest.raises(CliError, match="plan-pause"):
        control_patch({}, "pause", "Update")


def test_plan_rows_and_table():
    plans = [{"name": "update", "strategy": "Serial", "status": "InProgress", "phases": [
        {"name": "brokers", "strategy": "Serial", "status": "InProgress", "steps": [
            {"name": "kc-broker-0", "status": "Complete"},
            {"name": "kc-broker-1", "status": "Started", "message": "waiting for the pod to become Ready"}]}]}]
    rows = plan_rows(plans)
    assert rows[0] == ("update", "Serial", "InProgress", "")
    assert rows[3] == ("    kc-broker-1", "", "Started", "waiting for the pod to become Ready")
    text = table(("a", "bb"), [("x", 1), ("longer", None)])
    assert text.splitlines() == ["A        BB", "x        1", "longer"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["plan", "status", "nothing", "x"]) == 2
    assert "unknown kind" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["plan", "frobnicate"])
    assert exc.value.code == 2


def test_the_kinds_are_the_crds_with_their_short_names():
    from operators.crds import RESOURCES
    from operators.sdk.crd import crd_manifest

    by_kind = {k.kind: k for k in KINDS}
    assert set(by_kind) == {r.kind for r in RESOURCES}
    for resource in RESOURCES:
        names = crd_manifest(resource)["spec"]["names"]
        assert set(names.get("shortNames", [])) <= by_kind[resource.kind].names(), resource.kind
