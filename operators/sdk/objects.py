"""Labels, owner references and names shared by every operator's builders.

Label keys follow the Kubernetes recommended labels (``app.kubernetes.io/*``);
operator-owned keys carry the operator's domain, as the API conventions require.
Source: kubernetes.io "Recommended Labels"; "Owners and Dependents".
"""

from __future__ import annotations

from typing import Any

MANAGED_BY = "smack-operators"
DOMAIN = "smack.dev"


def standard_labels(*, name: str, instance: str, component: str, version: str | None = None) -> dict[str, str]:
    """The recommended labels for an object of application ``name`` (e.g. "kafka")."""
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version:
        labels["app.kubernetes.io/version"] = version
    return labels


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller owner reference to ``owner`` (a namespaced custom resource body).

    The dependent must live in the owner's namespace; the garbage collector
    deletes it with the owner. ``blockOwnerDeletion`` makes foreground deletion wait.
    """
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(*, name: str, namespace: str, labels: dict[str, str], owner: dict[str, Any] | None = None,
                annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """``metadata`` for a child object; the owner reference is added when ``owner`` is given."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    return meta
