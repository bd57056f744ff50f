"""Helpers for the tests on real pods: the NodePool of the real nodes, client pods running the
programs in hack/clients/, and the figures a real pod gives (start → Ready, RSS).

Every pod here selects and tolerates the real nodes (``type=real``), as a user's would.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .conftest import REAL, ROOT, Kubectl, wait_for

CLIENTS = ROOT / "hack" / "clients"
CLIENT_IMAGE = "smack-client:dev"


def condition_true(k: Kubectl, kind: str, name: str, condition: str = "Ready") -> dict | None:
    obj = k.json("get", kind, name)
    conds = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}
    return obj if conds.get(condition, {}).get("status") == "True" else None


def fail_on_crash_loop(k: Kubectl, selector: str) -> None:
    """Fail at once, with the container's last log, when a pod matching ``selector`` has restarted three
    times: a service that cannot start is reported as such, not as a timeout."""
    for pod in k.json("get", "pods", "-l", selector)["items"]:
        for status in pod["status"].get("containerStatuses", []):
            if status.get("restartCount", 0) >= 3:
                log = k.run("logs", pod["metadata"]["name"], "-c", status["name"], "--previous", "--tail=40",
                            check=False).stdout
                raise AssertionError(f"{pod['metadata']['name']} restarted {status['restartCount']} times:\n{log}")


def ready_unless_crashing(k: Kubectl, kind: str, name: str, selector: str) -> dict | None:
    """``condition_true(Ready)``, after :func:`fail_on_crash_loop`."""
    fail_on_crash_loop(k, selector)
    return condition_true(k, kind, name)


def start_client(k: Kubectl, name: str, program: str, *args: str) -> None:
    """Start ``hack/clients/<program>`` with ``args`` in pod ``name`` of the client image on a real node
    (``traffic.py`` mounted beside it); returns once the pod is created."""
    k.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                        "data": {p: (CLIENTS / p).read_text() for p in (program, "traffic.py")}}))
    k.apply(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        **REAL, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "program", "configMap": {"name": name}}],
        "containers": [{"name": "client", "image": CLIENT_IMAGE, "imagePullPolicy": "Never",
                        "command": ["python", f"/client/{program}", *args],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "volumeMounts": [{"name": "program", "mountPath": "/client"}]}]}}))


def client_result(k: Kubectl, name: str, timeout: float = 600) -> dict[str, Any]:
    """The JSON line client pod ``name`` printed last, once it finished. Fails with its log when it did
    not succeed."""
    def finished() -> str | None:
        phase = k.json("get", "pod", name)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout=timeout, interval=1, what=f"client pod {name} finished")
    log = k.run("logs", name).stdout
    assert phase == "Succeeded", f"client {name} failed:\n{log[-4000:]}"
    return json.loads(log.strip().splitlines()[-1])


def run_client(k: Kubectl, name: str, program: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``hack/clients/<program>`` with ``args`` to its end in a client pod; its last JSON line."""
    start_client(k, name, program, *args)
    return client_result(k, name, timeout)


class Traffic:
    """A traffic client (hack/clients/kafka_traffic.py or cql_traffic.py) running through an operation::

        with Traffic(k, "traffic", "kafka_traffic.py", bootstrap, "orders") as traffic:
            ...  # the operation
        report = traffic.report  # traffic.Ledger's counts (hack/clients/traffic.py)

    It starts the pod and waits for its first acknowledgement (traffic flows before the operation);
    on leaving, it asks the client to stop (``touch /tmp/stop``) and reads its report.
    """

    def __init__(self, k: Kubectl, name: str, program: str, *args: str):
        self.k, self.name, self.program, self.args = k, name, program, args
        self.report: dict[str, Any] = {}

    def _flowing(self) -> bool:
        pod = self.k.json("get", "pod", self.name)
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            raise AssertionError(f"traffic client {self.name} ended early:\n{self.k.run('logs', self.name).stdout}")
        log = self.k.run("logs", self.name, check=False).stdout
        return any(line.startswith("sent ") and " acknowledged 0 " not in line for line in log.splitlines())

    def __enter__(self) -> Traffic:
        start_client(self.k, self.name, self.program, *self.args)
        wait_for(self._flowing, timeout=300, interval=1, what=f"traffic from {self.name} acknowledged")
        return self

    def __exit__(self, *exc: object) -> None:
        self.k.run("exec", self.name, "--", "touch", "/tmp/stop", check=False)
        if exc[0] is None:
            self.report = client_result(self.k, self.name, timeout=600)


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def start_to_ready(pod: dict[str, Any]) -> float | None:
    """Seconds from the pod's start (status.startTime: the kubelet took it) to its Ready condition
    (whole seconds, as the API stores them); None when it is not Ready."""
    ready = next((c for c in pod["status"].get("conditions", []) if c["type"] == "Ready"), None)
    if not ready or ready["status"] != "True" or "startTime" not in pod["status"]:
        return None
    return (_time(ready["lastTransitionTime"]) - _time(pod["status"]["startTime"])).total_seconds()


