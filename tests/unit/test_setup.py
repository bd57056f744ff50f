"""Registration is explicit: importing meta's handlers registers nothing; ``operators.__main__.setup``
registers the admission cycle and each service's demand check (in a fresh interpreter, since kopf's
registry is process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# kopf has no public reader of its registry; these are its per-kind handler registries.
PROBE = """
import json, kopf
from operators.sdk import runtime
runtime.serve_webhooks(True)
import operators.meta.handlers
registry = kopf.get_default_registry()
def ids():
    return {kind: sorted(h.id for h in getattr(registry, kind).get_all_handlers())
            for kind in ("_watching", "_webhooks", "_activities")}
before = ids()
from operators.__main__ import setup
setup(["meta", "kafka"], {})
print(json.dumps({"before": before, "after": ids()}))
"""


def test_setup_registers_the_admission_cycle_and_the_demand_checks():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen["before"]["_watching"] == [] and seen["before"]["_webhooks"] == []
    after = seen["after"]
    assert {f"wake-on-{plural}-AdmissionCycle" for plural in ("serviceclaims", "tenants", "nodepools", "nodes",
                                                            "pods")} <= set(after["_watching"])
    assert "stop-AdmissionCycle" in after["_activities"]
    assert "demand-kafkaclusters" in after["_webhooks"]
