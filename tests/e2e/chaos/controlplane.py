"""Restart one component of the local control plane (hack/cluster-up.sh: kwokctl, binary runtime).

kwokctl's binary runtime forks each component (etcd, kube-apiserver, ...) from the ``components`` of
``<workdir>/clusters/<name>/kwok.yaml`` (binary, args, workDir) and records its pid in ``pids/<name>.pid``;
``kwokctl start cluster`` does not bring back one component that died (its pid file still names the
dead process). So a restart here does what kwokctl does for one component: SIGTERM the recorded pid,
wait for it to exit, fork the same binary with the same arguments, log to the same file, and record
the new pid (so that ``hack/cluster-down.sh`` stops it as before). :func:`revive` plays the kubelet's part
for the components that exit on a lost leader lease.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..conftest import wait_for


@dataclass(frozen=True)
class Component:
    """One forked control-plane component of a kwokctl cluster."""

    name: str
    binary: str
    args: tuple[str, ...]
    work_dir: Path
    cluster_dir: Path
    ports: tuple[int, ...] = ()

    @property
    def pid_file(self) -> Path:
        return self.cluster_dir / "pids" / f"{self.name}.pid"

    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())


def component(cluster_dir: Path, name: str) -> Component:
    """The component ``name`` of the kwokctl cluster whose directory is ``cluster_dir`` (the one holding
    kwok.yaml, pids/ and logs/). Raises KeyError for a component the cluster does not run."""
    config = yaml.safe_load((cluster_dir / "kwok.yaml").read_text())
    for c in config.get("components") or []:
        if c["name"] == name:
            return Component(name, c["binary"], tuple(c.get("args") or ()), Path(c.get("workDir") or cluster_dir),
                             cluster_dir, tuple(p["port"] for p in c.get("ports") or () if p.get("port")))
    raise KeyError(f"component {name} is not in {cluster_dir / 'kwok.yaml'}")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it when it is a child of this process (a component restarted here)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # forked by kwokctl, not by us
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop(c: Component, timeout: float = 60) -> None:
    """SIGTERM the component's recorded process and wait for it to exit (SIGKILL after ``timeout``)."""
    pid = c.pid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _alive(pid):
            return
        os.kill(pid, sig)
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not _alive(pid), timeout=timeout, interval=0.2, what=f"{c.name} (pid {pid}) to exit")
    if _alive(pid):
        raise AssertionError(f"{c.name} (pid {pid}) did not exit")


def _listens(c: Component) -> bool:
    """True when every port of the component accepts a connection."""
    def accepts(port: int) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", port)) == 0
    return all(accepts(port) for port in c.ports)


def start(c: Component, attempts: int = 5) -> int:
    """Fork the component as kwokctl does, record its pid, and wait until it listens on its ports; returns
    the pid. On a machine shared with other clusters a port released by the stop can be taken meanwhile
    (the component then exits: "bind: address already in use"): it is started again once the port is free."""
    for _ in range(attempts):
        log = open(c.cluster_dir / "logs" / f"{c.name}.log", "a")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen([c.binary, *c.args], cwd=c.work_dir, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        c.pid_file.write_text(str(proc.pid))
        state = wait_for(lambda p=proc: "exited" if p.poll() is not None else "up" if _listens(c) else None,
                         timeout=120, interval=0.2, what=f"{c.name} to listen on {c.ports}")
        if state == "up":
            return proc.pid
        wait_for(lambda: not _listens(c), timeout=120, what=f"the ports {c.ports} of {c.name} to be free")
    raise AssertionError(f"{c.name} did not start in {attempts} attempts (see {c.cluster_dir / 'logs'})")


def restart(c: Component) -> int:
    """Stop then start the component; returns the new pid."""
    stop(c)
    return start(c)


def revive(cluster_dir: Path) -> list[str]:
    """Start every component of the cluster whose recorded process has exited; the names, in kwok.yaml's
    order. kube-controller-manager and kube-scheduler exit when they cannot renew their leader lease
    (``leaderelection lost``) during an API server or etcd outage longer than the renew deadline; in a
    cluster the kubelet restarts their static pods, here this does."""
    config = yaml.safe_load((cluster_dir / "kwok.yaml").read_text())
    started = []
    for entry in config.get("components") or []:
        c = component(cluster_dir, entry["name"])
        if not c.pid_file.exists() or not _alive(c.pid()):
            start(c)
            started.append(c.name)
    return started
