"""The CRDs in crds/ are generated from the models, structural, and current."""

from __future__ import annotations

from typing import Any

import pytest

from operators.crds import CRD_DIR, RESOURCES
from operators.sdk.crd import crd_manifest, render_crds


def test_crds_directory_is_current():
    rendered = render_crds(RESOURCES)
    on_disk = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    stale = sorted(name for name in rendered if on_disk.get(name) != rendered[name])
    assert not stale, f"crds/ is stale for {stale}: run `make crds`"
    assert set(on_disk) == set(rendered), "crds/ holds files no model generates"


def _walk(schema: dict[str, Any], path: str = ""):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_schema_is_structural(resource):
    schema = crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs"):
            assert banned not in node, f"{path} has {banned}"
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert node.get("default", "") is not None, f"{path} has a null default"
        if node.get("type") == "object" and path != ".metadata":
            assert "properties" in node or "additionalProperties" in node or node.get(
                "x-kubernetes-preserve-unknown-fields"), f"{path} is an object with no shape"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_status_subresource_and_printer_columns(resource):
    version = crd_manifest(resource)["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[-1] == "Age"
    conditions = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
