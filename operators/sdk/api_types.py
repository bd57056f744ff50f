"""API types every service's spec shares, with one validation policy: the pods' compute resources
and their persistent volume.

A service subclasses them only to change defaults (Cassandra asks for 1 CPU and 4Gi by default), so
the CEL rules the API server enforces, and their messages, are the same for every kind.
"""

from __future__ import annotations

from typing import Annotated

from kubernetes.utils import parse_quantity
from pydantic import Field, model_validator

from .models import Model, PositiveQuantity, cel, validations
from .names import object_name, qualified_name_problem

_REQUESTS_WITHIN_LIMITS = cel(
    "!has(self.requests) || !has(self.limits) || self.limits.all(r, !(r in self.requests) || "
    "!isQuantity(self.requests[r]) || !isQuantity(self.limits[r]) || "
    "!quantity(self.requests[r]).isGreaterThan(quantity(self.limits[r])))",
    "every request must be at most its limit (requests.<r> <= limits.<r>)", field_path=".requests",
    reason="FieldValueInvalid")


# Container resource names Kubernetes takes: the standard ones, hugepages-<size>, or an extended resource with
# a domain prefix (core/v1 validation, validateContainerResourceName; docs, "Resource Management for Pods and
# Containers"). Any other name makes the API server refuse the pod template, on every pass.
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_RESOURCE_NAMES = cel(
    "self.all(r, r in " + str(list(STANDARD_RESOURCES)) + " || r.startsWith('hugepages-') || r.contains('/'))",
    f"resource names are {', '.join(STANDARD_RESOURCES)}, hugepages-<size> or a domain-prefixed extended resource "
    "(e.g. nvidia.com/gpu)", reason="FieldValueInvalid")


def resource_name_problem(field: str, name: str) -> str | None:
    """Why ``name`` cannot be a container resource name, or None."""
    if name in STANDARD_RESOURCES or (name.startswith("hugepages-") and qualified_name_problem(field, name) is None):
        return None
    if "/" in name and qualified_name_problem(field, name) is None:
        return None
    return (f"{field}: {name!r} is not a resource name: {', '.join(STANDARD_RESOURCES)}, hugepages-<size> or a "
            "domain-prefixed extended resource (e.g. nvidia.com/gpu)")


class Resources(Model):
    """Compute resources of each pod's main container, as in a container's ``resources``.

    Every quantity must be above zero and every request at most its limit: Kubernetes refuses a pod
    whose request exceeds its limit (core/v1 validation, "must be less than or equal to ... limit").
    """

    model_config = Model.model_config | {"json_schema_extra": validations(_REQUESTS_WITHIN_LIMITS)}

    requests: Annotated[dict[str, PositiveQuantity], Field(
        max_length=8, json_schema_extra=validations(_RESOURCE_NAMES))] = {}
    limits: Annotated[dict[str, PositiveQuantity], Field(
        max_length=8, json_schema_extra=validations(_RESOURCE_NAMES))] = {}

    @model_validator(mode="after")
    def _checks(self) -> Resources:
        problems = [p for field, values in (("requests", self.requests), ("limits", self.limits))
                    for r in values if (p := resource_name_problem(field, r))]
        problems += [f"requests.{r}: {v} is above limits.{r} ({self.limits[r]}): a request must be at most its limit"
                     for r, v in self.requests.items() if r in self.limits
                     and parse_quantity(v) > parse_quantity(self.limits[r])]
        if problems:
            raise ValueError("; ".join(problems))
        return self


# Quantities are compared as quantities (10Gi == 10240Mi); a rule over a value that is not a quantity
# passes here, since the Quantity type's own rule already refuses it with a clearer message.
_QUANTITIES = "!isQuantity(self.size) || !isQuantity(oldSelf.size) || "
_NOT_SMALLER = "!quantity(self.size).isLessThan(quantity(oldSelf.size))"
_NOT_LARGER = "!quantity(self.size).isGreaterThan(quantity(oldSelf.size))"


class Storage(Model):
    """The persistent volume of each pod (one PersistentVolumeClaim per pod, from the StatefulSet's template).

    ``size`` and ``storageClassName`` are fixed at creation: a volume cannot be made smaller, and
    expansion is not supported yet (StatefulSet volumeClaimTemplates are immutable; Kubernetes KEP-4650).
    """

    model_config = Model.model_config | {"json_schema_extra": validations(
        cel(f"{_QUANTITIES}({_NOT_SMALLER} && {_NOT_LARGER})",
            message_expression="'size is immutable after creation (' + oldSelf.size + ' -> ' + self.size + "
                               "'): volume expansion is not supported yet'",
            field_path=".size", reason="FieldValueForbidden"),
        # A shrink also says why it can never be allowed.
        cel(_QUANTITIES + _NOT_SMALLER,
            message_expression="'size cannot shrink from ' + oldSelf.size + ' to ' + self.size + "
                               "': a volume cannot be made smaller'",
            field_path=".size", reason="FieldValueForbidden"),
        cel("(has(self.storageClassName) ? self.storageClassName : '') == "
            "(has(oldSelf.storageClassName) ? oldSelf.storageClassName : '')",
            "storageClassName is immutable after creation", field_path=".storageClassName",
            reason="FieldValueForbidden"),
    )}

    size: Annotated[PositiveQuantity, Field(description="Size of each pod's volume, e.g. 100Gi; above zero.",
                                            max_length=32)] = "10Gi"
    storage_class_name: Annotated[str | None, object_name(
        "StorageClass of the volumes; the cluster's default class when unset")] = None
    delete_claim: Annotated[bool, Field(description=(
        "Delete a pod's volume when a scale-down removes the pod (after its data has moved), and every volume "
        "when the resource is deleted. Default false: data outlives its pods."))] = False
