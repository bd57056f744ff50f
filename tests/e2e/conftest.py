"""e2e fixtures: a real control plane, the CRDs, and the operators as a local process.

The cluster is the one in ``KUBECONFIG`` when that is set; otherwise the local
control plane is started with ``hack/cluster-up.sh`` (and stopped again at the
end if this session started it). Tests drive it with kubectl, as a user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBE_BIN = subprocess.check_output(["bash", "-c", ". hack/lib.sh && echo $KUBE_BIN"], cwd=ROOT, text=True).strip()
KUBECTL = os.path.join(KUBE_BIN, "kubectl")


class Kubectl:
    """kubectl bound to one kubeconfig (and optionally a namespace)."""

    def __init__(self, kubeconfig: str, namespace: str | None = None):
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig]
        if self.namespace:
            cmd += ["-n", self.namespace]
        proc = subprocess.run(cmd + list(args), input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("apply", "-f", "-", input=manifest, check=check)


def wait_for(predicate: Callable[[], Any], *, timeout: float = 120, interval: float = 0.5, what: str = "") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value: {last!r}")


def _ready(kubeconfig: str) -> bool:
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"],
                          capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[str]:
    given = os.environ.get("KUBECONFIG")
    if given:
        yield given
        return
    local = str(ROOT / ".cluster" / "kubeconfig")
    started = not (os.path.exists(local) and _ready(local))
    out = subprocess.run(["hack/cluster-up.sh"], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
    path = out.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
    yield path
    if started and not os.environ.get("SMACK_KEEP_CLUSTER"):
        subprocess.run(["hack/cluster-down.sh"], cwd=ROOT, check=False)


@pytest.fixture(scope="session")
def kube(kubeconfig: str) -> Kubectl:
    k = Kubectl(kubeconfig)
    k.run("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    k.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OperatorProcess:
    """``python -m operators run`` with every operator, its metrics, liveness and admission webhooks.

    The webhooks listen on 127.0.0.1 (``SMACK_WEBHOOK_HOST`` overrides the address the API
    server is told to call, for a cluster that reaches this machine under another name).
    """

    def __init__(self, kubeconfig: str, workdir: Path, only: str = "meta,kafka,cassandra,spark",
                 extra_args: tuple[str, ...] = (), webhooks: bool = True, simulated: bool = True):
        self.metrics_port, self.liveness_port, webhook_port = _free_port(), _free_port(), _free_port()
        self.log_path = workdir / "operators.log"
        certs = workdir / "webhook"
        subprocess.run([str(ROOT / "hack" / "webhook-certs.sh"), str(certs)], check=True, capture_output=True)
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, PYTHONUNBUFFERED="1")
        if simulated:
            # No broker or Cassandra node runs on simulated nodes: the Kafka admin steps and the nodetool
            # operations are recorded in events, not sent; Cassandra's gates read pod readiness only.
            self.env |= {"SMACK_KAFKA_ADMIN": "none", "SMACK_CASSANDRA_PROBE": "none"}
        else:  # the real clients, whatever the caller's environment says
            self.env.pop("SMACK_KAFKA_ADMIN", None)
            self.env.pop("SMACK_CASSANDRA_PROBE", None)
        self.cmd = [sys.executable, "-m", "operators", "run", "--only", only, "--bind-address", "127.0.0.1",
                    "--metrics-port", str(self.metrics_port), "--liveness-port", str(self.liveness_port),
                    *extra_args]
        if webhooks:
            self.cmd += ["--webhook-cert-dir", str(certs), "--webhook-port", str(webhook_port)]
        if os.environ.get("SMACK_WEBHOOK_HOST"):
            self.cmd += ["--webhook-host", os.environ["SMACK_WEBHOOK_HOST"]]
        self.start()

    def start(self) -> None:
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop() and kill()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for(self.alive, timeout=60, what="operator liveness endpoint")

    def kill(self) -> None:
        """SIGKILL: the operator dies at whatever it was doing, as in a node crash or an OOM kill."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._log.write("----- killed with SIGKILL -----\n")
        self._log.close()

    def kill_and_restart(self) -> None:
        """SIGKILL the operators (a crash) and start them again with the same settings."""
        self.kill()
        self.start()

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Stop the operators (SIGTERM) for the block and start them again after it, e.g. while other
        operator processes must be the only ones acting on the cluster."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self._log.write("----- stopped for a test; starting again after it -----\n")
        self._log.close()
        try:
            yield
        finally:
            self.start()

    def get(self, port: int, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            return None

    def alive(self) -> bool:
        assert self.proc.poll() is None, f"operator exited: {self.log_tail()}"
        return self.get(self.liveness_port, "/healthz") is not None

    def metrics(self) -> str:
        return self.get(self.metrics_port, "/metrics") or ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        finally:
            self._log.close()
        return code


REAL_SESSION = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)  # after -m and -k deselected what does not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A session whose every test is marked ``real`` (``pytest -m real``) runs its operators with the
    real Kafka and Cassandra clients; any other session with the simulated ones. Two operator processes
    never watch the same namespaces at once, so the two kinds run in separate sessions."""
    config.stash[REAL_SESSION] = bool(items) and all(item.get_closest_marker("real") for item in items)


def real_session(config: pytest.Config) -> bool:
    """True in a session of ``real`` tests only (see :func:`pytest_collection_modifyitems`)."""
    return config.stash.get(REAL_SESSION, False)


@pytest.fixture(scope="session")
def operator(kube: Kubectl, tmp_path_factory: pytest.TempPathFactory,
             pytestconfig: pytest.Config) -> Iterator[OperatorProcess]:
    op = OperatorProcess(kube.kubeconfig, tmp_path_factory.mktemp("operator"), simulated=not real_session(pytestconfig))
    yield op
    code = op.stop()
    assert code == 0, f"operator did not shut down cleanly on SIGTERM (exit {code}):\n{op.log_tail()}"


def new_namespace(kube: Kubectl, prefix: str) -> Kubectl:
    """A new namespace ``<prefix>-<random>``, once its default ServiceAccount exists (pods need it)."""
    k = Kubectl(kube.kubeconfig, f"{prefix}-{uuid.uuid4().hex[:8]}")
    kube.run("create", "namespace", k.namespace)
    wait_for(lambda: k.run("get", "serviceaccount", "default", check=False).returncode == 0,
             timeout=30, what="default ServiceAccount")
    return k


@pytest.fixture
def ns(kube: Kubectl, operator: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    """A fresh namespace for one test; deleted afterwards. Prints the operator log if the test failed."""
    k = new_namespace(kube, "e2e")
    yield k
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- operator log ---\n{operator.log_tail()}")
    kube.run("delete", "namespace", k.namespace, "--wait=false", check=False)


# The real nodes (hack/nodes-up.sh): a pod selects and tolerates them; a service runs there through the
# NodePool of examples/real-nodes.yaml.
REAL = {"nodeSelector": {"type": "real"},
        "tolerations": [{"key": "type", "value": "real", "effect": "NoSchedule"}]}
REAL_POOL = ROOT / "examples" / "real-nodes.yaml"
FIGURES = pytest.StashKey[list[str]]()


def require_real(kube: Kubectl, config: pytest.Config) -> None:
    """Skip unless there are real nodes and this session runs the real clients (``-m real``)."""
    if not kube.json("get", "nodes", "-l", "type=real")["items"]:
        pytest.skip("no node labelled type=real: hack/cluster-up.sh started kwok's nodes only "
                    "(SMACK_REAL_NODES=0, or this host cannot run real nodes; its log says why)")
    if not real_session(config):
        pytest.skip("a service on real pods needs the operators' real Kafka and Cassandra clients: "
                    "run the real tests in their own session, pytest -m real")


# What the real-pod tests run (hack/images.sh names): built by `make test` (hack/e2e.sh) or `make images`.
REAL_IMAGES = ("kafka-4.0.1", "kafka-4.1.1", "cassandra-5.0.5", "cassandra-4.1.9", "spark-3.5.3", "client",
               "operators")


@pytest.fixture(scope="session")
def real_images(kube: Kubectl, pytestconfig: pytest.Config) -> None:
    """The images of :data:`REAL_IMAGES` in every real node's containerd (hack/images.sh load: an image
    already there is skipped). Skips the test without real nodes or outside a real session."""
    require_real(kube, pytestconfig)
    if not os.path.isdir("/run/smack"):
        return  # real nodes of another kind of cluster: their images are that cluster's business
    proc = subprocess.run([str(ROOT / "hack" / "images.sh"), "load", *REAL_IMAGES], capture_output=True, text=True)
    assert proc.returncode == 0, f"hack/images.sh load failed (build them: make images):\n{proc.stderr}"


@contextlib.contextmanager
def real_namespace(kube: Kubectl, operator: OperatorProcess, failed: Callable[[], bool]) -> Iterator[Kubectl]:
    """A fresh namespace for one service on the real nodes (NodePool ``real`` applied). Afterwards the
    namespace is deleted and waited for, so the next service finds the nodes free; the operator log is
    printed when ``failed()`` says a test in it failed."""
    kube.run("apply", "-f", str(REAL_POOL))
    k = new_namespace(kube, "real")
    name = k.namespace
    yield k
    if failed():
        print(f"--- operator log ---\n{operator.log_tail(200)}")
        print(k.run("get", "pods", "-o", "wide", check=False).stdout)
    kube.run("delete", "namespace", name, "--wait=false", check=False)
    # The services' graceful stop is not under test here, and a broker whose controllers stopped first
    # would wait out its whole grace period (120 s): shorten it for every pod of the namespace.
    k.run("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
    kube.run("wait", "--for=delete", f"namespace/{name}", "--timeout=300s", check=False, timeout=330)


@pytest.fixture
def real_ns(kube: Kubectl, operator: OperatorProcess, real_images: None, pytestconfig: pytest.Config,
            request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    """:func:`real_namespace` for one test."""
    def failed() -> bool:
        report = getattr(request.node, "rep_call", None)
        return report is not None and report.failed
    with real_namespace(kube, operator, failed) as k:
        yield k


def figure(config: pytest.Config, line: str) -> None:
    """Record a measured figure; the session prints them all at its end (never asserted)."""
    config.stash.setdefault(FIGURES, []).append(line)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures (measured, not asserted)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class PodWatch:
    """``kubectl get pods -w`` on one label selector in a background thread.

    Records every watch event as ``(type, name, deleting, ready)``, the initial listing
    included (as ADDED events), so a test can replay what each pod went through.
    """

    TEMPLATE = ('{{.type}} {{.object.metadata.name}} {{if .object.metadata.deletionTimestamp}}deleting'
                '{{else}}live{{end}} {{range .object.status.conditions}}{{if eq .type "Ready"}}{{.status}}'
                '{{end}}{{end}}{{"\\n"}}')

    def __init__(self, k: Kubectl, selector: str):
        cmd = [KUBECTL, "--kubeconfig", k.kubeconfig, "-n", k.namespace or "default", "get", "pods", "-l", selector,
               "-w", "--output-watch-events", "-o", "go-template", "--template", self.TEMPLATE]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.events: list[tuple[str, str, bool, bool]] = []
        self.stamps: list[float] = []  # time.time() at which each event was read, in step with events
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, name, deleting, *ready = line.split()
            self.stamps.append(time.time())
            self.events.append((kind, name, deleting == "deleting", ready == ["True"]))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._thread.join(timeout=10)

    def deleted(self) -> list[str]:
        """Pod names in the order their deletion was first seen, once per restart.

        A pod deleted again before its replacement was ever Ready counts once: kwok v0.8.0 at times
        deletes a StatefulSet's recreated pod by name (its pod-delete stage), which the operator's
        deletions (UID preconditions, one RestartingPod event each) never do.
        """
        order, gone, ready_since = [], set(), set()
        for kind, name, deleting, ready in self.events:
            if (deleting or kind == "DELETED") and name not in gone:
                if not (order and order[-1] == name and name not in ready_since):
                    order.append(name)
                gone.add(name)
                ready_since.discard(name)
            elif kind == "ADDED" and not deleting:
                gone.discard(name)
            if ready and not deleting and kind != "DELETED":
                ready_since.add(name)
        return order

    def outages(self) -> list[tuple[str, float, float | None]]:
        """``(pod, down_at, ready_at)`` for each time a pod went from Ready to deleting, gone or not Ready,
        in order; ``ready_at`` is when it (or its replacement of the same name) was Ready again, None if
        never (unix seconds, as the watch read the events)."""
        ready: dict[str, bool] = {}
        open_: dict[str, int] = {}
        out: list[list] = []
        for (kind, name, deleting, is_ready), at in zip(self.events, self.stamps, strict=True):
            now = kind != "DELETED" and not deleting and is_ready
            if ready.get(name) and not now and name not in open_:
                open_[name] = len(out)
                out.append([name, at, None])
            elif now and name in open_:
                out[open_.pop(name)][2] = at
            ready[name] = now
        return [tuple(o) for o in out]

    def max_unavailable(self) -> int:
        """The most pods that were at once deleting, gone or not Ready, replaying the events."""
        available: dict[str, bool] = {}
        worst = 0
        for kind, name, deleting, ready in self.events:
            available[name] = kind != "DELETED" and not deleting and ready
            worst = max(worst, sum(not a for a in available.values()))
        return worst
