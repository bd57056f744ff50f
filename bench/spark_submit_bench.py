"""Spark submission throughput on a real control plane: SparkApplications submitted per minute.

Adds simulated nodes (kwok) to the cluster in KUBECONFIG (default: the local control plane,
started if needed), starts the meta-controller and the Spark operator (with its admission
webhook) as two local processes, as two Deployments would run them, creates SparkApplications
from a few client threads and watches their driver pods appear. For each application the latency is from the
moment its create call returned to the moment the driver pod's ADDED event arrived: the whole
path of tenant webhook, ServiceClaim, gang admission, fenced submission ID and driver creation.
Throughput is applications / (first create sent → last driver seen). Drivers are left running
(no kwok stage ends them), so every claim keeps its capacity. Cleans up afterwards.

Run: .venv/bin/python bench/spark_submit_bench.py [--apps 1000] [--nodes 20] [--clients 8]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from kubernetes import client, config, watch
from local_cluster import ROOT, kubectl, simulated_nodes, use_local_cluster


def application(name: str) -> dict:
    return {"apiVersion": "spark.smack.dev/v1alpha1", "kind": "SparkApplication", "metadata": {"name": name},
            "spec": {"type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi",
                     "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples_2.12-3.5.3.jar",
                     "arguments": ["10"],
                     "driver": {"coreRequest": "50m", "memory": "32m", "memoryOverhead": "32m"},
                     "executor": {"coreRequest": "50m", "memory": "32m", "memoryOverhead": "32m", "instances": 1}}}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8, help="threads creating applications")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # the figures show before the (long) cleanup
    use_local_cluster()
    config.load_kube_config()

    nodes = simulated_nodes(args.nodes)
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(nodes))
    ns = f"bench-spark-{int(time.time())}"
    kubectl("create", "namespace", ns)
    workdir = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    subprocess.run([str(ROOT / "hack" / "webhook-certs.sh"), str(workdir / "webhook")], check=True,
                   capture_output=True)
    log = open(workdir / "operators.log", "w")  # noqa: SIM115 - closed at the end
    common = [sys.executable, "-m", "operators", "run", "--metrics-port", "0", "--liveness-port", "0"]
    operators = [subprocess.Popen(common + ["--only", "meta"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT),
                 subprocess.Popen(common + ["--only", "spark", "--webhook-cert-dir", str(workdir / "webhook"),
                                            "--webhook-port", "19543"], cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT)]
    created: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch_drivers() -> None:
        stream = watch.Watch()
        for event in stream.stream(client.CoreV1Api().list_namespaced_pod, ns, label_selector="spark-role=driver",
                                   timeout_seconds=int(args.timeout)):
            if event["type"] == "ADDED":
                app = event["object"].metadata.labels["spark.smack.dev/app"]
                seen.setdefault(app, time.monotonic())
            if done.is_set() or len(seen) >= args.apps:
                stream.stop()

    def create(i: int) -> None:
        name = f"pi-{i:04d}"
        client.CustomObjectsApi().create_namespaced_custom_object("spark.smack.dev", "v1alpha1", ns,
                                                                  "sparkapplications", application(name))
        created[name] = time.monotonic()

    try:
        time.sleep(5)  # the operator starts and registers its webhooks
        watcher = threading.Thread(target=watch_drivers, daemon=True)
        watcher.start()
        start = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(create, range(args.apps)))
        created_in = time.monotonic() - start
        watcher.join(timeout=args.timeout)
        done.set()
        elapsed = max(seen.values(), default=time.monotonic()) - start
        latencies = [seen[name] - created[name] for name in seen if name in created]
        print(f"applications: {args.apps}, created by {args.clients} clients in {created_in:.1f}s; "
              f"nodes: {args.nodes} bench + the cluster's own")
        print(f"driver pods created: {len(seen)}/{args.apps} in {elapsed:.1f}s -> "
              f"{len(seen) / elapsed * 60:.0f} submissions/min")
        if latencies:
            p50, p90 = percentile(latencies, 50), percentile(latencies, 90)
            print(f"create -> driver pod latency: p50 {p50:.2f}s  p90 {p90:.2f}s"
                  f"  p99 {percentile(latencies, 99):.2f}s  max {max(latencies):.2f}s  "
                  f"mean {statistics.mean(latencies):.2f}s")
        print(f"operator log: {workdir / 'operators.log'}")
    finally:
        # The applications go while the operator runs: it removes its finalizers. (Polled: kubectl's
        # own wait for 1,000 deletions was seen to hang after they were all gone.)
        kubectl("delete", "sparkapplications", "--all", "-n", ns, "--wait=false")
        deadline = time.monotonic() + 600
        while kubectl("get", "sparkapplications", "-n", ns, "-o", "name").strip() and time.monotonic() < deadline:
            time.sleep(2)
        for operator in operators:
            operator.terminate()
            operator.wait(timeout=120)
        log.close()
        kubectl("delete", "namespace", ns, "--wait=false")
        kubectl("delete", "nodes", "-l", "smack.dev/bench=true", "--wait=false")


if __name__ == "__main__":
    main()
