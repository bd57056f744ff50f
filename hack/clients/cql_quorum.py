"""A CQL write and read at QUORUM, from a pod of smack-client:dev.

    python cql_quorum.py CONTACT_POINT DATACENTER REPLICATION_FACTOR

Creates keyspace ``smoke`` (NetworkTopologyStrategy, DATACENTER: REPLICATION_FACTOR) and a table,
writes one row at QUORUM with a fresh token, reads it back at QUORUM, and prints one JSON line:
the token written and read, the hosts the driver saw (address, datacenter, rack, up), and the
release version. Exit 0 when the read returned the row written.
"""

import json
import sys
import uuid

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy

contact, datacenter, rf = sys.argv[1], sys.argv[2], int(sys.argv[3])
profile = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=datacenter),
                           consistency_level=ConsistencyLevel.QUORUM, request_timeout=60)
cluster = Cluster([contact], execution_profiles={EXEC_PROFILE_DEFAULT: profile}, connect_timeout=30)
session = cluster.connect()
session.execute("CREATE KEYSPACE IF NOT EXISTS smoke WITH replication = "
                f"{{'class': 'NetworkTopologyStrategy', '{datacenter}': {rf}}}")
session.execute("CREATE TABLE IF NOT EXISTS smoke.kv (k text PRIMARY KEY, v text)")
cluster.control_connection.wait_for_schema_agreement(wait_time=60)
token = uuid.uuid4().hex
write = session.prepare("INSERT INTO smoke.kv (k, v) VALUES (?, ?)")
write.consistency_level = ConsistencyLevel.QUORUM
session.execute(write, ("smoke", token))
read = session.prepare("SELECT v FROM smoke.kv WHERE k = ?")
read.consistency_level = ConsistencyLevel.QUORUM
row = session.execute(read, ("smoke",)).one()
hosts = [{"address": h.address, "datacenter": h.datacenter, "rack": h.rack, "up": h.is_up}
         for h in cluster.metadata.all_hosts()]
version = session.execute("SELECT release_version FROM system.local").one().release_version
print(json.dumps({"written": token, "read": row.v if row else None, "hosts": hosts, "version": version}))
cluster.shutdown()
sys.exit(0 if row and row.v == token else 1)
