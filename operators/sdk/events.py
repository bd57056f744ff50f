"""Kubernetes Events about one object, posted through one recorder per reconcile pass.

A reconcile creates one :class:`Recorder` for the object it works on and hands it to whatever
has something to say, instead of threading the object's body through every helper. Events are
posted by kopf (``kopf.event``), which batches them in the background and names this operator
as the source; a failure to post is logged by kopf and never fails the pass.

:func:`run_operation` is the one shape of "ask the service to do something and say how it went"
(a Kafka Admin API call, a ``nodetool`` command): a Normal event on success, a Warning event named
``<reason>Failed`` on error, and a boolean so the step stays pending and is retried next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorder:
    """Posts Events whose ``involvedObject`` is ``body`` (a custom resource's body, as kopf gives it)."""

    body: Mapping[str, Any]

    def info(self, reason: str, message: str) -> None:
        """A Normal event; ``reason`` is a CamelCase word (Kubernetes API conventions, "Events")."""
        kopf.info(self.body, reason=reason, message=message)

    def warn(self, reason: str, message: str) -> None:
        """A Warning event: something a person should look at."""
        kopf.warn(self.body, reason=reason, message=message)

    def event(self, type: str, reason: str, message: str) -> None:
        """An event of ``type`` ``"Normal"`` or ``"Warning"``."""
        kopf.event(self.body, type=type, reason=reason, message=message)


def run_operation(recorder: Recorder, what: str, reason: str, call: Callable[[], object], *,
                  note: str = "") -> bool:
    """Run ``call()`` (one operation on the service); True when it returned, False when it raised.

    Success posts a Normal event ``reason`` with ``what`` (and ``note``, e.g. that a simulated
    client stood in for the service). Any exception is the service's answer, not a bug of the
    operator: it is posted as a Warning event ``<reason>Failed`` with the error, and the caller
    keeps its step pending so that the next pass tries again.
    """
    try:
        call()
    except Exception as exc:  # any client, exec or service error: report it, the step stays pending
        recorder.warn(f"{reason}Failed", f"{what}: {exc}")
        return False
    recorder.info(reason, f"{what} {note}".rstrip())
    return True
