"""docs/reference/ is generated from the models: it must be current, and name every spec field."""

from __future__ import annotations

from operators import docs
from operators.crds import RESOURCES
from operators.sdk.crd import openapi_schema


def test_reference_is_current():
    for name, text in docs.render().items():
        path = docs.REFERENCE_DIR / name
        assert path.exists() and path.read_text() == text, f"{path} is stale: run `make docs`"


def test_every_top_level_spec_field_is_documented():
    pages = docs.render()
    for resource in RESOURCES:
        page = pages[f"{resource.plural}.md"]
        for field in openapi_schema(resource.spec).get("properties", {}):
            assert f"`spec.{field}`" in page, f"{resource.kind}: spec.{field} missing"


def test_nested_fields_and_validation_are_shown():
    page = docs.render()["kafkaclusters.md"]
    assert "`spec.brokers.replicas`" in page
    assert "one of `3.9.0`" in page  # the version enum
