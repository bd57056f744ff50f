"""Recorded Admin API results (tests/unit/data/kafka/*.json, kafka-python result shapes) as gate inputs."""

from __future__ import annotations

import json
from pathlib import Path

from operators.kafka.admin import min_isr_from_kafka_python, partitions_from_kafka_python, quorum_from_kafka_python
from operators.kafka.gates import PartitionState, QuorumState

DATA = Path(__file__).parent.parent / "data" / "kafka"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def partitions(name: str) -> tuple[list[PartitionState], int]:
    doc = load(name)
    return partitions_from_kafka_python(doc["topics"], min_isr_from_kafka_python(doc["topic_configs"])), \
        doc["broker_min_isr"]


def quorum(name: str) -> QuorumState:
    return quorum_from_kafka_python(load(name))
