"""What the end-to-end benchmarks share: kubectl, the local control plane, simulated nodes, free ports.

The benchmarks run as scripts (``python bench/<name>.py``), so this module is imported by its name.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KUBE_BIN = subprocess.check_output(["bash", "-c", ". hack/lib.sh && echo $KUBE_BIN"], cwd=ROOT, text=True).strip()
BENCH_LABEL = "smack.dev/bench"  # on every node a benchmark adds, for its cleanup


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    """Run kubectl (the KUBECONFIG of the environment) and return its stdout.

    Raises RuntimeError with kubectl's stderr when it fails and ``check`` is set.
    """
    proc = subprocess.run([f"{KUBE_BIN}/kubectl", *args], input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def use_local_cluster() -> str:
    """The cluster in KUBECONFIG, else the local control plane (started with hack/cluster-up.sh and
    exported as KUBECONFIG); with the project's CRDs applied. Returns the kubeconfig path."""
    if not os.environ.get("KUBECONFIG"):
        out = subprocess.run(["hack/cluster-up.sh"], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
        os.environ["KUBECONFIG"] = out.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return os.environ["KUBECONFIG"]


def simulated_nodes(count: int, prefix: str = "bench") -> list[dict]:
    """``count`` kwok Node manifests of 32 CPU, 128Gi and 110 pods each, round-robin over zone-a/b/c,
    labelled ``smack.dev/bench=true``."""
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return [{"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": f"{prefix}-{i}", "annotations": {"kwok.x-k8s.io/node": "fake"},
        "labels": {"kubernetes.io/hostname": f"{prefix}-{i}", "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}",
                   "type": "kwok", BENCH_LABEL: "true"}},
        "status": {"allocatable": capacity, "capacity": capacity}} for i in range(count)]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
