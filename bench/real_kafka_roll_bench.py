"""The rolling upgrade of a 3 + 3 Kafka cluster 4.0.1 → 4.1.1 on real nodes, under traffic: its figures.

    python bench/real_kafka_roll_bench.py [--runs N]

Runs the upgrade scenario of tests/e2e/test_real_kafka.py (through hack/real-run.sh: the images of
REAL_IMAGES built and loaded, the operators from this clone, the cluster in KUBECONFIG, else this
clone's local control plane) and prints its figures, measured on the pod watch and the traffic client:

* total roll time (first pod down → last pod Ready again) and the time of each step (pod down → Ready);
* the physical floor: the sum of those restart times, one after another;
* the operator's overhead per step (pod Ready → next pod down: its gates, its pass interval) and its
  share of the total;
* acknowledged messages per second before the roll and during it (idempotent acks=all producer, RF 3,
  min.insync.replicas 2, 50 messages/s offered), and the traffic's counts (nothing acknowledged lost).

On a cluster others share, hold its lock: ``flock /tmp/smack-real.lock python bench/real_kafka_roll_bench.py``.
Figures only: the scenario's assertions still apply, the timings are never asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "test_upgrade_4_0_to_4_1_under_traffic"


def run() -> list[str]:
    """One bring-up and upgrade; the figure lines of the session ("kafka upgrade ...")."""
    proc = subprocess.run([str(ROOT / "hack" / "real-run.sh"), "-k", SCENARIO, "-p", "no:cacheprovider"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("kafka upgrade")]
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        raise SystemExit(f"the upgrade scenario failed (exit {proc.returncode})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="bring-ups and upgrades, one after another")
    args = parser.parse_args()
    for n in range(1, args.runs + 1):
        print(f"run {n}:")
        for line in run():
            print(f"  {line}")


if __name__ == "__main__":
    main()
