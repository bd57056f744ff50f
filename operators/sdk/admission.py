"""The spec webhook: refuse at ``kubectl apply`` every spec the kind's pydantic model refuses.

The CRD schema and its CEL rules refuse what the API server can check cheaply; the model is the whole
policy (owned keys compared after normalising, key character sets, requests within limits, size caps,
cron schedules parsed by :mod:`operators.spark.cron`'s parser, …). Without this webhook a spec the schema
let through but the model refuses would be stored and reported only as ``Ready=False, InvalidSpec``.
It fails open (``ignore_failures``): with the operator down, the schema still guards the fields and the
reconcile loop still refuses the spec on its status.
"""

from __future__ import annotations

import re
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from . import runtime
from .crd import CustomResource


def problems(model: type[BaseModel], spec: dict[str, Any]) -> str | None:
    """Why ``model`` refuses ``spec``: each refused field as ``spec.<path>: <why> (got <value>)``; None if none."""
    try:
        model.model_validate(spec)
    except ValidationError as exc:
        return refusal(exc)
    return None


def refusal(exc: ValidationError) -> str:
    """The message of a refused spec: one ``spec.<path>: <why>`` per error, with the value when it is a scalar."""
    parts = []
    for e in exc.errors():
        path = ".".join(["spec", *map(str, e["loc"])])
        value = e.get("input")
        got = f" (got {value!r})" if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
        for msg in e["msg"].removeprefix("Value error, ").split("; "):
            # A model's own check names the field under the model: "requests.cpu: ..." at spec.brokers.resources.
            inner = _FIELD.match(msg)
            parts.append(f"{path}.{msg}" if inner and not msg.startswith("spec.") else
                         msg if msg.startswith("spec.") else f"{path}: {msg}{got}")
    return "; ".join(parts)


_FIELD = re.compile(r"^[A-Za-z][\w.-]*: ")


def register_spec_check(resource: CustomResource) -> None:
    """Refuse a create or update of ``resource`` whose spec the model refuses, with :func:`refusal`'s message.

    An update that leaves the spec as it was is let through (metadata, finalizers, status), so an object
    stored before a rule was added can still be deleted and labelled.
    """
    @runtime.validate(resource.group, resource.version, resource.plural, id=f"spec-{resource.plural}",
                      operations=["CREATE", "UPDATE"], ignore_failures=True)
    def _validate(body: kopf.Body, old: kopf.Body | None, **_: Any) -> None:
        spec = dict(body.get("spec") or {})
        if old is not None and dict(old.get("spec") or {}) == spec:
            return
        problem = problems(resource.spec, spec)
        if problem:
            raise kopf.AdmissionError(problem, code=422)
