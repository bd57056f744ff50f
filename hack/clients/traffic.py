"""What a traffic client counts, shared by kafka_traffic.py and cql_traffic.py (mounted next to them).

A client sends keyed sequence numbers 0, 1, 2, … at a steady rate until the test asks it to stop
(the file :data:`STOP_FILE` appears: ``kubectl exec <pod> -- touch /tmp/stop``), then checks what it
can read back and prints one JSON line, :meth:`Ledger.report`:

* ``sent``: sequence numbers handed to the client library; ``acknowledged``: confirmed by the service
  (acks=all, or a LOCAL_QUORUM write); ``failed``: the library gave up on them (``errors``: a sample);
* ``received``: distinct acknowledged-or-not numbers read back; ``duplicates``: numbers read more than
  once; ``missing``: acknowledged numbers never read back (the loss: must be 0);
* ``latency_ms``: send → acknowledgement, p50/p90/p99/max;
* ``acknowledged_per_second``: ``[[unix second, count], …]``, so a test can compare the rate during an
  operation with the rate before it.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter

STOP_FILE = "/tmp/stop"


def stop_requested() -> bool:
    return os.path.exists(STOP_FILE)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max of ``values`` (nearest rank), rounded to 0.1; zeros when empty."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    at = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1], 1)}


class Ledger:
    """Thread-safe counts of one traffic run (client library callbacks run on their own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.sent = 0
        self.acknowledged: set[int] = set()
        self.failed: dict[int, str] = {}
        self.received: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.per_second: Counter[int] = Counter()

    def on_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def on_ack(self, seq: int, sent_at: float) -> None:
        now = time.time()
        with self._lock:
            self.acknowledged.add(seq)
            self.latencies.append((now - sent_at) * 1000)
            self.per_second[int(now)] += 1
            self._lock.notify_all()

    def on_fail(self, seq: int, error: BaseException | str) -> None:
        with self._lock:
            self.failed[seq] = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            self._lock.notify_all()

    def wait_settled(self, timeout: float) -> bool:
        """Wait until every sent item is acknowledged or failed; False if ``timeout`` (s) passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.acknowledged) + len(self.failed) >= self.sent, timeout)

    def on_received(self, seq: int) -> None:
        with self._lock:
            self.received[seq] += 1

    def acknowledged_sample(self) -> int | None:
        """One acknowledged sequence number at random, None before the first."""
        with self._lock:
            return random.choice(tuple(self.acknowledged)) if self.acknowledged else None

    def acknowledged_sorted(self) -> list[int]:
        with self._lock:
            return sorted(self.acknowledged)

    def missing(self) -> list[int]:
        with self._lock:
            return sorted(self.acknowledged - self.received.keys())

    def progress(self) -> str:
        with self._lock:
            return (f"sent {self.sent} acknowledged {len(self.acknowledged)} failed {len(self.failed)} "
                    f"received {len(self.received)}")

    def report(self, **extra: object) -> str:
        """The JSON line described in the module docstring, plus ``extra`` keys."""
        missing = self.missing()
        with self._lock:
            body = {
                "sent": self.sent, "acknowledged": len(self.acknowledged), "failed": len(self.failed),
                "errors": sorted(set(self.failed.values()))[:5],
                "received": len(self.received), "duplicates": sum(1 for n in self.received.values() if n > 1),
                "missing": len(missing), "missing_sample": missing[:10],
                "latency_ms": percentiles(self.latencies),
                "acknowledged_per_second": sorted(self.per_second.items()),
                **extra,
            }
        return json.dumps(body)


def paced(rate: float):
    """Yield 0, 1, 2, … at ``rate`` per second until :func:`stop_requested` (sleeps between items:
    this paces traffic, it waits on nothing)."""
    start, seq = time.monotonic(), 0
    while not stop_requested():
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield seq
        seq += 1
