"""Kubernetes resource quantities as whole numbers of each resource's base unit.

The scheduler-facing resources are cpu, memory, ephemeral-storage, storage (persistent
volume size) and pods. CPU is counted in millicores, memory and storage in bytes, pods as a
count, so amounts add and compare as integers (the API server's own
``resource.Quantity.MilliValue``/``Value``; parsing is ``kubernetes.utils.parse_quantity``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from kubernetes.utils import parse_quantity

RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage", "storage", "pods")


def to_base_units(resource: str, quantity: str | int) -> int:
    """One quantity ("500m", "16Gi", 3) as a whole number of ``resource``'s base unit, rounded up.

    CPU is counted in millicores, memory and storage in bytes, pods as a count.
    Raises ValueError for an unknown resource, a malformed or a negative quantity.
    """
    if resource not in RESOURCE_NAMES:
        raise ValueError(f"unknown resource {resource!r}; known: {', '.join(RESOURCE_NAMES)}")
    value = parse_quantity(quantity)
    if value < 0:
        raise ValueError(f"{resource}: {quantity!r} is negative")
    return math.ceil(value * 1000) if resource == "cpu" else math.ceil(value)


def parse_amounts(quantities: Mapping[str, str | int]) -> dict[str, int]:
    """``{"cpu": "500m", "memory": "1Gi"}`` -> ``{"cpu": 500, "memory": 1073741824}``; see
    :func:`to_base_units`."""
    return {name: to_base_units(name, q) for name, q in quantities.items()}


def format_amount(resource: str, value: int) -> str:
    """A base-unit amount as a quantity: CPU 4000 -> "4", 1500 -> "1500m"; 2**34 bytes -> "16Gi"."""
    if resource == "cpu":
        return str(value // 1000) if value % 1000 == 0 else f"{value}m"
    if resource != "pods" and value:
        for suffix, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
            if value % size == 0:
                return f"{value // size}{suffix}"
    return str(value)


def format_amounts(vector: Sequence[int], names: Iterable[str] = RESOURCE_NAMES) -> dict[str, str]:
    """The non-zero entries of a vector indexed like :data:`RESOURCE_NAMES` as ``{resource: quantity}``,
    for the resources in ``names``."""
    wanted = set(names)
    return {name: format_amount(name, vector[r]) for r, name in enumerate(RESOURCE_NAMES)
            if name in wanted and vector[r]}
