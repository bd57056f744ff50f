"""The real nodes (hack/nodes-up.sh): how long they take to come up, what they cost, how fast a pod starts.

    python bench/real_nodes_bench.py [--recreate] [--pods N]

Prints, for the local control plane of this clone (.cluster/):

* ``hack/cluster-up.sh`` with real nodes: new (``--recreate``: ``hack/cluster-down.sh`` first, so the
  control plane, the three nodes and the image imports all start from nothing; binaries and images
  stay cached) and already running (what a second ``make cluster-up`` costs);
* the memory (VmRSS and PSS, MiB) of each real-node process, by the pids nodes-up.sh recorded in
  /run/smack, and of the containerd shims (their RSS counts the shared binary once per shim; PSS
  does not), with the pods below running;
* pod start: ``kubectl apply`` → Ready, as ``kubectl wait`` sees it, for one pod on each node in turn,
  then for N pods at once (a StatefulSet spread over the three nodes).

Needs root (it reads /proc of root's processes) and a host that runs real nodes; figures only, no
assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from local_cluster import ROOT, kubectl

RUN = Path("/run/smack")
NS = "bench-real"
TOLERATE = {"nodeSelector": {"type": "real"},
            "tolerations": [{"key": "type", "value": "real", "effect": "NoSchedule"}]}


def cluster_up() -> float:
    """Seconds for hack/cluster-up.sh; exports its KUBECONFIG."""
    start = time.monotonic()
    out = subprocess.run(["hack/cluster-up.sh"], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True,
                         env=dict(os.environ, SMACK_REAL_NODES="1")).stdout
    os.environ["KUBECONFIG"] = out.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
    return time.monotonic() - start


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    """Proportional set size: shared pages divided among the processes that map them."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def component_memory() -> dict[str, tuple[float, float]]:
    """(VmRSS, PSS) in MiB of every process nodes-up.sh started, by name, and of the shims in all."""
    out = {}
    for f in sorted(RUN.glob("*.pid")):
        pid = int(f.read_text())
        out[f.stem] = (rss_mib(pid), pss_mib(pid))
    shims = [int(p) for p in subprocess.run(["pgrep", "-f", f"containerd-shim-runc-v2 .*-address {RUN}/real-"],
                                            capture_output=True, text=True).stdout.split()]
    out[f"containerd shims ({len(shims)})"] = (sum(map(rss_mib, shims)), sum(map(pss_mib, shims)))
    return out


def pod(name: str, node: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": {
        **TOLERATE, "terminationGracePeriodSeconds": 1,
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
        "containers": [{"name": "main", "image": "smack-base:bookworm", "imagePullPolicy": "Never",
                        "command": ["sleep", "infinity"]}]}})


def timed_ready(manifest: str, target: str, timeout: str = "180s") -> float:
    start = time.monotonic()
    kubectl("apply", "-f", "-", input=manifest)
    kubectl("wait", "-n", NS, target, "--for=condition=Ready", f"--timeout={timeout}")
    return time.monotonic() - start


def burst(count: int) -> float:
    """Seconds from applying a StatefulSet of ``count`` pods (Parallel) to all of them Ready."""
    labels = {"app": "burst"}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "burst", "namespace": NS},
           "spec": {"replicas": count, "serviceName": "burst", "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                        **TOLERATE, "terminationGracePeriodSeconds": 1,
                        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                       "whenUnsatisfiable": "DoNotSchedule",
                                                       "labelSelector": {"matchLabels": labels}}],
                        "containers": [{"name": "main", "image": "smack-base:bookworm", "imagePullPolicy": "Never",
                                        "command": ["sleep", "infinity"]}]}}}}
    start = time.monotonic()
    kubectl("apply", "-f", "-", input=json.dumps(sts))
    kubectl("rollout", "status", "-n", NS, "statefulset/burst", "--timeout=300s")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recreate", action="store_true", help="cluster-down first: time a new cluster")
    parser.add_argument("--pods", type=int, default=30, help="pods in the burst (default 30)")
    args = parser.parse_args()
    os.environ.pop("KUBECONFIG", None)  # this clone's local cluster, whatever the shell had
    if args.recreate:
        subprocess.run(["hack/cluster-down.sh"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"cluster-up, new cluster with real nodes:     {cluster_up():6.1f} s", flush=True)
    print(f"cluster-up, already running:                 {cluster_up():6.1f} s", flush=True)
    if not kubectl("get", "nodes", "-l", "type=real", "-o", "name").split():
        sys.exit("no real nodes in this cluster")
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true")
    kubectl("create", "namespace", NS)
    for _ in range(60):
        if kubectl("get", "serviceaccount", "default", "-n", NS, check=False):
            break
        time.sleep(0.5)
    singles = [timed_ready(pod(f"one-{n}", f"real-{n}"), f"pod/one-{n}") for n in "abc"]
    print("pod apply → Ready, one at a time (a, b, c): " + ", ".join(f"{s:.1f} s" for s in singles))
    print(f"{args.pods} pods at once (StatefulSet, Parallel) → all Ready: {burst(args.pods):.1f} s", flush=True)
    memory = component_memory()
    print(f"memory with {args.pods + 3} pods running (MiB):   RSS      PSS")
    for name, (rss, pss) in memory.items():
        print(f"  {name:<24} {rss:7.1f}  {pss:7.1f}")
    per_node = [memory[f"kubelet-{n}"][0] + memory[f"containerd-{n}"][0] for n in "abc"]
    print(f"  kubelet + containerd RSS per node: median {statistics.median(per_node):.1f}")
    kubectl("delete", "namespace", NS, "--wait=false")


if __name__ == "__main__":
    main()
