"""Kafka registers explicitly: importing its handlers registers nothing, ``setup(settings)`` registers the
reconcile loop and the metadata.version webhook (in a fresh interpreter: kopf's registry is process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# kopf has no public reader of its registry; these are its per-kind handler registries.
PROBE = """
import json, kopf
from operators.sdk import runtime
runtime.serve_webhooks(True)
from operators.kafka import handlers
from operators.kafka.settings import Settings
registry = kopf.get_default_registry()
def ids():
    return {kind: sorted(h.id for h in getattr(registry, kind).get_all_handlers())
            for kind in ("_watching", "_spawning", "_webhooks")}
before = ids()
handlers.setup(Settings.from_env({"SMACK_KAFKA_ADMIN": "none"}))
print(json.dumps({"before": before, "after": ids()}))
"""


def test_importing_the_handlers_registers_nothing_and_setup_registers_the_loop_and_webhook():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen["before"] == {"_watching": [], "_spawning": [], "_webhooks": []}
    after = seen["after"]
    assert {"wake-on-self", "wake-on-statefulsets-of-KafkaCluster", "wake-on-pods-of-KafkaCluster",
            "wake-on-serviceclaims-of-KafkaCluster"} <= set(after["_watching"])
    assert len(after["_spawning"]) == 1  # the reconcile daemon
    assert after["_webhooks"] == ["kafka-metadata-version", "spec-kafkaclusters"]
