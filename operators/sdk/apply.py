"""Server-side apply of child objects, one field manager per operator.

An object is applied only when the live object does not already hold every
field of the intent, so a steady-state reconcile sends no write at all; when a
write is needed it is a server-side apply (``application/apply-patch+yaml``)
with ``force`` so the operator keeps ownership of the fields it manages.
Source: kubernetes.io "Server-Side Apply" (field management, conflicts).
"""

from __future__ import annotations

import enum
import json
import logging
import re
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def contains(live: Any, intent: Any) -> bool:
    """True when ``live`` already holds every field of ``intent`` with an equal value.

    Dicts are compared as subsets (the server adds defaults and other managers'
    fields, and drops empty maps and lists); lists must match element by element; strings that differ are equal
    when both parse as the same Kubernetes quantity ("1024Mi" == "1Gi"), since the
    API server canonicalises quantities.
    """
    if isinstance(intent, dict):
        # The API server drops empty maps and lists (omitempty): absent equals empty.
        return isinstance(live, dict) and all(
            contains(live[k], v) if k in live else v in ({}, []) for k, v in intent.items())
    if isinstance(intent, list):
        return isinstance(live, list) and len(live) == len(intent) and all(
            contains(lv, iv) for lv, iv in zip(live, intent, strict=True))
    if isinstance(intent, bool) or isinstance(live, bool):
        return intent is live  # in Python True == 1; in a manifest they differ
    if intent == live:
        return True
    if isinstance(intent, (str, int)) and isinstance(live, (str, int)):
        try:
            return parse_quantity(intent) == parse_quantity(live)
        except ValueError:
            return False
    return False


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``: changed keys, and None for
    keys ``new`` drops (a plain merge patch of ``new`` would leave them in place). Lists are
    replaced whole. Returns {} when nothing changed."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value) if isinstance(value, dict) else value
    return patch


def _json(response: Any) -> Any:
    """The body of a raw API response. Reading objects as plain JSON rather than through the dynamic
    client's ResourceInstance wrappers costs a fraction of the CPU (measured: most of a busy
    operator's time went into wrapping and unwrapping listed objects)."""
    return json.loads(response.data)


