"""Cassandra's lifecycle on the real nodes under live LOCAL_QUORUM traffic (issue 13, part 3).

One datacenter (3 racks × 1 node, RF 3) is shared by the scenarios of this module, in order, since a
node bootstrap costs a minute or more here: bootstrap one node at a time, upgrade 4.1.9 → 5.0.5 rack
by rack with the operator SIGKILLed mid-upgrade, scale 3 → 4 with cleanup and back by decommission,
replace a node on a new volume. Each operation runs with hack/clients/cql_traffic.py writing and
reading at LOCAL_QUORUM throughout; the tests assert on its counts (nothing failed, nothing
acknowledged missing), never on time. Figures are printed with conftest.figure.

The operators run with the real probe (nodetool through Kubernetes exec): the gates ask a node other
than the one drained (real-services Finding 5a).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import REAL_POOL, Kubectl, OperatorProcess, PodWatch, figure, new_namespace, wait_for
from .realpods import Traffic, fail_on_crash_loop, rate_figures, roll_figures

pytestmark = [pytest.mark.e2e, pytest.mark.real]

DC = "dc1"
SELECTOR = f"cassandra.smack.dev/datacenter={DC}"
FROM, TO = "4.1.9", "5.0.5"  # a major upgrade: also proves upgradesstables
RACKS = [{"name": f"r{i}", "zone": f"zone-{z}"} for i, z in enumerate("abc", 1)]
BOOTSTRAP_ORDER = ["dc1-r1-0", "dc1-r2-0", "dc1-r3-0"]


def spec(version: str = FROM, size: int = 3) -> dict[str, Any]:
    return {"apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter", "metadata": {"name": DC},
            "spec": {"clusterName": "live", "serverVersion": version, "size": size, "nodePool": "real",
                     "storage": {"size": "1Gi", "storageClassName": "real-local"}, "racks": RACKS,
                     "resources": {"requests": {"cpu": "200m", "memory": "1536Mi"}}, "jvm": {"heapSize": "768Mi"}}}


@pytest.fixture(scope="module")
def cass(kube: Kubectl, operator: OperatorProcess, real_images: None) -> Iterator[Kubectl]:
    """A namespace on the real nodes for this module's datacenter; deleted (and waited for) at the end."""
    kube.run("apply", "-f", str(REAL_POOL))
    k = new_namespace(kube, "cass")
    yield k
    print(f"--- operator log ---\n{operator.log_tail(120)}")
    print(k.run("get", "pods", "-o", "wide", check=False).stdout)
    kube.run("delete", "namespace", k.namespace, "--wait=false", check=False)
    k.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
    kube.run("wait", "--for=delete", f"namespace/{k.namespace}", "--timeout=300s", check=False, timeout=330)


def dc_status(k: Kubectl) -> dict[str, Any]:
    return k.json("get", "cassandradatacenter", DC).get("status") or {}


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions", [])}


def settled(k: Kubectl, version: str | None = None, size: int | None = None) -> dict[str, Any] | None:
    """The status once Ready, every plan Complete (and the running version / size as given)."""
    status = dc_status(k)
    conds = conditions(status)
    done = (conds.get("Ready", {}).get("status") == "True" and conds.get("Progressing", {}).get("status") == "False"
            and all(p["status"] == "Complete" for p in status.get("plans", [])))
    if not done or (version and status.get("version") != version) or (size and status.get("size") != size):
        return None
    return status


