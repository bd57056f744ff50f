"""The unit half of the fuzzer: every spec the model of a kind accepts builds every child object and
config file without an exception, and every derived name is one Kubernetes takes.

Specs come from each CRD's own schema (tests/fuzz_specs.py), names up to and just over each kind's
CEL name limit. A spec the model refuses is what the spec webhook refuses at apply
(operators.sdk.admission); a refusal must be a ValidationError naming a field, never another exception.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from operators.cassandra import resources as cassandra
from operators.cassandra.api import CASSANDRA_DATACENTER, NAME_AND_RACK_MAX
from operators.kafka import resources as kafka
from operators.kafka.api import KAFKA_CLUSTER, MAX_NAME_LENGTH
from operators.meta import convert
from operators.scheduling.api import NODE_POOL, SERVICE_CLAIM, TENANT
from operators.scheduling.claims import Grant
from operators.sdk.admission import refusal
from operators.sdk.crd import CustomResource
from operators.sdk.names import DNS1123_SUBDOMAIN, LABEL_VALUE, REVISION_HASH_SUFFIX
from operators.spark import resources as spark
from operators.spark.api import SCHEDULED_SPARK_APPLICATION, SPARK_APPLICATION
from operators.spark.schedule import plan, run_manifest
from tests.fuzz_specs import crd_schemas, names, strategy

SCHEMAS = crd_schemas()
UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
SID = "c607d4c6-299d-438d-8c9b-bde6b056ad7f"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
_SUBDOMAIN, _LABEL_VALUE = re.compile(DNS1123_SUBDOMAIN), re.compile(LABEL_VALUE)


def _name_limit(resource: CustomResource) -> int | None:
    rules = [r["rule"] for r in resource.object_validations if r["rule"].startswith("size(self.metadata.name) <= ")]
    return int(rules[0].rsplit(" ", 1)[1]) if rules else None


def check_names(objects: list[dict[str, Any]]) -> None:
    """Every object's name is a DNS-1123 subdomain; pods, Services and StatefulSets (with their revision hash
    label) fit 63 characters; every label value is one."""
    for obj in objects:
        name, kind = obj["metadata"]["name"], obj["kind"]
        assert _SUBDOMAIN.match(name) and len(name) <= 253, (kind, name)
        limit = {"Service": 63, "StatefulSet": 63 - REVISION_HASH_SUFFIX}.get(kind)
        assert limit is None or len(name) <= limit, (kind, name)
        if kind == "StatefulSet":
            pods = obj["spec"]["replicas"] or 1
            assert len(f"{name}-{pods - 1}") <= 63
            obj = obj["spec"]["template"]
        for value in (obj["metadata"].get("labels") or {}).values():
            assert _LABEL_VALUE.match(value) and len(value) <= 63, (kind, name, value)


def build_kafka(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = kafka.Cluster.from_body(body)
    grants = {role: Grant(cluster.replicas(role), ("n1", "n2")) for role in ("controller", "broker")}
    objects = kafka.build(cluster, grants) + [kafka.service_claim(cluster)]
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            yaml.safe_dump(obj)
    return objects


def build_cassandra(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    dc = cassandra.Datacenter.from_body(body)
    sizes = dc.spec.rack_sizes()
    grants = {rack: Grant(n, ("n1",)) for rack, n in sizes.items()}
    objects = cassandra.build(dc, sizes, grants, {}) + [cassandra.service_claim(dc, sizes)]
    check_names([{"kind": "Pod", "metadata": {"name": dc.pod_name(r.name, sizes[r.name] - 1)}} for r in dc.spec.racks])
    return objects


def build_spark(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    app = spark.Application.from_body(body)
    grants = {"driver": Grant(1, ("n1",)), "executor": Grant(app.spec.executors[0], ("n1",))}
    return spark.submission_objects(app, spark.Submission(name, SID), grants, 1) + [spark.service_claim(app)]


def build_scheduled(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    spec = SCHEDULED_SPARK_APPLICATION.spec.model_validate(body["spec"])
    decision = plan(name, spec, SCHEDULED_SPARK_APPLICATION.status(), [], created=NOW, now=NOW.replace(hour=20),
                    generation=1)
    owner = {"apiVersion": "v1", "kind": "x", "metadata": {"name": name, "namespace": "ns", "uid": UID}}
    runs = [run_manifest(owner, spec, decision.create)] if decision.create else []
    for run in runs:  # each run is a SparkApplication the Spark operator builds
        build_spark(run["metadata"]["name"], run | {"metadata": run["metadata"] | {"uid": UID}})
    return runs


def build_scheduling(resource: CustomResource):
    def _build(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        spec = resource.spec.model_validate(body["spec"])
        if resource is TENANT:
            convert.tenant(name, spec)
        elif resource is NODE_POOL:
            convert.pool(name, spec)
        else:
            convert.claim(spec, f"ns/{name}", "t")
        return []
    return _build


RESOURCES = [KAFKA_CLUSTER, CASSANDRA_DATACENTER, SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION, TENANT, NODE_POOL,
             SERVICE_CLAIM]
BUILDERS = {KAFKA_CLUSTER.kind: build_kafka, CASSANDRA_DATACENTER.kind: build_cassandra,
            SPARK_APPLICATION.kind: build_spark, SCHEDULED_SPARK_APPLICATION.kind: build_scheduled,
            TENANT.kind: build_scheduling(TENANT), NODE_POOL.kind: build_scheduling(NODE_POOL),
            SERVICE_CLAIM.kind: build_scheduling(SERVICE_CLAIM)}


def test_every_crd_is_fuzzed():
    assert {r.kind for r in RESOURCES} == set(BUILDERS) == set(SCHEMAS)


def _fits(resource: CustomResource, name: str, spec: Any) -> bool:
    """The name limit of the kind's CEL rule (the API server refuses a longer name before the model sees it)."""
    limit = _name_limit(resource)
    if resource is CASSANDRA_DATACENTER:
        racks = [r.get("name", "") for r in (spec.get("racks") or []) if isinstance(r, dict)] or ["r1"]
        return all(len(name) + len(str(r)) <= NAME_AND_RACK_MAX for r in racks)
    return limit is None or len(name) <= limit


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_every_accepted_spec_builds_without_an_exception(resource):
    build = BUILDERS[resource.kind]
    seen: Counter[str] = Counter()
    limit = _name_limit(resource) or (63 if resource is not CASSANDRA_DATACENTER else NAME_AND_RACK_MAX - 2)

    @settings(max_examples=int(os.environ.get("SMACK_FUZZ_EXAMPLES", "150")), deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(name=names(limit), spec=strategy(SCHEMAS[resource.kind]))
    def run(name, spec):
        if not _fits(resource, name, spec):
            seen["refused: name too long (CEL)"] += 1
            return
        try:
            resource.spec.model_validate(spec)
        except ValidationError as exc:
            assert refusal(exc).startswith("spec")
            seen["refused by the model"] += 1
            return
        seen["accepted"] += 1
        body = {"metadata": {"name": name, "namespace": "ns", "uid": UID}, "spec": spec}
        check_names(build(name, body))

    run()
    print(f"fuzz {resource.kind}: {dict(seen)}")
    assert seen["accepted"] >= 5, seen  # a fuzzer that never reaches the builders proves nothing


@pytest.mark.parametrize("resource", [KAFKA_CLUSTER, SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION],
                         ids=lambda r: r.kind)
def test_name_limits_are_the_derived_names(resource):
    """At its limit every kind's derived names are valid (test above); one more character breaks one."""
    limit = _name_limit(resource)
    if resource is KAFKA_CLUSTER:
        assert limit == MAX_NAME_LENGTH and len(f"{'a' * (limit + 1)}-controller") + REVISION_HASH_SUFFIX > 63
    elif resource is SPARK_APPLICATION:
        assert limit == 63  # the app's name is a label value on its pods
    else:
        assert limit + len("-1767268800") == 63
