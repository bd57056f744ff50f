"""Cassandra traffic through an operation, from a pod of smack-client:dev (traffic.py beside it).

    python cql_traffic.py CONTACT_POINT DATACENTER [RATE]

Creates keyspace ``traffic`` (NetworkTopologyStrategy, DATACENTER: 3) and table ``traffic.seq``
unless they exist; then, until /tmp/stop appears, writes row n (its sequence number and send time)
at LOCAL_QUORUM at RATE writes per second (default 50; the statements are idempotent, so the driver
may retry them on another coordinator), and after every 10th acknowledged write reads an earlier
acknowledged row back at LOCAL_QUORUM (``reads``, ``reads_failed``, ``reads_missing``: an
acknowledged row a LOCAL_QUORUM read did not find). After the stop every acknowledged row is read
back at LOCAL_QUORUM: ``received`` counts those found, ``missing`` those not (must be 0).
Prints traffic.Ledger's JSON line; exit 0 when nothing acknowledged is missing.
"""

import sys
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from traffic import Ledger, paced

contact, datacenter = sys.argv[1], sys.argv[2]
rate = float(sys.argv[3]) if len(sys.argv) > 3 else 50.0

profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=datacenter)),
                           consistency_level=ConsistencyLevel.LOCAL_QUORUM, request_timeout=30)
cluster = Cluster([contact], execution_profiles={EXEC_PROFILE_DEFAULT: profile}, connect_timeout=30)
session = cluster.connect()
session.execute("CREATE KEYSPACE IF NOT EXISTS traffic WITH replication = "
                f"{{'class': 'NetworkTopologyStrategy', '{datacenter}': 3}}")
session.execute("CREATE TABLE IF NOT EXISTS traffic.seq (n bigint PRIMARY KEY, t double)")
cluster.control_connection.wait_for_schema_agreement(wait_time=60)
write = session.prepare("INSERT INTO traffic.seq (n, t) VALUES (?, ?)")
write.is_idempotent = True
read = session.prepare("SELECT n FROM traffic.seq WHERE n = ?")
read.is_idempotent = True

ledger = Ledger()
reads = {"reads": 0, "reads_failed": 0, "reads_missing": 0}
last = time.monotonic()


def check_read() -> None:
    n = ledger.acknowledged_sample()
    if n is None:
        return
    reads["reads"] += 1
    try:
        if session.execute(read, (n,)).one() is None:
            reads["reads_missing"] += 1
    except Exception:  # noqa: BLE001 - every driver error counts as a failed read
        reads["reads_failed"] += 1


for n in paced(rate):
    sent = time.time()
    future = session.execute_async(write, (n, sent))
    ledger.on_sent()
    future.add_callbacks(lambda _rows, n=n, t=sent: ledger.on_ack(n, t), lambda exc, n=n: ledger.on_fail(n, exc))
    if n % 10 == 9:
        check_read()
    if time.monotonic() - last >= 5:
        print(ledger.progress(), reads, flush=True)
        last = time.monotonic()
ledger.wait_settled(timeout=120)

for n in ledger.acknowledged_sorted():
    for attempt in range(3):
        try:
            if session.execute(read, (n,)).one() is not None:
                ledger.on_received(n)
            break
        except Exception:  # noqa: BLE001 - retried, then counted as not read back
            if attempt == 2:
                reads["reads_failed"] += 1
cluster.shutdown()
print(ledger.report(rate=rate, **reads), flush=True)
sys.exit(1 if ledger.missing() else 0)
