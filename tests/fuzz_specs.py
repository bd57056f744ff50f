"""Random specs for every kind in crds/, drawn from the CRD's own OpenAPI schema (shared by the unit
fuzzer, tests/unit/test_fuzz.py, and the e2e fuzzer, tests/e2e/test_fuzz.py).

Mostly within the schema (enums, bounds, patterns), so that many specs get past the API server and the
models and reach the builders; now and then outside it (a hostile string, a number off its bounds, a
zero or negative quantity), so that refusals are exercised too. hypothesis-jsonschema would do this
but does not run with current hypothesis (its strategies use internals hypothesis removed), so this is
the few lines of it the CRDs need.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.unit.hostile import hostile_text

CRDS = Path(__file__).resolve().parents[1] / "crds"
QUANTITIES = ["1", "2", "500m", "100m", "1Gi", "512Mi", "10Gi", "0", "-1", "1e3", "0.5"]
NAME = "[a-z]([-a-z0-9]{0,8}[a-z0-9])?"


def crd_schemas() -> dict[str, dict[str, Any]]:
    """kind -> the spec schema of each CRD in crds/."""
    out = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        version = crd["spec"]["versions"][0]
        out[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return out


def _mostly(inside: st.SearchStrategy[Any], outside: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``inside`` 19 times in 20: a spec has dozens of fields, and one bad field is enough to refuse it."""
    return st.integers(0, 19).flatmap(lambda i: outside if i == 0 else inside)


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    top = min(schema.get("maxLength", 40), 40)
    rules = str(schema.get("x-kubernetes-validations", ""))
    cel_pattern = re.search(r"self\.matches\('([^']+)'\)", rules)
    pattern = schema.get("pattern") or (cel_pattern and cel_pattern[1])
    if pattern:
        # Python's $ also matches before a final line break, which the API server's RE2 does not take.
        inside = st.from_regex(pattern, fullmatch=True).filter(
            lambda s: len(s) <= schema.get("maxLength", 10**6) and not s.endswith("\n"))
    elif "isQuantity" in rules:
        inside = st.sampled_from(QUANTITIES)
    else:
        inside = st.from_regex(NAME, fullmatch=True) if top >= 10 else st.text("abc", min_size=1, max_size=top)
    return _mostly(inside, hostile_text(top))


def _integer(schema: dict[str, Any]) -> st.SearchStrategy[int]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    lo, hi = schema.get("minimum", -5), schema.get("maximum", 1000)
    inside = st.integers(lo, min(hi, lo + 8))  # small counts: a build of 10,000 pods proves nothing more
    return _mostly(inside, st.sampled_from([lo - 1, hi + 1, 0, -1]))


def strategy(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for ``schema`` (an OpenAPI v3 schema as a CRD holds it)."""
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(-3, 10**6), _string({"maxLength": 40}))
    kind = schema.get("type")
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10**6)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = strategy(schema.get("items", {}), depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" and "properties" in schema and depth < 6:
        props = schema["properties"]
        required = set(schema.get("required", []))
        values = st.fixed_dictionaries(
            {k: strategy(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: strategy(v, depth + 1) for k, v in props.items() if k not in required})
        return values.map(_spark_pairs) if {"type", "mainClass", "mainApplicationFile"} <= set(props) else values
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        keys = st.one_of(st.from_regex(r"[a-z][a-z0-9.]{0,20}[a-z0-9]", fullmatch=True), hostile_text(20))
        return st.dictionaries(keys, strategy(schema["additionalProperties"], depth + 1),
                               max_size=min(schema.get("maxProperties", 3), 3))
    if schema.get("x-kubernetes-preserve-unknown-fields") or kind == "object":
        scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), hostile_text(20))
        return st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True), scalars, max_size=3)
    return st.none()


def _spark_pairs(spec: dict[str, Any]) -> dict[str, Any]:
    """Most Spark specs as the cross-field rules want them (a main class for the JVM, a .py file for Python)."""
    if len(str(spec)) % 5 == 0:  # the rest left as drawn: the refusals are exercised too
        return spec
    if spec.get("type") == "Python":
        return spec | {"mainApplicationFile": f"local:///app/{len(spec)}.py"}
    return {"mainClass": "org.apache.spark.examples.SparkPi"} | spec


def names(maximum: int) -> st.SearchStrategy[str]:
    """metadata.name values: DNS-1123 labels up to ``maximum`` characters, often at the limit or just over."""
    edge = st.sampled_from([maximum, maximum + 1]).map(lambda n: "a" * n)  # at the limit, one over
    return st.integers(0, 3).flatmap(lambda i: edge if i == 0 else st.from_regex(NAME, fullmatch=True))
