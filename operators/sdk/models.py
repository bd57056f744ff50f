"""Base pydantic model and field types shared by every custom resource's API.

The models are the single source of truth for both the operator (parsing
``spec``) and the CRDs (``make crds`` turns them into OpenAPI schemas, see
:mod:`operators.sdk.crd`). Validation that the API server must perform at
``kubectl apply`` is expressed in the schema (bounds, enums, patterns) or as CEL
rules in ``x-kubernetes-validations``; the pydantic validators mirror them so a
spec that reached the operator is always usable.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from kubernetes.utils import parse_quantity
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """A Kubernetes-style object part: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored when parsing (the API server prunes them anyway),
    so an operator reading an object written by a newer CRD never crashes.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    # Fields renamed since an older release, wire name -> wire name: an object stored under the old name
    # is read under the new one, the CRD keeps the old name in its schema (so the API server does not prune
    # it before it is read), and the status writer removes it (operators.sdk.service).
    RENAMED: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _read_renamed(cls, data: Any) -> Any:
        if not cls.RENAMED or not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in cls.RENAMED.items():
            if old in data:
                value = data.pop(old)
                data.setdefault(new, value)
        return data

    def wire(self) -> dict[str, Any]:
        """Return the object as the API server stores it: camelCase keys, no unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def cel(rule: str, message: str | None = None, *, message_expression: str | None = None,
        field_path: str | None = None, reason: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry (a CEL rule the API server enforces).

    ``rule`` uses ``self`` (and ``oldSelf`` for transition rules, which only run
    on update). Source: Kubernetes docs, "Validation rules" for CustomResourceDefinitions.
    """
    entry = {"rule": rule}
    if message:
        entry["message"] = message
    if message_expression:
        entry["messageExpression"] = message_expression
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules for a field or model."""
    return {"x-kubernetes-validations": list(rules)}


def _check_quantity(value: str) -> str:
    try:
        parse_quantity(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 10Gi, 500m)") from exc
    return value


# A Kubernetes resource quantity ("10Gi", "500m", "2"). The API server checks it
# with CEL's isQuantity(), so the rejection message carries the bad value; the
# length bound keeps the rule within the API server's CEL cost budget.
Quantity = Annotated[
    str,
    AfterValidator(_check_quantity),
    Field(max_length=64, json_schema_extra=validations(cel(
        "isQuantity(self)",
        message_expression="'must be a Kubernetes quantity such as 10Gi or 500m, got: ' + self",
        reason="FieldValueInvalid",
    ))),
]


def _check_positive_quantity(value: str) -> str:
    if parse_quantity(_check_quantity(value)) <= 0:
        raise ValueError(f"{value} is not allowed: it must be above zero")
    return value


# A quantity that sizes something (a request, a limit, a volume): above zero, or the object built from it
# is refused (a PVC of 0) or meaningless (a pod asking for no memory). Both rules name the value.
PositiveQuantity = Annotated[
    str,
    AfterValidator(_check_positive_quantity),
    Field(max_length=64, json_schema_extra=validations(
        cel("isQuantity(self)",
            message_expression="'must be a Kubernetes quantity such as 10Gi or 500m, got: ' + self",
            reason="FieldValueInvalid"),
        cel("!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))",
            message_expression="'must be above zero, got: ' + self", reason="FieldValueInvalid"))),
]
