"""Cassandra datacenters on a real control plane: time to bring up and to upgrade, and the operator's cost per step.

For each size, starts the Cassandra operator (with the meta-controller, and SMACK_CASSANDRA_PROBE=none:
no Cassandra runs on kwok nodes, so the gates read pod readiness and nodetool operations are recorded)
against the cluster in KUBECONFIG (default: the local control plane, started if needed), then:

* bring-up: ``kubectl apply`` of a datacenter of N nodes over three racks until Ready and every plan
  Complete (N bootstrap steps, one node at a time);
* upgrade: ``serverVersion`` 4.1.9 -> 5.0.5 until every node runs it and every plan is Complete
  (N drain+restart steps rack by rack, then N upgradesstables steps);
* overhead: the operator's reconcile time (its smack_reconcile_duration_seconds histogram, which measures
  the handler, API calls included) divided by the plan steps taken, and the reconcile passes per step.

Times are observed through the API (polling every 0.25 s). Cleans up the namespaces afterwards.
Run: .venv/bin/python bench/cassandra_e2e_bench.py [--sizes 6,12,24]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from local_cluster import ROOT, free_port, kubectl, use_local_cluster

STEP_REASONS = ("BootstrappingNode", "RestartingNode", "UpgradedSSTables", "CleanedUpNode", "DecommissionedNode")


def reconcile_seconds(port: int) -> tuple[float, int]:
    """(sum, count) of the operator's CassandraDatacenter reconcile durations."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = re.search(r'smack_reconcile_duration_seconds_sum\{kind="CassandraDatacenter"\} (\S+)', text)
    count = re.search(r'smack_reconcile_duration_seconds_count\{kind="CassandraDatacenter"\} (\S+)', text)
    return (float(total[1]), int(float(count[1]))) if total and count else (0.0, 0)


def settled(ns: str, version: str, start: float, timeout: float = 900) -> float:
    while time.monotonic() - start < timeout:
        obj = json.loads(kubectl("-n", ns, "get", "cassandradatacenter", "dc", "-o", "json"))
        status = obj.get("status") or {}
        conds = {c["type"]: c for c in status.get("conditions", [])}
        if (conds.get("Ready", {}).get("status") == "True" and conds.get("Progressing", {}).get("reason") == "Stable"
                and status.get("version") == version
                and status.get("observedGeneration") == obj["metadata"]["generation"]):
            return time.monotonic() - start
        time.sleep(0.25)
    raise TimeoutError(f"datacenter in {ns} did not settle at {version} within {timeout}s")


def steps(ns: str) -> int:
    items = json.loads(kubectl("-n", ns, "get", "events", "-o", "json"))["items"]
    return sum(e.get("count", 1) for e in items if e["reason"] in STEP_REASONS)


def run(size: int, metrics_port: int) -> dict[str, float]:
    ns = f"bench-cass-{size}-{int(time.time())}"
    kubectl("create", "namespace", ns)
    manifest = {"apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter",
                "metadata": {"name": "dc", "namespace": ns},
                "spec": {"clusterName": "bench", "size": size, "serverVersion": "4.1.9",
                         "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}}}
    try:
        seconds0, passes0 = reconcile_seconds(metrics_port)
        start = time.monotonic()
        kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
        up = settled(ns, "4.1.9", start)
        steps_up = steps(ns)
        seconds1, passes1 = reconcile_seconds(metrics_port)
        start = time.monotonic()
        kubectl("-n", ns, "patch", "cassandradatacenter", "dc", "--type=merge", "-p",
                '{"spec":{"serverVersion":"5.0.5"}}')
        upgrade = settled(ns, "5.0.5", start)
        seconds2, passes2 = reconcile_seconds(metrics_port)
        steps_upgrade = steps(ns) - steps_up
    finally:
        kubectl("delete", "namespace", ns, "--wait=false")
    return {"up": up, "steps_up": steps_up, "upgrade": upgrade, "steps_upgrade": steps_upgrade,
            "cpu_up": (seconds1 - seconds0) / steps_up, "passes_up": (passes1 - passes0) / steps_up,
            "cpu_upgrade": (seconds2 - seconds1) / steps_upgrade, "passes_upgrade": (passes2 - passes1) / steps_upgrade}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="6,12,24")
    args = parser.parse_args()
    use_local_cluster()
    port = free_port()
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115 - kept for reading
    certs = Path(tempfile.mkdtemp()) / "webhook"  # the admission webhooks need a serving certificate
    subprocess.run([str(ROOT / "hack" / "webhook-certs.sh"), str(certs)], check=True, capture_output=True)
    env = dict(os.environ, SMACK_CASSANDRA_PROBE="none")
    operator = subprocess.Popen([sys.executable, "-m", "operators", "run", "--only", "meta,cassandra",
                                 "--metrics-port", str(port), "--liveness-port", "0", "--bind-address", "127.0.0.1",
                                 "--webhook-cert-dir", str(certs), "--webhook-port", str(free_port())],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:  # until the operator serves its metrics
            try:
                reconcile_seconds(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print(f"{'nodes':>5} {'bring-up':>9} {'steps':>5} {'per step':>8} {'upgrade':>8} {'steps':>5} {'per step':>8}"
              f" {'reconcile/step (up, upgrade)':>29} {'passes/step':>12}")
        for size in (int(s) for s in args.sizes.split(",")):
            r = run(size, port)
            print(f"{size:>5} {r['up']:>8.1f}s {r['steps_up']:>5} {r['up'] / r['steps_up']:>7.2f}s "
                  f"{r['upgrade']:>7.1f}s {r['steps_upgrade']:>5} {r['upgrade'] / r['steps_upgrade']:>7.2f}s "
                  f"{r['cpu_up'] * 1000:>13.0f}ms {r['cpu_upgrade'] * 1000:>6.0f}ms "
                  f"{r['passes_up']:>5.1f} {r['passes_upgrade']:>5.1f}")
    finally:
        operator.terminate()
        operator.wait(timeout=60)
    print(f"(operator log: {log.name}; SMACK_CASSANDRA_PROBE=none: readiness gates, nodetool steps simulated)")


if __name__ == "__main__":
    main()
