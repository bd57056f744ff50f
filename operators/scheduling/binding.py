"""What a service operator tells the meta-controller about its kind, so that a demand that can
never be met is refused at ``kubectl apply``.

Each service exports one :class:`ServiceBinding` (``SERVICE`` in its handlers module);
``operators/__main__.py`` hands it to :func:`operators.meta.webhook.register_service`, so that
no service imports the meta-controller (Kubebuilder's ``SetupWebhookWithManager``: the
composition root wires the parts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..sdk.crd import CustomResource
from .api import ServiceClaimSpec


@dataclass(frozen=True)
class ServiceBinding:
    """A service kind and the demand its objects make.

    ``demand(body)`` returns the ServiceClaim spec the object would produce, or None when its
    spec does not parse (the schema reports that). ``field_of`` maps a pod set name to the spec
    field a user edits for it (e.g. ``broker`` → ``spec.brokers``), or is a function of the pod
    set name when the user names the pod sets (e.g. one per rack).
    """

    resource: CustomResource
    demand: Callable[[dict[str, Any]], ServiceClaimSpec | None]
    field_of: Mapping[str, str] | Callable[[str], str]

    def field(self, pod_set: str | None) -> str:
        """The spec field a refusal about ``pod_set`` names: ``spec`` for the whole claim (None) or a
        pod set the mapping does not know."""
        if pod_set is None:
            return "spec"
        return self.field_of(pod_set) if callable(self.field_of) else self.field_of.get(pod_set, "spec")
