"""Every custom resource the project defines; ``make crds`` writes them to crds/."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from .cassandra.api import CASSANDRA_DATACENTER
from .kafka.api import KAFKA_CLUSTER
from .scheduling.api import NODE_POOL, SERVICE_CLAIM, TENANT
from .sdk.crd import CustomResource, crd_manifest, write_crds
from .spark.api import SCHEDULED_SPARK_APPLICATION, SPARK_APPLICATION

RESOURCES: list[CustomResource] = [TENANT, NODE_POOL, SERVICE_CLAIM, KAFKA_CLUSTER, CASSANDRA_DATACENTER,
                                   SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION]
CRD_DIR = Path(__file__).resolve().parent.parent / "crds"


def print_crds() -> None:
    yaml.safe_dump_all([crd_manifest(r) for r in RESOURCES], sys.stdout, sort_keys=False)


if __name__ == "__main__":
    for path in write_crds(RESOURCES, Path(sys.argv[1]) if len(sys.argv) > 1 else CRD_DIR):
        print(path)