def rss_mib(k: Kubectl, pod: str, container: str) -> float:
    """Resident memory of every process in the container, MiB (the sum of their VmRSS)."""
    out = k.run("exec", pod, "-c", container, "--", "sh", "-c",
                "cat /proc/[0-9]*/status 2>/dev/null | awk '/^VmRSS/ {s += $2} END {print s}'").stdout
    return round(int(out.strip() or 0) / 1024, 1)


def pod_figures(k: Kubectl, selector: str, container: str) -> list[str]:
    """One line per pod matching ``selector``: node, start → Ready seconds, RSS MiB."""
    lines = []
    for pod in sorted(k.json("get", "pods", "-l", selector)["items"], key=lambda p: p["metadata"]["name"]):
        name = pod["metadata"]["name"]
        lines.append(f"{name} on {pod['spec'].get('nodeName')}: start→Ready {start_to_ready(pod)} s, "
                     f"RSS {rss_mib(k, name, container)} MiB")
    return lines


def roll_figures(outages: list[tuple[str, float, float | None]], actions: list[float] | None = None) -> dict[str, Any]:
    """Figures of a rolling operation from :meth:`PodWatch.outages` (seconds):

    * ``total``: first pod down → last pod Ready again;
    * ``steps``: ``{pod: down → Ready}`` per restart, in order (a pod restarted twice appears as ``pod#2``);
    * ``floor``: the sum of the steps — the physical floor, the nodes' own restart times one after another;
    * ``overhead``: the gaps between one pod Ready and the next pod going down (the operator's own time:
      its gates, its pass interval, its waits), their sum and ``overhead_share`` of the total.

    Figures only: a test prints them with :func:`conftest.figure` and asserts nothing on them.
    """
    done = [(pod, down, up) for pod, down, up in outages if up is not None]
    if not done:
        return {"total": 0.0, "steps": {}, "floor": 0.0, "overhead": [], "overhead_sum": 0.0, "overhead_share": 0.0}
    steps: dict[str, float] = {}
    for pod, down, up in done:
        key = pod if pod not in steps else f"{pod}#{sum(k.split('#')[0] == pod for k in steps) + 1}"
        steps[key] = round(up - down, 1)
    gaps = [round(max(0.0, done[i + 1][1] - done[i][2]), 1) for i in range(len(done) - 1)]
    total = round(max(up for _, _, up in done) - done[0][1], 1)
    return {"total": total, "steps": steps, "floor": round(sum(steps.values()), 1), "overhead": gaps,
            "overhead_sum": round(sum(gaps), 1), "overhead_share": round(sum(gaps) / total, 2) if total else 0.0}


def rate_figures(report: dict[str, Any], start: float, end: float) -> dict[str, float]:
    """Acknowledged per second before ``start`` and between ``start`` and ``end`` (unix seconds), from a
    traffic report's ``acknowledged_per_second`` (hack/clients/traffic.py); the first and last seconds of
    the run are left out (partial)."""
    seconds = report.get("acknowledged_per_second", [])[1:-1]
    def mean(pairs: list) -> float:
        return round(sum(n for _, n in pairs) / len(pairs), 1) if pairs else 0.0
    return {"before": mean([p for p in seconds if p[0] < start]),
            "during": mean([p for p in seconds if start <= p[0] < end])}
