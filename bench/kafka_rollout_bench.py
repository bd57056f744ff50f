"""End-to-end Kafka operator benchmarks on a real control plane: rolling upgrades, writes at rest, memory.

Adds simulated nodes (kwok) to the cluster in KUBECONFIG (default: the local control
plane, started with hack/cluster-up.sh if needed), starts the meta and Kafka operators
as a local process (``SMACK_KAFKA_ADMIN=none``: no broker runs, the Admin API steps are
recorded, not sent) and measures, as observed through the API:

* ``upgrade``: for each N in ``--brokers`` a KafkaCluster of 3 controllers and N brokers
  at ``--from-version`` is made Ready, then spec.version is patched to ``--to-version``.
  Total time (seconds) = from the patch to the first poll (every 0.2 s) that shows
  status.version == the new version with Progressing=False/Stable for the new generation
  (the 3 controllers restart first, then the N brokers, then metadata.version is raised).
  A watch on the namespace's pods (kubernetes client, in a thread) stamps every event with
  the wall clock when this process receives it; per pod we keep the first event showing
  its deletionTimestamp and the first event showing the replacement pod (same name, new
  uid) Ready=True. The deletions sorted by time make the steps (consecutive deletions of
  one name are one step: kwok deletes pods by name and now and then also deletes the
  StatefulSet's fresh replacement; the operator's own deletes are counted from its
  RestartingPod Events). Step k's operator overhead (seconds) = first deletion seen of
  pod k+1 - Ready seen of pod k's replacement: the operator's watch latency, its 0.2 s
  event coalescing, one reconcile (9 GETs, a pod LIST, a status PATCH) and the DELETE.
  "pod restart" = Ready seen of the replacement - deletion seen (kwok, the StatefulSet
  controller and the scheduler; no Kafka process starts). Both watch-observed times
  share the same delivery delay, so the differences are not biased by it.
* ``idle-writes``: a Ready cluster (3 controllers, 3 brokers) is left alone, then
  ``--pokes`` reconciles are triggered by a no-op annotation on the KafkaCluster (a
  MODIFIED event wakes the worker, operators/sdk/controller.py), then the script waits
  ``--resync-wait`` seconds so the 60 s resync fires too. Reported: reconciles run
  (``smack_reconcile_total``), ``smack_child_writes_total`` created+updated deltas, objects
  in the namespace whose resourceVersion changed (StatefulSets, ConfigMaps, Services,
  PodDisruptionBudgets, ServiceClaims, pods, PVCs), writes to the KafkaCluster other than
  the annotations themselves, and new Events about it. All must be zero.
* ``memory``: a fresh operator process; VmRSS (MiB, /proc/<pid>/status) at rest, then
  ``--clusters`` small KafkaClusters (1 controller, 1 broker: the smallest valid spec) are
  created in one namespace; VmRSS once all are Ready, and again after a 10 s settle
  (VmHWM: the peak).

The machine may be shared (e.g. 2 cores with other clusters): timings are noisy, compare
them only within one run. Cleans up the namespaces and nodes afterwards.

Run: .venv/bin/python bench/kafka_rollout_bench.py [--mode upgrade|idle-writes|memory|all] [--brokers 3,9,27]
     [--clusters 50] [--trace DIR]     (or make bench-kafka ARGS="...")
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from local_cluster import BENCH_LABEL, ROOT, free_port, kubectl, simulated_nodes, use_local_cluster

GROUP, VERSION, PLURAL = "kafka.smack.dev", "v1alpha1", "kafkaclusters"
SPREAD = [{"field": "@hostname", "operator": "UNIQUE"}, {"field": "@zone", "operator": "GROUP_BY", "value": "3"}]
# Kinds whose resourceVersions the idle-writes mode compares (plural names for kubectl).
CHILD_KINDS = "statefulsets,configmaps,services,poddisruptionbudgets,serviceclaims,pods,persistentvolumeclaims"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``predicate`` every ``interval`` seconds until truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class Operator:
    """``python -m operators run --only meta,kafka`` as a child process, with metrics and liveness."""

    def __init__(self) -> None:
        self.metrics_port, self.liveness_port = free_port(), free_port()
        self.log = tempfile.NamedTemporaryFile("w", prefix="kafka-bench-operator-", suffix=".log",  # noqa: SIM115
                                               delete=False)
        env = dict(os.environ, PYTHONUNBUFFERED="1", SMACK_KAFKA_ADMIN="none")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "operators", "run", "--only", "meta,kafka", "--bind-address", "127.0.0.1",
             "--metrics-port", str(self.metrics_port), "--liveness-port", str(self.liveness_port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self._get(self.liveness_port, "/healthz") is not None, 60, "operator liveness")

    def _get(self, port: int, path: str) -> str | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"operator exited ({self.proc.returncode}); log: {self.log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return None

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in (self._get(self.metrics_port, "/metrics") or "").splitlines():
            m = re.fullmatch(rf"{name}(?:{{(.*)}})? (\S+)", line)
            if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                total += float(m.group(2))
        return total

    def rss_mib(self, field: str = "VmRSS") -> float:
        """``field`` of /proc/<pid>/status (VmRSS: resident now, VmHWM: peak), in MiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) / 1024

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class PodWatch:
    """Pods of one namespace, watched in a thread; every event stamped with the local wall clock (seconds)."""

    def __init__(self, core: client.CoreV1Api, namespace: str):
        self.core, self.namespace = core, namespace
        self.deleted: dict[str, tuple[str, float]] = {}   # uid -> (pod name, first time deletionTimestamp seen)
        self.ready: dict[str, tuple[str, float]] = {}     # uid -> (pod name, first time Ready=True seen)
        self.seen: set[str] = set()
        self.trace: list[dict[str, Any]] = []             # every event, for --trace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rv = None
        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for event in w.stream(self.core.list_namespaced_pod, self.namespace, resource_version=rv,
                                      timeout_seconds=10, allow_watch_bookmarks=False):
                    now = time.time()
                    pod = event["object"]
                    rv = pod.metadata.resource_version
                    uid, name = pod.metadata.uid, pod.metadata.name
                    self.seen.add(uid)
                    conds = {c.type: c.status for c in (pod.status.conditions or [])}
                    self.trace.append({
                        "t": now, "type": event["type"], "name": name, "uid": uid, "rv": rv, "phase": pod.status.phase,
                        "conditions": conds, "deletionTimestamp": str(pod.metadata.deletion_timestamp or ""),
                        "node": pod.spec.node_name, "revision": (pod.metadata.labels or {}).get(
                            "controller-revision-hash"),
                        "version": (pod.metadata.annotations or {}).get(f"{GROUP}/version")})
                    if pod.metadata.deletion_timestamp is not None or event["type"] == "DELETED":
                        self.deleted.setdefault(uid, (name, now))
                    ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
                    if ready and pod.metadata.deletion_timestamp is None:
                        self.ready.setdefault(uid, (name, now))
                    if self._stop.is_set():
                        break
            except client.ApiException as exc:
                if exc.status == 410:  # resourceVersion too old: list again
                    rv = None
                else:
                    raise
            finally:
                w.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def kafka_cluster(name: str, version: str, controllers: int, brokers: int, constraints: list) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaCluster", "metadata": {"name": name},
            "spec": {"version": version,
                     "controllers": {"replicas": controllers, "constraints": constraints, "storage": {"size": "1Gi"}},
                     "brokers": {"replicas": brokers, "constraints": constraints, "storage": {"size": "1Gi"}}}}


