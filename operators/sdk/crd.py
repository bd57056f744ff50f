"""CustomResourceDefinitions generated from the pydantic models.

``make crds`` calls :func:`write_crds`; a unit test fails when ``crds/`` is stale.
The JSON schema pydantic produces is rewritten into a *structural* OpenAPI v3
schema as Kubernetes requires: ``$ref``s inlined, ``title`` dropped, ``Optional``
turned into a non-required field, CEL rules and ``x-kubernetes-*`` extensions kept.
Source: Kubernetes docs, "Extend the Kubernetes API with CustomResourceDefinitions",
sections "Specifying a structural schema" and "Validation rules".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

# JSON-schema keywords that a structural CRD schema accepts and we pass through.
_KEPT = {
    "type", "format", "description", "default", "enum", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems",
    "uniqueItems", "minProperties", "maxProperties", "required", "properties", "items",
    "additionalProperties", "nullable",
}


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry shown by ``kubectl get``."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def wire(self) -> dict[str, Any]:
        col = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            col["description"] = self.description
        if self.priority:
            col["priority"] = self.priority
        return col


@dataclass(frozen=True)
class CustomResource:
    """A custom resource kind: its names, its models and how kubectl shows it."""

    group: str
    kind: str
    plural: str
    spec: type[BaseModel]
    status: type[BaseModel]
    version: str = "v1alpha1"
    scope: str = "Namespaced"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("smack",)
    printer_columns: tuple[PrinterColumn, ...] = ()
    # CEL rules on the whole spec (e.g. transitions that compare spec fields).
    spec_validations: tuple[dict[str, str], ...] = ()
    # CEL rules on the whole object, for rules that read metadata.name (only name and generateName are
    # visible there; Kubernetes docs, "Validation rules": "metadata").
    object_validations: tuple[dict[str, str], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def singular(self) -> str:
        return self.kind.lower()


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the structural OpenAPI v3 schema of ``model`` (camelCase, refs inlined).

    Raises ValueError if the model uses a construct a structural schema cannot
    express (a union of two non-null types).
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(raw, defs)


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = copy.deepcopy(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        merged = {**target, **node}  # a field's own description/default wins over the model's
        return _structural(merged, defs)
    if node.get("x-kubernetes-int-or-string"):
        node.pop("anyOf", None)  # int | str is the one union a structural schema allows
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            options = [o for o in node.pop(combinator) if o.get("type") != "null"]
            if len(options) != 1:
                raise ValueError(f"a structural schema cannot express the union {options}")
            inner = _structural(options[0], defs)
            rules = node.pop("x-kubernetes-validations", []) + inner.pop("x-kubernetes-validations", [])
            inner.update({k: v for k, v in node.items() if k in _KEPT or k.startswith("x-kubernetes-")})
            if rules:
                inner["x-kubernetes-validations"] = rules
            if inner.get("default", "") is None:
                del inner["default"]
            return inner
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = _structural(node.pop("allOf")[0], defs)
        inner.update({k: v for k, v in node.items() if k in _KEPT or k.startswith("x-kubernetes-")})
        return inner
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _structural(value, defs)
        elif key == "additionalProperties":
            continue  # false: the API server prunes or (kubectl) refuses unknown fields anyway
        elif key == "const":
            out["enum"] = [value]
        elif key in _KEPT or key.startswith("x-kubernetes-"):
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if "default" in out:
        out["default"] = _wire_default(out["default"])
        if out["default"] is None:
            del out["default"]
    if "required" in out:
        # Fields with a default are optional on the wire: the API server fills them in.
        props = out.get("properties", {})
        out["required"] = [r for r in out["required"] if "default" not in props.get(r, {})]
        if not out["required"]:
            del out["required"]
    return out


def _wire_default(value: Any) -> Any:
    """A default as the API server wants it: the full value with its nulls left out.

    The API server validates a default (CEL rules included) as written, without
    applying the nested defaults first, so an object's default spells out its fields.
    """
    if isinstance(value, dict):
        return {k: _wire_default(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire_default(v) for v in value]
    return value


def crd_manifest(resource: CustomResource) -> dict[str, Any]:
    """Return the apiextensions.k8s.io/v1 CustomResourceDefinition for ``resource``."""
    spec_schema = openapi_schema(resource.spec)
    if resource.spec_validations:
        spec_schema.setdefault("x-kubernetes-validations", []).extend(resource.spec_validations)
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": _with_renamed(openapi_schema(resource.status), getattr(resource.status, "RENAMED", {})),
        },
    }
    if resource.object_validations:
        schema["x-kubernetes-validations"] = list(resource.object_validations)
    names = {
        "kind": resource.kind,
        "listKind": f"{resource.kind}List",
        "plural": resource.plural,
        "singular": resource.singular,
    }
    if resource.short_names:
        names["shortNames"] = list(resource.short_names)
    if resource.categories:
        names["categories"] = list(resource.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{resource.group}"},
        "spec": {
            "group": resource.group,
            "names": names,
            "scope": resource.scope,
            "versions": [{
                "name": resource.version,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [c.wire() for c in resource.printer_columns] + [
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
            }],
        },
    }


def render_crds(resources: list[CustomResource]) -> dict[str, str]:
    """Return ``{file name: YAML text}`` for every resource's CRD."""
    header = "# Generated by `make crds` from the pydantic models. Do not edit.\n"
    return {
        f"{r.group}_{r.plural}.yaml": header + yaml.safe_dump(crd_manifest(r), sort_keys=False, width=100)
        for r in resources
    }


def write_crds(resources: list[CustomResource], directory: Path) -> list[Path]:
    """Write every CRD into ``directory`` (created if missing); return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_crds(resources).items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def _with_renamed(schema: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    """``schema`` with each renamed field also under its old name (operators.sdk.models.Model.RENAMED), marked
    deprecated, so that a value an older operator stored survives until it is read and removed."""
    properties = dict(schema.get("properties") or {})
    for old, new in renamed.items():
        properties[old] = {k: v for k, v in properties[new].items() if k != "description"} | {
            "description": f"Deprecated: read as {new} and removed on the next status write."}
    return schema | {"properties": properties} if renamed else schema
