"""Write the files the operator renders for one Cassandra node, to start it outside Kubernetes.

    python bench/cassandra_node_config.py OUT_DIR VERSION ADDRESS [MEMORY]

OUT_DIR gets the rack ConfigMap's data exactly as :func:`operators.cassandra.resources.config_map` builds it
(cassandra.yaml, cassandra-rackdc.properties, jvm.options, start.sh) for node dc1-r1-0 of a one-node
datacenter running VERSION with MEMORY (default 2Gi) requested. Only the seed changes: the seed Service's DNS
name becomes ADDRESS, the node itself (there is no cluster DNS). The node then starts as its pod does:
``POD_IP=ADDRESS bash OUT_DIR/start.sh`` with OUT_DIR mounted at the pod's config directory
(hack/images-check.sh ``cassandra-operator`` does this in a container on loopback).
"""

from __future__ import annotations

import sys
from pathlib import Path

from operators.cassandra.api import CassandraDatacenterSpec
from operators.cassandra.resources import Datacenter, config_map


def main(out: str, version: str, address: str, memory: str = "2Gi") -> None:
    spec = CassandraDatacenterSpec.model_validate({
        "clusterName": "smack-check", "size": 1, "racks": [{"name": "r1", "zone": "zone-a"}],
        "serverVersion": version, "resources": {"requests": {"cpu": "1", "memory": memory}}})
    dc = Datacenter("dc1", "check", "00000000-0000-0000-0000-000000000000", spec)
    data = config_map(dc, "r1", {})["data"]
    seeds = f"{dc.seed_service}.{dc.namespace}.svc.cluster.local"
    assert data["cassandra.yaml"].count(seeds) == 1, "the seed Service is named once, in seed_provider"
    data["cassandra.yaml"] = data["cassandra.yaml"].replace(seeds, address)
    Path(out).mkdir(parents=True, exist_ok=True)
    for name, text in data.items():
        (Path(out) / name).write_text(text)
    print(f"{out}: {', '.join(sorted(data))} for dc1-r1-0 (Cassandra {version}, seed {address})")


if __name__ == "__main__":
    main(*sys.argv[1:])
