"""Builders every service shares: the identity of a custom resource, and the child manifests that
look the same whatever the service (PodDisruptionBudget, Service, volume claim template).

All functions are pure: they take names, labels and specs and return plain manifests (dicts), which
the service's own ``resources.py`` composes and :meth:`operators.sdk.apply.Client.apply` applies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel

from .crd import CustomResource
from .objects import object_meta

SpecT = TypeVar("SpecT", bound=BaseModel)

# The meta-controller accounts for these resources; others (hugepages, devices) are left to kube-scheduler.
ACCOUNTED_RESOURCES = ("cpu", "memory", "ephemeral-storage")


@dataclass(frozen=True)
class ServiceObject(Generic[SpecT]):
    """A custom resource as the builders see it: identity plus the validated spec.

    Subclasses set ``RESOURCE`` (the kind) and ``SPEC`` (the spec model) and add only their own names
    (StatefulSet, Service and pod names).
    """

    RESOURCE: ClassVar[CustomResource]
    SPEC: ClassVar[type[BaseModel]]

    name: str
    namespace: str
    uid: str
    spec: SpecT

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Parse the object. Raises pydantic.ValidationError for a spec the models refuse."""
        meta = body["metadata"]
        return cls(meta["name"], meta["namespace"], meta["uid"], cls.SPEC.model_validate(body.get("spec") or {}))

    @property
    def owner(self) -> dict[str, Any]:
        """The object as an owner of its children (operators.sdk.objects.owner_reference reads it)."""
        return {"apiVersion": self.RESOURCE.api_version, "kind": self.RESOURCE.kind,
                "metadata": {"name": self.name, "uid": self.uid}}


def digest(value: Any) -> str:
    """16 hex digits of the SHA-256 of ``value`` as canonical JSON (sorted keys): equal values, equal digests."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def accounted_requests(requests: Mapping[str, str]) -> dict[str, str]:
    """The requests the meta-controller accounts for (:data:`ACCOUNTED_RESOURCES`), quantities unchanged."""
    return {k: v for k, v in requests.items() if k in ACCOUNTED_RESOURCES}


def pod_disruption_budget(*, name: str, namespace: str, labels: dict[str, str], owner: dict[str, Any],
                          selector: dict[str, str], max_unavailable: int = 1) -> dict[str, Any]:
    """A policy/v1 PodDisruptionBudget: at most ``max_unavailable`` of the selected pods voluntarily down
    (node drains, evictions) at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(name=name, namespace=namespace, labels=labels, owner=owner),
        "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": selector}},
    }


def service(*, name: str, namespace: str, labels: dict[str, str], owner: dict[str, Any], selector: dict[str, str],
            ports: list[tuple[str, int]], headless: bool = False, publish_not_ready: bool = False) -> dict[str, Any]:
    """A v1 Service over ``selector`` with TCP ``ports`` as (name, port) pairs, each to the same target port.

    ``headless`` gives per-pod DNS names and no virtual IP (clusterIP None); ``publish_not_ready``
    publishes pods before they are Ready (a quorum or a ring that must form before any member is Ready).
    """
    spec: dict[str, Any] = {"selector": selector,
                            "ports": [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"} for n, p in ports]}
    spec |= {"clusterIP": "None"} if headless else {"type": "ClusterIP"}
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": object_meta(name=name, namespace=namespace, labels=labels, owner=owner), "spec": spec}


def volume_claim_template(*, name: str, labels: dict[str, str], size: str,
                          storage_class_name: str | None) -> dict[str, Any]:
    """A StatefulSet volumeClaimTemplate: one ReadWriteOnce volume of ``size`` per pod (the cluster's
    default StorageClass when ``storage_class_name`` is None)."""
    claim: dict[str, Any] = {
        "metadata": {"name": name, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
    if storage_class_name:
        claim["spec"]["storageClassName"] = storage_class_name
    return claim


def retention_policy(delete_claim: bool) -> dict[str, str]:
    """A StatefulSet's persistentVolumeClaimRetentionPolicy: the volumes stay (Retain) unless the spec
    says to delete them, both when the StatefulSet is deleted and when it is scaled down."""
    policy = "Delete" if delete_claim else "Retain"
    return {"whenDeleted": policy, "whenScaled": policy}


def volume_owner_init(*, image: str, volume: str, mount_path: str, uid: int) -> dict[str, Any]:
    """An init container that gives the volume's root directory to ``uid`` (and its group) before the
    service starts as that user.

    ``fsGroup`` does this for volumes whose plugin manages ownership, but hostPath volumes (the
    kube-controller-manager's hostPath provisioner, as on the local real nodes) and some NFS servers
    keep ``root:root 0750``, which a non-root service cannot write. Only the mount's own directory
    changes, once (``chown`` of what it already owns is a no-op), with CAP_CHOWN alone; the service's
    files are its own. It asks for no resources: a pod's request is the larger of its init containers'
    and the sum of its containers' (Kubernetes, "Init containers: resources"), so any request here could
    exceed what the meta-controller admitted for a pod that asks for none, and leave it unschedulable."""
    return {
        "name": "volume-owner",
        "image": image,
        "command": ["chown", f"{uid}:{uid}", mount_path],
        "volumeMounts": [{"name": volume, "mountPath": mount_path}],
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
    }