@dataclass
class Client:
    """Applies manifests as ``field_manager``; one instance per operator, shared by threads."""

    api: client.ApiClient
    field_manager: str

    @cached_property
    def _dynamic(self) -> dynamic.DynamicClient:
        return dynamic.DynamicClient(self.api)

    def resource(self, api_version: str, kind: str) -> Any:
        """The discovered API resource for ``api_version``/``kind`` (cached by the client)."""
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        """Return the live object as a dict, or None when it does not exist."""
        try:
            return _json(self.resource(api_version, kind).get(name=name, namespace=namespace, serialize=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list_objects(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str) -> list[dict[str, Any]]:
        """Objects of ``kind`` matching ``label_selector`` (in ``namespace``, or all namespaces when None)."""
        found = self.resource(api_version, kind).get(namespace=namespace, label_selector=label_selector,
                                                     serialize=False)
        return _json(found)["items"] or []

    def apply(self, manifest: dict[str, Any]) -> tuple[Outcome, dict[str, Any]]:
        """Make the cluster hold ``manifest``; return what was done and the live object.

        Raises kubernetes.client.exceptions.ApiException when the API server
        refuses the object (e.g. an immutable field changed).
        """
        meta = manifest["metadata"]
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        live = self.get(api_version, kind, meta["name"], meta.get("namespace"))
        if live is not None and contains(live, manifest):
            return Outcome.UNCHANGED, live
        applied = self.resource(api_version, kind).server_side_apply(
            body=apply_body(manifest), name=meta["name"], namespace=meta.get("namespace"),
            field_manager=self.field_manager, force_conflicts=True, serialize=False,
        )
        applied = _json(applied)
        outcome = Outcome.CREATED if live is None else Outcome.UPDATED
        log.info("%s %s %s/%s", outcome.value, kind, meta.get("namespace", ""), meta["name"])
        return outcome, applied

    def create(self, manifest: dict[str, Any]) -> Outcome:
        """Create ``manifest`` when no object of its name exists: one request, no read first.

        CREATED, or UNCHANGED when it already exists (409 AlreadyExists: creation is idempotent and
        the existing object is left as it is). Raises ApiException for any other refusal.
        """
        meta = manifest["metadata"]
        try:
            self.resource(manifest["apiVersion"], manifest["kind"]).create(
                body=manifest, namespace=meta.get("namespace"), serialize=False)
        except ApiException as exc:
            if exc.status == 409:
                return Outcome.UNCHANGED
            raise
        log.info("created %s %s/%s", manifest["kind"], meta.get("namespace", ""), meta["name"])
        return Outcome.CREATED

    def delete_collection(self, api_version: str, kind: str, namespace: str, label_selector: str) -> None:
        """Delete every object of ``kind`` in ``namespace`` that matches ``label_selector`` (one request)."""
        self.resource(api_version, kind).delete(namespace=namespace, label_selector=label_selector)

    def delete_object(self, api_version: str, kind: str, name: str, namespace: str | None,
                      grace_period_seconds: int | None = None, uid: str | None = None) -> None:
        """Delete an object; one already gone is fine.

        A pod gets its termination grace period unless ``grace_period_seconds`` overrides it.
        With ``uid``, only that incarnation is deleted (a precondition): a newer object of the
        same name, e.g. the pod a StatefulSet just recreated, is left alone.
        """
        body = {"preconditions": {"uid": uid}} if uid else None
        try:
            self.resource(api_version, kind).delete(name=name, namespace=namespace, body=body,
                                                    grace_period_seconds=grace_period_seconds)
        except ApiException as exc:
            if exc.status == 404 or (uid and exc.status == 409):
                return
            raise
        log.info("deleted %s %s/%s", kind, namespace or "", name)

    def delete_pod(self, name: str, namespace: str, grace_period_seconds: int | None = None,
                   uid: str | None = None) -> None:
        """Delete a pod (only incarnation ``uid`` when given): the StatefulSet controller recreates it
        from its current template. A grace period of 0 removes it at once, for a pod whose node is
        gone and cannot confirm the stop."""
        self.delete_object("v1", "Pod", name, namespace, grace_period_seconds, uid)

    def patch_metadata(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                       labels: dict[str, str | None] | None = None,
                       annotations: dict[str, str | None] | None = None) -> dict[str, Any]:
        """Merge-patch labels and annotations of an object (a value of None removes the key); return it.

        For markers on objects the operator does not own through apply (pods a StatefulSet creates,
        the custom resource itself), so no field manager takes over the object's other fields.
        """
        metadata: dict[str, Any] = {}
        if labels:
            metadata["labels"] = labels
        if annotations:
            metadata["annotations"] = annotations
        return _json(self.resource(api_version, kind).patch(
            body={"metadata": metadata}, name=name, namespace=namespace,
            content_type="application/merge-patch+json", serialize=False,
        ))

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str | None,
                     status: dict[str, Any], *, resource_version: str | None = None) -> dict[str, Any]:
        """Merge-patch the ``status`` subresource of a custom resource; return the object.

        With ``resource_version`` the patch applies only to that version of the object (optimistic
        concurrency): when another writer got there first, ApiException 409 Conflict is raised and
        nothing is written, so of two writers racing from the same version exactly one wins.
        """
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        patched = self.resource(api_version, kind).status.patch(
            body=body, name=name, namespace=namespace,
            content_type="application/merge-patch+json",
            serialize=False,
        )
        return _json(patched)


# What the API server's YAML decoder of an apply patch takes raw: YAML's printable characters less the
# ones a YAML reader treats as line breaks or a byte order mark (NEL, LS, PS, BOM).
_NOT_RAW = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def apply_body(manifest: dict[str, Any]) -> bytes:
    """``manifest`` as the body of a server-side apply (``application/apply-patch+yaml``): JSON, which is
    YAML, with every character the decoder refuses raw escaped as ``\\uXXXX`` and the rest as UTF-8.

    The client's own ASCII JSON escapes a character outside the BMP (an emoji in an annotation) as a
    surrogate pair, which that decoder refuses ("found invalid Unicode character escape code"); plain
    UTF-8 JSON would carry C1 control characters raw, which it refuses too ("control characters are
    not allowed"). Either way every apply of the object failed, on every pass.
    """
    text = json.dumps(manifest, ensure_ascii=False)
    return _NOT_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text).encode()


@cache
def client_for(field_manager: str) -> Client:
    """The process-wide Kubernetes client of one operator, created on first use (after the kubeconfig is loaded).

    Its connection pool holds as many connections as reconciles run at once, so that none waits
    for a connection (urllib3's default is five per CPU).
    """
    from .controller import RECONCILE_THREADS  # noqa: PLC0415 - the controller imports kopf; apply does not

    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, RECONCILE_THREADS)
    return Client(client.ApiClient(configuration), field_manager)
