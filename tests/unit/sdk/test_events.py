"""The per-pass event recorder and the external-operation helper."""

from __future__ import annotations

from dataclasses import dataclass, field

from operators.sdk.events import run_operation


@dataclass
class Captured:
    """A Recorder stand-in that keeps what would have been posted."""

    posted: list[tuple[str, str, str]] = field(default_factory=list)

    def info(self, reason: str, message: str) -> None:
        self.posted.append(("Normal", reason, message))

    def warn(self, reason: str, message: str) -> None:
        self.posted.append(("Warning", reason, message))


def test_a_successful_operation_is_a_normal_event_with_its_note() -> None:
    rec = Captured()
    assert run_operation(rec, "metadata.version 4.0-IV3 -> 4.1-IV1", "MetadataVersionRaised", lambda: None,
                         note="(simulated: SMACK_KAFKA_ADMIN=none)")
    assert rec.posted == [("Normal", "MetadataVersionRaised",
                           "metadata.version 4.0-IV3 -> 4.1-IV1 (simulated: SMACK_KAFKA_ADMIN=none)")]


def test_a_failed_operation_is_a_warning_and_returns_false() -> None:
    def refuse() -> None:
        raise RuntimeError("InvalidConfigurationError")

    rec = Captured()
    assert not run_operation(rec, "nodetool drain on dc1-r1-0", "DrainedNode", refuse)
    assert rec.posted == [("Warning", "DrainedNodeFailed", "nodetool drain on dc1-r1-0: InvalidConfigurationError")]
