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


def run_client(k: Kubectl, name: str, program: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``hack/clients/<program>`` with ``args`` in a pod of the client image on a real node and
    return the JSON line it printed last. Fails with the pod's log when it does not succeed."""
    source = CLIENTS / program
    k.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                        "data": {program: source.read_text()}}))
    k.apply(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        **REAL, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "program", "configMap": {"name": name}}],
        "containers": [{"name": "client", "image": CLIENT_IMAGE, "imagePullPolicy": "Never",
                        "command": ["python", f"/client/{program}", *args],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "volumeMounts": [{"name": "program", "mountPath": "/client"}]}]}}))
    def finished() -> str | None:
        phase = k.json("get", "pod", name)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout=timeout, interval=1, what=f"client pod {name} finished")
    log = k.run("logs", name).stdout
    assert phase == "Succeeded", f"client {program} failed:\n{log}"
    return json.loads(log.strip().splitlines()[-1])


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
