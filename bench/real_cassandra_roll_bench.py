"""Rolling upgrade of a 3-node Cassandra datacenter (4.1.9 → 5.0.5) on the real nodes, under LOCAL_QUORUM traffic.

    KUBECONFIG=... python bench/real_cassandra_roll_bench.py [pytest args]

Runs the bootstrap and upgrade scenarios of tests/e2e/test_real_cassandra.py (one datacenter, the
operators from this clone with the real nodetool probe; the images of conftest.REAL_IMAGES must be on
the nodes: hack/real-run.sh loads them) against the cluster in KUBECONFIG, and prints their figures:

* bootstrap: total, and create → Ready per node;
* upgrade: start → settled (the operator SIGKILLed once on the way), first pod down → last pod Ready
  (``total``), per node down → Ready (``steps``), their sum (``floor``: the physical floor, the nodes'
  own restart times one after another), the gaps between one node Ready and the next going down
  (``overhead``: the operator's drain, gate questions and pass interval) and its share of the total;
* LOCAL_QUORUM writes acknowledged per second before vs during the upgrade, and the latencies;
* what the operator's nodetool calls cost (each starts a JVM in a pod): count, mean, max and sum of seconds
  per command, from the operator log (operators/cassandra/nodetool.py logs each call).

The scenario is the test's, so the bench measures exactly what CI proves; figures only, nothing asserted
here beyond what the test asserts. On a shared cluster, hold its lock (flock FILE python bench/...).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "figures (measured, not asserted)"
NODETOOL = re.compile(r"nodetool (\w+).* on \S+: exit \S+ in ([0-9.]+) s")


def nodetool_costs(log: str) -> list[str]:
    """One line per nodetool command in the operator log: count, mean, max and sum of seconds."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for match in NODETOOL.finditer(log):
        seconds[match[1]].append(float(match[2]))
    return [f"nodetool {cmd}: {len(v)} calls, mean {statistics.mean(v):.1f} s, max {max(v):.1f} s, "
            f"sum {sum(v):.0f} s" for cmd, v in sorted(seconds.items())]


def main(argv: list[str]) -> int:
    if not os.environ.get("KUBECONFIG"):
        print("set KUBECONFIG to a cluster with real nodes (type=real)", file=sys.stderr)
        return 2
    basetemp = Path(tempfile.mkdtemp(prefix="cassandra-roll-bench-"))
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", str(ROOT / "tests" / "e2e" / "test_real_cassandra.py"),
         "-q", "-m", "real", "-k", "bootstrap or upgrade", "-p", "no:cacheprovider", "--basetemp", str(basetemp),
         *argv], cwd=ROOT, capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if SECTION in line), None)
    if proc.returncode != 0 or start is None:
        print(proc.stdout[-6000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
        return proc.returncode or 1
    for line in lines[start + 1:]:
        if line.startswith("=") or not line.strip():
            break
        print(line)
    for log in {p.resolve() for p in basetemp.glob("operator*/operators.log")}:  # operatorcurrent: a symlink
        for line in nodetool_costs(log.read_text()):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