def conditions(obj: dict) -> dict[str, dict]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def settled(obj: dict, version: str) -> bool:
    """Ready=True, Progressing=False/Stable for the current generation, and status.version == ``version``."""
    conds, status = conditions(obj), obj.get("status") or {}
    return (status.get("observedGeneration") == obj["metadata"]["generation"]
            and conds.get("Ready", {}).get("status") == "True"
            and conds.get("Progressing", {}).get("status") == "False"
            and conds.get("Progressing", {}).get("reason") == "Stable"
            and status.get("version") == version)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.custom = client.CustomObjectsApi()
        self.core = client.CoreV1Api()
        self.namespaces: list[str] = []

    def get(self, ns: str, name: str) -> dict:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)

    def namespace(self, what: str) -> str:
        ns = f"bench-kafka-{what}-{int(time.time())}"
        kubectl("create", "namespace", ns)
        self.namespaces.append(ns)
        wait_for(lambda: kubectl("get", "serviceaccount", "default", "-n", ns, check=False), 30, "default SA")
        return ns

    def drop(self, ns: str) -> None:
        """Delete the KafkaClusters while the operator runs (it holds their finalizers), then the namespace."""
        kubectl("delete", "kafkaclusters", "--all", "-n", ns, "--timeout=300s", check=False)
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
        self.namespaces.remove(ns)

    # -- upgrade -------------------------------------------------------------------------------------------
    def upgrade(self, brokers: int) -> dict[str, Any]:
        a = self.args
        ns = self.namespace(f"up{brokers}")
        kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(
            kafka_cluster("up", a.from_version, 3, brokers, SPREAD)))
        start = time.monotonic()
        wait_for(lambda: settled(self.get(ns, "up"), a.from_version), a.timeout, f"{brokers} brokers Ready")
        created = time.monotonic() - start
        pods = brokers + 3
        pw = PodWatch(self.core, ns)
        wait_for(lambda: len(pw.seen) >= pods, 30, "the pod watch to list every pod")
        time.sleep(1)
        patched = time.time()
        kubectl("patch", "kafkacluster", "up", "-n", ns, "--type=merge", "-p",
                json.dumps({"spec": {"version": a.to_version}}))
        wait_for(lambda: settled(self.get(ns, "up"), a.to_version), a.timeout, f"the upgrade of {brokers} brokers")
        done = time.time()
        pw.stop()
        deletions = sorted((t, name, uid) for uid, (name, t) in pw.deleted.items())
        # One step per restarted pod: consecutive deletions of the same name are one step (kwok deletes
        # by name and can delete the StatefulSet's fresh replacement too; see the operator's RestartingPod
        # Events for its own deletes).
        steps: list[tuple[str, float, set[str]]] = []  # (pod name, first deletion seen, uids deleted)
        for t, name, uid in deletions:
            if steps and steps[-1][0] == name:
                steps[-1][2].add(uid)
            else:
                steps.append((name, t, {uid}))
        overhead, restart, readies = [], [], []
        for name, deleted_at, gone in steps:
            # The replacement: the first pod of that name, not deleted in this step, seen Ready after it.
            ready_at = min((t for uid, (n, t) in pw.ready.items()
                            if n == name and t > deleted_at and uid not in gone), default=None)
            readies.append(ready_at)
            if ready_at is not None:
                restart.append(ready_at - deleted_at)
        for (_, next_deleted, _), ready_at in zip(steps[1:], readies[:-1], strict=True):
            if ready_at is not None:
                overhead.append(next_deleted - ready_at)
        restarting = [e for e in json.loads(kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
                      if e["reason"] == "RestartingPod" and e["involvedObject"].get("kind") == "KafkaCluster"]
        last_ready = max((r for r in readies if r is not None), default=done)
        if a.trace:
            path = Path(a.trace) / f"upgrade-{brokers}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            events = json.loads(kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
            path.write_text(json.dumps({"patched": patched, "done": done, "pods": pw.trace, "events": [
                {k: e.get(k) for k in ("firstTimestamp", "lastTimestamp", "eventTime", "reason", "message",
                                       "involvedObject", "source", "reportingComponent", "count")}
                for e in events]}, indent=1, default=str))
        self.drop(ns)
        return {"brokers": brokers, "pods": pods, "create": created, "total": done - patched,
                "deleted": len(deletions), "steps": len(steps),
                "operator_deletes": sum(e.get("count") or 1 for e in restarting),
                "first": steps[0][1] - patched if steps else float("nan"),
                "tail": done - last_ready, "overhead": overhead, "restart": restart,
                # A negative overhead: pod k+1 was deleted before pod k's replacement was Ready (gate broken).
                "early": sum(o < 0 for o in overhead),
                "twice": [f"{name} ({len(gone)} uids)" for name, _, gone in steps if len(gone) > 1]}

    # -- idle writes ---------------------------------------------------------------------------------------
    def objects(self, ns: str) -> dict[str, tuple[str, list]]:
        """kind/name -> (resourceVersion, managedFields) of every object of CHILD_KINDS in ``ns``."""
        items = json.loads(kubectl("get", CHILD_KINDS, "-n", ns, "-o", "json", "--show-managed-fields"))["items"]
        return {f"{i['kind']}/{i['metadata']['name']}": (i["metadata"]["resourceVersion"],
                                                          i["metadata"].get("managedFields", []))
                for i in items}

    def events_about(self, ns: str, name: str) -> set[str]:
        items = json.loads(kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
        return {f"{e['metadata']['name']}:{e.get('count', 1)}" for e in items
                if e["involvedObject"].get("kind") == "KafkaCluster" and e["involvedObject"]["name"] == name}

    def idle_writes(self, op: Operator) -> dict[str, Any]:
        a = self.args
        ns = self.namespace("idle")
        kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(kafka_cluster("idle", a.to_version, 3, 3, SPREAD)))
        wait_for(lambda: settled(self.get(ns, "idle"), a.to_version), a.timeout, "the idle cluster Ready")
        # Let the last status write and the pods' watch events drain.
        runs = lambda: op.metric("smack_reconcile_total", kind="KafkaCluster")  # noqa: E731
        last = -1.0
        while runs() != last:
            last = runs()
            time.sleep(3)
        writes = lambda: sum(op.metric("smack_child_writes_total", kind="KafkaCluster", outcome=o)  # noqa: E731
                             for o in ("created", "updated"))
        unchanged = lambda: op.metric("smack_child_writes_total", kind="KafkaCluster", outcome="unchanged")  # noqa: E731
        before, events = self.objects(ns), self.events_about(ns, "idle")
        runs0, writes0, unchanged0 = runs(), writes(), unchanged()
        own_writes = []
        for i in range(a.pokes):
            n = runs()
            out = json.loads(kubectl("annotate", "kafkacluster", "idle", "-n", ns, "--overwrite",
                                     f"bench.smack.dev/poke={i}", "-o", "json"))
            wait_for(lambda n=n: runs() > n, 30, "a reconcile after the annotation")
            time.sleep(1.5)
            rv = self.get(ns, "idle")["metadata"]["resourceVersion"]
            if rv != out["metadata"]["resourceVersion"]:
                poked = out["metadata"]["resourceVersion"]
                own_writes.append(f"poke {i}: KafkaCluster resourceVersion {poked} -> {rv}")
        rv_after_pokes = self.get(ns, "idle")["metadata"]["resourceVersion"]
        time.sleep(a.resync_wait)
        rv = self.get(ns, "idle")["metadata"]["resourceVersion"]
        if rv != rv_after_pokes:
            own_writes.append(f"resync wait: KafkaCluster resourceVersion {rv_after_pokes} -> {rv}")
        after, events_after = self.objects(ns), self.events_about(ns, "idle")
        changed = []
        for key in sorted(set(before) | set(after)):
            if key not in before or key not in after or before[key][0] != after[key][0]:
                managers = sorted({f"{m['manager']}@{m.get('time', '?')}" for m in after.get(key, ("", []))[1]})
                changed.append(f"{key} ({before.get(key, ('-',))[0]} -> {after.get(key, ('-',))[0]}; "
                               f"managers {', '.join(managers)})")
        result = {"reconciles": runs() - runs0, "child_writes": writes() - writes0,
                  "unchanged": unchanged() - unchanged0, "objects": len(before), "changed": changed,
                  "own_writes": own_writes, "events": sorted(events_after - events)}
        self.drop(ns)
        return result

    # -- memory --------------------------------------------------------------------------------------------
    def memory(self, op: Operator) -> dict[str, Any]:
        a = self.args
        time.sleep(5)
        rest = op.rss_mib()
        ns = self.namespace("mem")
        clusters = [kafka_cluster(f"m{i}", a.to_version, 1, 1, [{"field": "@hostname", "operator": "UNIQUE"}])
                    for i in range(a.clusters)]
        start = time.monotonic()
        kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(clusters))

        def all_ready() -> bool:
            items = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
            return sum(settled(i, a.to_version) for i in items) == a.clusters
        wait_for(all_ready, a.timeout * 2, f"{a.clusters} KafkaClusters Ready", interval=2)
        elapsed = time.monotonic() - start
        ready_rss = op.rss_mib()
        time.sleep(10)
        result = {"clusters": a.clusters, "rest": rest, "ready": ready_rss, "settled": op.rss_mib(),
                  "peak": op.rss_mib("VmHWM"), "elapsed": elapsed}
        self.drop(ns)
        return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("upgrade", "idle-writes", "memory", "all"), default="all")
    parser.add_argument("--brokers", default="3,9,27", help="comma-separated broker counts of the upgrade mode")
    parser.add_argument("--clusters", type=int, default=50, help="KafkaClusters of the memory mode")
    parser.add_argument("--from-version", default="4.0.0")
    parser.add_argument("--to-version", default="4.1.1")
    parser.add_argument("--pokes", type=int, default=5, help="no-op annotations of the idle-writes mode")
    parser.add_argument("--resync-wait", type=float, default=65, help="seconds to wait for a resync (idle-writes)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for each cluster to settle")
    parser.add_argument("--trace", help="directory for each upgrade's pod watch events and Events (JSON)")
    args = parser.parse_args()
    brokers = [int(b) for b in args.brokers.split(",") if b]
    modes = ("upgrade", "idle-writes", "memory") if args.mode == "all" else (args.mode,)
    config.load_kube_config(use_local_cluster())
    # One host per broker and per controller (@hostname UNIQUE), spread over three zones.
    count = max([b + 3 for b in brokers] if "upgrade" in modes else [6])
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(simulated_nodes(count, "kbench")))
    kubectl("wait", "--for=condition=Ready", "node", "-l", f"{BENCH_LABEL}=true", "--timeout=60s")
    bench = Bench(args)
    print(f"cluster: {count} bench nodes + the cluster's own; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (shared machine: timings are noisy)", flush=True)
    results: dict[str, Any] = {}
    try:
        for mode in modes:
            op = Operator()
            try:
                if mode == "upgrade":
                    results[mode] = []
                    for n in brokers:
                        results[mode].append(bench.upgrade(n))
                        print(f"  upgrade of {n} brokers done", flush=True)
                elif mode == "idle-writes":
                    results[mode] = bench.idle_writes(op)
                else:
                    results[mode] = bench.memory(op)
            finally:
                for ns in list(bench.namespaces):
                    bench.drop(ns)
                op.stop()
                print(f"  {mode}: operator log {op.log.name}", flush=True)
    finally:
        kubectl("delete", "nodes", "-l", f"{BENCH_LABEL}=true", "--wait=false", check=False)
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if "upgrade" in results:
        print(f"\nRolling upgrade {args.from_version} -> {args.to_version} (3 controllers + N brokers; seconds)")
        print(f"{'brokers':>7} {'pods':>4} {'create':>6} {'restarts':>8} {'deletes':>7} {'total':>7} "
              f"{'to 1st del':>10} {'overhead p50':>12} {'max':>5} {'sum':>5} {'pod restart p50':>15} "
              f"{'last Ready->done':>16} {'early':>5}")
        for r in results["upgrade"]:
            print(f"{r['brokers']:>7} {r['pods']:>4} {r['create']:>6.1f} {r['steps']:>8} "
                  f"{r['operator_deletes']:>3}/{r['deleted']:<3} {r['total']:>7.1f} {r['first']:>10.2f} "
                  f"{pct(r['overhead'], 50):>12.2f} {max(r['overhead'], default=float('nan')):>5.2f} "
                  f"{sum(r['overhead']):>5.1f} {pct(r['restart'], 50):>15.2f} {r['tail']:>16.2f} {r['early']:>5}")
        print("create = apply -> Ready and Stable at the old version; total = patch -> status.version new and "
              "Progressing=False/Stable;\nrestarts = pods restarted (steps); deletes = the operator's "
              "(RestartingPod Events) / pod deletions seen by the watch;\nto 1st del = patch -> first pod deletion "
              "seen; overhead = pod k's replacement Ready seen -> pod k+1 deletion seen (p50, max, sum over the "
              "steps);\npod restart = deletion seen -> replacement Ready seen; last Ready->done = last replacement "
              "Ready -> status done (metadata.version step);\nearly = deletions before the previous pod's "
              "replacement was Ready (must be 0)")
        for r in results["upgrade"]:
            if r["twice"]:
                print(f"  {r['brokers']} brokers: pods deleted again before their replacement was Ready "
                      f"(not by the operator when deletes shows N/N+k): {', '.join(r['twice'])}")
    if "idle-writes" in results:
        r = results["idle-writes"]
        print(f"\nWrites at rest ({args.pokes} no-op annotations + {args.resync_wait:.0f}s for a resync)")
        rows = [("reconciles run (smack_reconcile_total)", r["reconciles"], []),
                ("child writes (smack_child_writes_total created+updated)", r["child_writes"], []),
                ("  (child applies found unchanged)", r["unchanged"], []),
                (f"objects whose resourceVersion changed (of {r['objects']})", len(r["changed"]), r["changed"]),
                ("KafkaCluster writes besides the annotations", len(r["own_writes"]), r["own_writes"]),
                ("new Events about the KafkaCluster", len(r["events"]), r["events"])]
        for label, value, details in rows:
            print(f"  {label:<58} {value:>4.0f}")
            for d in details:
                print(f"    {d}")
    if "memory" in results:
        r = results["memory"]
        print("\nOperator memory (meta + kafka in one process; MiB)")
        rows = [("VmRSS at rest, no KafkaCluster", r["rest"], ""),
                (f"VmRSS with {r['clusters']} Ready KafkaClusters", r["ready"],
                 f"  (all Ready {r['elapsed']:.0f}s after one kubectl apply)"),
                ("VmRSS 10s later", r["settled"], f"  (peak VmHWM {r['peak']:.1f})")]
        for label, value, note in rows:
            print(f"  {label:<40} {value:>6.1f}{note}")
        print(f"  {'per KafkaCluster':<40} {(r['settled'] - r['rest']) / r['clusters']:>6.2f}")


if __name__ == "__main__":
    main()
