"""Kubernetes quantities as whole numbers of base units (millicores, bytes, pods) and back."""

from __future__ import annotations

import pytest

from operators.sdk.quantities import format_amount, parse_amounts, to_base_units

G = 1 << 30


def test_quantities_become_base_units():
    assert to_base_units("cpu", "500m") == 500
    assert to_base_units("cpu", "2") == 2000
    assert to_base_units("cpu", "0.1m") == 1  # rounded up, never down to nothing
    assert to_base_units("memory", "1.5Gi") == 3 * (1 << 29)
    assert parse_amounts({"storage": "100Gi", "pods": 3}) == {"storage": 100 * G, "pods": 3}
    assert format_amount("cpu", 1500) == "1500m"
    assert format_amount("cpu", 4000) == "4"
    assert format_amount("memory", 16 * G) == "16Gi"


@pytest.mark.parametrize(("resource", "quantity", "match"), [
    ("gpu", "1", "unknown resource 'gpu'"),
    ("cpu", "-1", "negative"),
    ("memory", "lots", None),
])
def test_bad_quantities_are_refused(resource, quantity, match):
    with pytest.raises(ValueError, match=match):
        to_base_units(resource, quantity)
