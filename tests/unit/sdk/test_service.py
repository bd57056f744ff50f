"""The service chassis: status writes, refused specs, plan controls, Ready reporting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from operators.kafka.api import KAFKA_CLUSTER, KafkaClusterSpec, KafkaClusterStatus
from operators.sdk.apply import Outcome
from operators.sdk.conditions import Condition
from operators.sdk.plans import HALT
from operators.sdk.service import ServiceContext

BODY = {"metadata": {"name": "prod", "namespace": "ns", "generation": 4, "uid": "u1",
                     "annotations": {"smack.dev/plan-proceed": "update/brokers"}}}


@dataclass
class RecordingClient:
    """The calls a ServiceContext makes, with canned answers (a unit test of the chassis, not of the API)."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    outcome: Outcome = Outcome.UNCHANGED

    def apply(self, manifest: dict[str, Any]) -> tuple[Outcome, dict[str, Any]]:
        self.calls.append(("apply", manifest["metadata"]["name"]))
        return self.outcome, manifest

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str, status: dict[str, Any],
                     **options: Any) -> None:
        self.calls.append(("patch_status", status))

    def patch_metadata(self, api_version: str, kind: str, name: str, namespace: str, *, annotations: Any) -> None:
        self.calls.append(("patch_metadata", annotations))


@dataclass
class Captured:
    posted: list[tuple[str, str]] = field(default_factory=list)

    def info(self, reason: str, message: str) -> None:
        self.posted.append((reason, message))

    def warn(self, reason: str, message: str) -> None:
        self.posted.append((reason, message))


def context(client: RecordingClient) -> tuple[ServiceContext, Captured]:
    rec = Captured()
    return ServiceContext(client, KAFKA_CLUSTER, BODY, rec), rec  # type: ignore[arg-type]


def test_nothing_is_written_when_the_status_did_not_change() -> None:
    client = RecordingClient()
    ctx, _ = context(client)
    status = KafkaClusterStatus(observed_generation=3)
    assert ctx.write_status(status, status.model_copy()) is False
    assert client.calls == []


def test_a_changed_status_is_a_merge_patch_that_also_removes_dropped_fields() -> None:
    client = RecordingClient()
    ctx, _ = context(client)
    before = KafkaClusterStatus(observed_generation=3, bootstrap_servers="prod-bootstrap:9092")
    assert ctx.write_status(before, KafkaClusterStatus(observed_generation=4))
    assert client.calls == [("patch_status", {"observedGeneration": 4, "bootstrapServers": None})]


def test_a_refused_spec_names_the_field_and_touches_nothing_else() -> None:
    client = RecordingClient()
    ctx, rec = context(client)
    try:
        KafkaClusterSpec.model_validate({"brokers": {"replicas": 0}})
    except ValidationError as exc:
        result = ctx.refuse_spec(KafkaClusterStatus(), exc)
    assert result.outcome == "invalid"
    [(verb, patch)] = client.calls
    assert verb == "patch_status" and patch["conditions"][0]["reason"] == "InvalidSpec"
    assert rec.posted[0][0] == "InvalidSpec" and "spec.brokers.replicas" in rec.posted[0][1]


def test_a_new_update_target_drops_the_last_updates_proceed() -> None:
    client = RecordingClient()
    ctx, rec = context(client)
    controls = ctx.plan_controls("old-revision", "new-revision", halted="no pod is restarted until it is fixed")
    assert ("patch_metadata", {"smack.dev/plan-proceed": None}) in client.calls
    assert [r for r, _ in rec.posted] == ["PlanControlsReset"] and controls != HALT


def test_an_unreadable_control_halts_and_says_what_waits() -> None:
    client = RecordingClient()
    rec = Captured()
    body = BODY | {"metadata": BODY["metadata"] | {"annotations": {"smack.dev/plan-proceed": "update/brokers=x"}}}
    ctx = ServiceContext(client, KAFKA_CLUSTER, body, rec)  # type: ignore[arg-type]
    assert ctx.plan_controls(None, "r1", halted="no step starts until it is fixed") == HALT
    assert rec.posted[0][0] == "InvalidPlanControl" and rec.posted[0][1].endswith("no step starts until it is fixed")


def test_ready_is_announced_once_when_it_turns_true() -> None:
    ctx, rec = context(RecordingClient())
    ready = KafkaClusterStatus(conditions=[Condition(type="Ready", status="True", reason="Ready", message="3/3")])
    ctx.report(KafkaClusterStatus(), ready, ready_reason="ClusterReady", ready_detail="bootstrap prod:9092")
    ctx.report(ready, ready, ready_reason="ClusterReady", ready_detail="bootstrap prod:9092")
    assert rec.posted == [("ClusterReady", "3/3; bootstrap prod:9092")]


def test_a_created_child_is_an_event() -> None:
    ctx, rec = context(RecordingClient(outcome=Outcome.CREATED))
    ctx.apply_child({"kind": "Service", "metadata": {"name": "prod-nodes"}})
    assert rec.posted == [("ServiceCreated", "Created Service prod-nodes")]


def test_a_field_stored_under_its_old_name_is_read_under_the_new_and_removed_on_write() -> None:
    client = RecordingClient()
    stored = {"updateTarget": "r1", "dynamicConfig": "h1", "observedGeneration": 3}
    ctx = ServiceContext(client, KAFKA_CLUSTER, BODY | {"status": stored}, Captured())  # type: ignore[arg-type]
    previous = KafkaClusterStatus.model_validate(stored)
    assert (previous.update_revision, previous.dynamic_config_hash) == ("r1", "h1")
    assert ctx.write_status(previous, previous.model_copy(update={"observed_generation": 4}))
    assert client.calls == [("patch_status", {"observedGeneration": 4, "updateTarget": None, "dynamicConfig": None})]


def test_the_crd_keeps_the_old_names_until_they_are_read() -> None:
    from operators.sdk.crd import crd_manifest

    status = crd_manifest(KAFKA_CLUSTER)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["updateTarget"]["description"].startswith("Deprecated: read as updateRevision")
    assert "updateRevision" in status["properties"]
