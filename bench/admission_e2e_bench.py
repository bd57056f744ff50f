"""End-to-end admission throughput on a real control plane: claims admitted per minute.

Adds simulated nodes (kwok) to the cluster in KUBECONFIG (default: the local control
plane, started if needed), starts the meta-controller as a local process, creates
ServiceClaims in one batch and prints how long the meta-controller took to admit them
all, from the first create to the last Admitted condition, as observed through the API.
Cleans up the nodes and the namespace afterwards.

Run: .venv/bin/python bench/admission_e2e_bench.py [--nodes 120] [--claims 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import yaml
from local_cluster import ROOT, kubectl, simulated_nodes, use_local_cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=120)
    parser.add_argument("--claims", type=int, default=1000)
    args = parser.parse_args()
    use_local_cluster()

    nodes = simulated_nodes(args.nodes)
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(nodes))
    ns = f"bench-{int(time.time())}"
    kubectl("create", "namespace", ns)
    claims = [{"apiVersion": "scheduling.smack.dev/v1alpha1", "kind": "ServiceClaim",
               "metadata": {"name": f"c{i}", "namespace": ns},
               "spec": {"podSets": [{"name": "p", "count": 1 + i % 3, "requests": {"cpu": "500m", "memory": "1Gi"},
                                     "constraints": [{"field": "@hostname", "operator": "UNIQUE"}]}]}}
              for i in range(args.claims)]
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115 - kept for reading
    operator = subprocess.Popen([sys.executable, "-m", "operators", "run", "--only", "meta", "--metrics-port", "0",
                                 "--liveness-port", "0"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        start = time.monotonic()
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(claims))
        created = time.monotonic() - start
        admitted = 0
        while admitted < args.claims and time.monotonic() - start < 600:
            items = json.loads(kubectl("get", "serviceclaims", "-n", ns, "-o", "json"))["items"]
            admitted = sum(any(c["type"] == "Admitted" and c["status"] == "True"
                               for c in (i.get("status") or {}).get("conditions", [])) for i in items)
            time.sleep(0.5)
        elapsed = time.monotonic() - start
    finally:
        operator.terminate()
        operator.wait(timeout=60)
        kubectl("delete", "namespace", ns, "--wait=false")
        kubectl("delete", "nodes", "-l", "smack.dev/bench=true", "--wait=false")
    pods = sum(1 + i % 3 for i in range(args.claims))
    print(f"nodes: {args.nodes} (+ the cluster's own), claims: {args.claims} ({pods} pods), "
          f"kubectl create: {created:.1f}s")
    print(f"admitted: {admitted}/{args.claims} in {elapsed:.1f}s -> {admitted / elapsed * 60:.0f} claims/min "
          f"(operator log: {log.name})")


if __name__ == "__main__":
    main()