def wait_settled(k: Kubectl, what: str, timeout: float = 900, **want: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        fail_on_crash_loop(k, SELECTOR)
        return settled(k, **want)
    return wait_for(check, timeout=timeout, interval=3, what=what)


def nodetool(k: Kubectl, pod: str, *args: str) -> str:
    return k.run("exec", pod, "-c", "cassandra", "--", "nodetool", *args, timeout=180).stdout


def ring(k: Kubectl, asked: str) -> dict[str, str]:
    """``nodetool status`` as ``asked`` sees it: {address: "UN"/"DN"/…}."""
    return {f[1]: f[0] for line in nodetool(k, asked, "status").splitlines()
            if line[:2] in ("UN", "UJ", "UL", "UM", "DN", "DJ", "DL", "DM") and (f := line.split())}


def pod_ips(k: Kubectl) -> dict[str, str]:
    return {p["metadata"]["name"]: p["status"].get("podIP", "") for p in k.json("get", "pods", "-l", SELECTOR)["items"]}


def events(k: Kubectl, reason: str) -> list[str]:
    items = k.json("get", "events", "--field-selector", f"reason={reason}")["items"]
    return [e["message"] for e in sorted(items, key=lambda e: e["metadata"]["creationTimestamp"])]


def traffic(k: Kubectl, name: str) -> Traffic:
    return Traffic(k, name, "cql_traffic.py", f"{DC}-client.{k.namespace}.svc", DC)


def assert_nothing_lost(report: dict[str, Any]) -> None:
    summary = {key: v for key, v in report.items() if key != "acknowledged_per_second"}
    assert report["acknowledged"] > 0 and report["failed"] == 0, summary
    assert report["missing"] == 0 and report["reads_missing"] == 0, summary
    assert report["received"] >= report["acknowledged"], summary


def test_bootstrap_3_racks_one_node_at_a_time_each_UN_before_the_next(
        cass: Kubectl, pytestconfig: pytest.Config) -> None:
    watch = PodWatch(cass, SELECTOR)
    started = time.time()
    cass.apply(json.dumps(spec()))
    seen_un: dict[str, dict[str, str]] = {}
    try:
        for nxt in BOOTSTRAP_ORDER[1:]:
            wait_for(lambda n=nxt: any(e[1] == n for e in watch.events), timeout=900, interval=1,
                     what=f"{nxt} created")
            # The moment the next node exists, the first node (another one, for every node after it) already
            # sees every earlier node UN.
            seen_un[nxt] = ring(cass, BOOTSTRAP_ORDER[0])
        status = wait_settled(cass, "dc1 Ready on 3 nodes", size=3, version=FROM)
    finally:
        watch.stop()
    ready_at = {}
    for (_kind, name, deleting, ready), at in zip(watch.events, watch.stamps, strict=True):
        if ready and not deleting and name not in ready_at:
            ready_at[name] = at
    created_at = {}
    for (_kind, name, _, _), at in zip(watch.events, watch.stamps, strict=True):
        created_at.setdefault(name, at)
    for previous, nxt in zip(BOOTSTRAP_ORDER, BOOTSTRAP_ORDER[1:], strict=False):
        assert ready_at[previous] <= created_at[nxt], (previous, nxt, watch.events)
    ips = pod_ips(cass)
    for i, nxt in enumerate(BOOTSTRAP_ORDER[1:], 1):
        assert all(seen_un[nxt].get(ips[p]) == "UN" for p in BOOTSTRAP_ORDER[:i]), (nxt, seen_un[nxt], ips)
    assert watch.max_unavailable() <= 1
    final = ring(cass, "dc1-r2-0")
    assert sorted(final.values()) == ["UN"] * 3, final
    racks = sorted(line.split()[-1] for line in nodetool(cass, "dc1-r2-0", "status").splitlines() if line[:2] == "UN")
    assert racks == ["r1", "r2", "r3"], racks
    nodes = {p["spec"]["nodeName"] for p in cass.json("get", "pods", "-l", SELECTOR)["items"]}
    assert nodes == {"real-a", "real-b", "real-c"}, nodes  # one rack per zone, one zone per real node
    assert [n["pod"] for n in status["nodes"]] == BOOTSTRAP_ORDER
    figure(pytestconfig, f"cassandra bootstrap 3 nodes one at a time: {round(time.time() - started)} s; "
                         f"per node create→Ready: {[round(ready_at[p] - created_at[p]) for p in BOOTSTRAP_ORDER]} s")


def test_upgrade_rack_by_rack_under_traffic_drained_one_down_operator_killed(
        cass: Kubectl, operator: OperatorProcess, pytestconfig: pytest.Config) -> None:
    wait_settled(cass, "dc1 settled before the upgrade", version=FROM)
    with traffic(cass, "traffic-upgrade") as tr:
        watch = PodWatch(cass, SELECTOR)
        start = time.time()
        cass.apply(json.dumps(spec(TO)))
        try:
            wait_for(lambda: len(watch.deleted()) >= 1, timeout=300, interval=1, what="the first node restarted")
            # Its drain event posted first (kopf posts events in the background: a SIGKILL loses a queued one).
            wait_for(lambda: any("drain on dc1-r1-0" in m for m in events(cass, "DrainedNode")), timeout=60,
                     what="dc1-r1-0's DrainedNode event")
            operator.kill_and_restart()  # mid-upgrade: the first node is restarting, two racks to go
            wait_settled(cass, f"every node on {TO}", timeout=1500, version=TO)
        finally:
            end = time.time()
            watch.stop()
    report = tr.report
    assert_nothing_lost(report)
    assert watch.max_unavailable() == 1, watch.events
    assert watch.deleted() == BOOTSTRAP_ORDER, watch.deleted()  # rack by rack, each node once
    drained = " ".join(events(cass, "DrainedNode"))
    assert all(f"nodetool drain on {p}" in drained for p in BOOTSTRAP_ORDER), drained
    for pod in BOOTSTRAP_ORDER:
        assert nodetool(cass, pod, "version").split()[-1] == TO, pod
    info = nodetool(cass, "dc1-r1-0", "describecluster")
    versions = info.split("Database versions:")[1]
    assert TO in versions and FROM not in versions, info
    upgraded = " ".join(events(cass, "UpgradedSSTables"))
    assert all(f"nodetool upgradesstables on {p}" in upgraded for p in BOOTSTRAP_ORDER), upgraded
    roll = roll_figures(watch.outages())
    figure(pytestconfig, f"cassandra upgrade {FROM}→{TO} (3 nodes, operator SIGKILLed once): "
                         f"start→settled {round(end - start)} s; {json.dumps(roll)}")
    figure(pytestconfig, f"cassandra writes/s before vs during the upgrade: {rate_figures(report, start, end)}; "
                         f"latency_ms {report['latency_ms']}; acknowledged {report['acknowledged']}, "
                         f"reads {report['reads']}")


def test_scale_up_with_cleanup_then_down_by_decommission_under_traffic(
        cass: Kubectl, pytestconfig: pytest.Config) -> None:
    wait_settled(cass, "dc1 settled before the scale-up", version=TO)
    version = dc_status(cass)["version"]
    with traffic(cass, "traffic-scale") as tr:
        start = time.time()
        cass.apply(json.dumps(spec(version, size=4)))
        wait_settled(cass, "dc1 on 4 nodes", size=4)
        up = time.time()
        ips = pod_ips(cass)
        assert ring(cass, "dc1-r2-0").get(ips["dc1-r1-1"]) == "UN"
        cleaned = " ".join(events(cass, "CleanedUpNode"))
        assert all(f"nodetool cleanup on {p}" in cleaned for p in BOOTSTRAP_ORDER), cleaned
        assert "dc1-r1-1" not in cleaned, cleaned  # the new node owns only what it streamed
        cass.apply(json.dumps(spec(version, size=3)))
        wait_settled(cass, "dc1 back on 3 nodes", size=3)
        wait_for(lambda: "dc1-r1-1" not in pod_ips(cass), timeout=300, what="dc1-r1-1's pod gone")
        down = time.time()
    assert_nothing_lost(tr.report)
    assert any("nodetool decommission on dc1-r1-1" in m for m in events(cass, "DecommissionedNode"))
    left = ring(cass, "dc1-r1-0")
    assert ips["dc1-r1-1"] not in left and sorted(left.values()) == ["UN"] * 3, left
    figure(pytestconfig, f"cassandra scale 3→4 with cleanup: {round(up - start)} s; 4→3 by decommission: "
                         f"{round(down - up)} s; writes/s {rate_figures(tr.report, start, down)}")


def test_replace_a_node_on_a_new_volume_with_replace_address_first_boot(
        cass: Kubectl, pytestconfig: pytest.Config) -> None:
    wait_settled(cass, "dc1 settled before the replacement", size=3)
    target = "dc1-r2-0"
    old_ip = pod_ips(cass)[target]
    old_uid = cass.json("get", "pvc", f"data-{target}")["metadata"]["uid"]
    with traffic(cass, "traffic-replace") as tr:
        start = time.time()
        # The README's procedure: annotate the pod; the operator records its address, deletes its volume
        # and pod, and the new pod starts empty with -Dcassandra.replace_address_first_boot.
        cass.run("annotate", "pod", target, "smack.dev/replace=true")
        wait_for(lambda: any(n["pod"] == target and n.get("replaced") == old_ip for n in dc_status(cass)["nodes"])
                 and settled(cass, size=3), timeout=900, interval=3, what=f"{target} replaced")
        end = time.time()
    assert_nothing_lost(tr.report)
    assert cass.json("get", "pvc", f"data-{target}")["metadata"]["uid"] != old_uid
    new_ip = pod_ips(cass)[target]
    view = ring(cass, "dc1-r1-0")
    assert sorted(view.values()) == ["UN"] * 3 and new_ip in view, (old_ip, new_ip, view)
    log = cass.run("logs", target, "-c", "cassandra").stdout
    assert "replace" in log.lower(), log[-3000:]
    figure(pytestconfig, f"cassandra replace {target} ({old_ip} → {new_ip}) on a new volume: "
                         f"{round(end - start)} s; writes/s {rate_figures(tr.report, start, end)}")
