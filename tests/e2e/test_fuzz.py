"""The e2e half of the fuzzer: specs for every kind in crds/, drawn from the CRD's own schema
(tests/fuzz_specs.py), are ``kubectl apply``'d; each is refused at apply or reconciled (observedGeneration
caught up) without a traceback in the operator log.

``SMACK_FUZZ_CASES`` specs (40 by default, in make test; ``make fuzz`` runs more) go to one namespace;
cluster-scoped ones (Tenant, NodePool) are named ``fuzz-*``, own no namespace but the fuzz namespace
(the first Tenant only: ownership conflicts are the meta-controller's own suite) and are deleted after.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from tests.e2e.conftest import Kubectl, figure, wait_for
from tests.fuzz_specs import crd_schemas, names, strategy

CASES = int(os.environ.get("SMACK_FUZZ_CASES", "40"))
GROUPS = {"KafkaCluster": "kafka.smack.dev", "CassandraDatacenter": "cassandra.smack.dev",
          "SparkApplication": "spark.smack.dev", "ScheduledSparkApplication": "spark.smack.dev",
          "Tenant": "scheduling.smack.dev", "NodePool": "scheduling.smack.dev",
          "ServiceClaim": "scheduling.smack.dev"}
CLUSTER_SCOPED = {"Tenant", "NodePool"}
# Kinds whose status nothing writes (NodePool: docs/reference); they count as reconciled once applied.
NO_STATUS = {"NodePool"}


def _draw(count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """``count`` (kind, name, spec) triples, round-robin over the kinds."""
    schemas = crd_schemas()
    kinds = sorted(schemas)
    assert set(kinds) == set(GROUPS), "a CRD the fuzzer does not know"
    out: list[tuple[str, str, dict[str, Any]]] = []
    for kind in kinds:
        per_kind = count // len(kinds) + (kinds.index(kind) < count % len(kinds))
        drawn = _examples(schemas[kind], per_kind)
        out += [(kind, f"fz{len(out) + i}-{name}", spec) for i, (name, spec) in enumerate(drawn)]
    return out


def _examples(schema: dict[str, Any], count: int) -> list[tuple[str, dict[str, Any]]]:
    drawn: list[tuple[str, dict[str, Any]]] = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(name=names(20), spec=strategy(schema))
    def collect(name: str, spec: dict[str, Any]) -> None:
        drawn.append((name, spec))

    collect()
    return drawn[:count]


def test_fuzzed_specs_are_refused_at_apply_or_reconciled_without_an_exception(ns: Kubectl, kube: Kubectl, operator,
                                                                              pytestconfig):
    cases = _draw(CASES)
    log_start = len(operator.log_path.read_text())
    seen: Counter[str] = Counter()
    accepted: list[tuple[str, str]] = []
    owner_given = False
    try:
        for kind, name, spec in cases:
            meta: dict[str, Any] = {"name": name}
            if kind == "Tenant":
                # No parent and no selector: a cycle or a second owner of a namespace is the meta suite's.
                spec = {k: v for k, v in spec.items() if k not in ("parent", "namespaceSelector")} | {
                    "namespaces": [] if owner_given else [ns.namespace]}
                owner_given = True
            if kind not in CLUSTER_SCOPED:
                meta["namespace"] = ns.namespace
            manifest = {"apiVersion": f"{GROUPS[kind]}/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}
            result = ns.run("apply", "-f", "-", input=json.dumps(manifest), check=False)
            if result.returncode == 0:
                seen["accepted"] += 1
                accepted.append((kind, name))
            else:
                # A refusal by the schema, CEL or a webhook, never a client-side failure.
                assert re.search(r"is invalid|denied the request|Error from server", result.stderr), result.stderr
                seen["refused"] += 1

        def reconciled(kind: str, name: str) -> bool:
            if kind in NO_STATUS:
                return True
            k = kube if kind in CLUSTER_SCOPED else ns
            obj = json.loads(k.run("get", f"{kind.lower()}.{GROUPS[kind]}", name, "-o", "json").stdout)
            return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]

        pending = list(accepted)

        def all_reconciled() -> bool:
            pending[:] = [c for c in pending if not reconciled(*c)]
            return not pending

        try:
            wait_for(all_reconciled, timeout=300, interval=1, what="every accepted spec reconciled")
        except AssertionError as exc:
            raise AssertionError(f"not reconciled: {pending}") from exc
        log = operator.log_path.read_text()[log_start:]
        tracebacks = log.count("Traceback (most recent call last)")
        line = (f"fuzz: {len(cases)} cases, {seen['refused']} refused at apply, {seen['accepted']} accepted, "
                f"exceptions: {tracebacks}")
        print(line)
        figure(pytestconfig, line)
        assert tracebacks == 0, log[log.index("Traceback"):][:4000]
        assert seen["accepted"] and seen["refused"], seen  # both paths were exercised
    finally:
        for kind, name in accepted:
            if kind in CLUSTER_SCOPED:
                kube.run("delete", f"{kind.lower()}.{GROUPS[kind]}", name, "--wait=false", check=False)


def test_a_character_outside_the_bmp_reaches_a_child_object(ns: Kubectl, operator):
    """What the e2e fuzzer found: a string with a character outside the BMP or a C1 control character (here
    in spec.image) made every server-side apply of the child fail (the API server's YAML decoder of an apply
    patch refuses a surrogate-pair escape and a raw control character), and the reconcile raised forever."""
    log_start = len(operator.log_path.read_text())
    manifest = {"apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster", "metadata": {"name": "bmp"},
                "spec": {"image": "apache/kafka:4.1.1-\U0001F600\u2028", "brokers": {"replicas": 1},
                         "controllers": {"replicas": 1}}}
    ns.apply(json.dumps(manifest))
    wait_for(lambda: (o := ns.json("get", "kafkacluster", "bmp")).get("status", {}).get("observedGeneration")
             == o["metadata"]["generation"], timeout=120, what="the cluster reconciled")
    sts = ns.json("get", "statefulset", "bmp-broker")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "apache/kafka:4.1.1-\U0001F600\u2028"
    assert "Traceback" not in operator.log_path.read_text()[log_start:]
