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


def test_metrics_doc_lists_every_family_and_the_dashboard_uses_only_documented_ones():
    import json
    import re

    from prometheus_client import REGISTRY

    import operators.sdk.metrics  # noqa: F401 - registers the families
    from operators.crds import CRD_DIR

    root = CRD_DIR.parent
    text = (root / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(smack_[a-z_]+)` \|", text, re.M))
    exported = {m.name + ("_total" if m.type == "counter" else "") for m in REGISTRY.collect()
                if m.name.startswith("smack_")}
    assert exported <= documented, f"undocumented: {sorted(exported - documented)}"
    dashboard = json.loads((root / "charts" / "smack-operators" / "dashboards" / "smack-operators.json").read_text())
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for p in dashboard["panels"] for t in p["targets"]
            for m in re.findall(r"smack_[a-z_]+", t["expr"])}
    assert used <= documented, f"the dashboard uses undocumented {sorted(used - documented)}"
