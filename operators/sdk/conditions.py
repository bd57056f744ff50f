"""Status conditions as the Kubernetes API conventions define them.

A condition is ``{type, status, observedGeneration, lastTransitionTime, reason,
message}``; ``status`` is "True", "False" or "Unknown"; ``reason`` is one
CamelCase word; ``lastTransitionTime`` changes only when ``status`` changes.
Source: kubernetes/community, contributors/devel/sig-architecture/api-conventions.md,
"Typical status properties"; metav1.Condition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from pydantic import Field, ValidationError

from .models import Model

_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


class Condition(Model):
    """One entry of ``status.conditions``."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    observed_generation: int | None = None
    last_transition_time: str | None = None


def now() -> str:
    """The current time as RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[Condition], cond: Condition, *, at: str | None = None) -> list[Condition]:
    """Return ``conditions`` with ``cond`` set; keep the old transition time if status did not change.

    The list stays in its order; a new type is appended. Raises ValueError when
    ``cond.reason`` is not a CamelCase word, as metav1.Condition requires.
    """
    if not _REASON.match(cond.reason):
        raise ValueError(f"condition reason must be one CamelCase word, got {cond.reason!r}")
    out, found = [], False
    for old in conditions:
        if old.type != cond.type:
            out.append(old)
            continue
        found = True
        keep = old.status == cond.status and old.last_transition_time
        out.append(cond.model_copy(update={"last_transition_time": keep or at or now()}))
    if not found:
        out.append(cond.model_copy(update={"last_transition_time": cond.last_transition_time or at or now()}))
    return out


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    """Return the condition of ``type_``, or None when absent (which means Unknown)."""
    return next((c for c in conditions if c.type == type_), None)


# The ``status.conditions`` field: a list-map keyed by type, as metav1.Condition lists are declared.
Conditions = Annotated[list[Condition], Field(json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})]


S = TypeVar("S", bound=Model)


def invalid_spec(status: S, exc: ValidationError, generation: int) -> tuple[S, str]:
    """``status`` with Ready=False, reason InvalidSpec, for a spec the CRD schema let through but the
    models refuse; and the message, which names every refused field (``spec.<path>: <why>``).

    ``status`` is any status model with ``conditions``; nothing else in it changes, so the last good
    children keep running.
    """
    message = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    conditions = set_condition(status.conditions, Condition(
        type="Ready", status="False", reason="InvalidSpec", message=message, observed_generation=generation))
    return status.model_copy(update={"conditions": conditions}), message
