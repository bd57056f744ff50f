"""Object and label names as Kubernetes validates them, for the fields that reference another object.

A reference that is not a valid name can never resolve: the API server refuses the child object that
carries it (a StatefulSet with storageClassName ``Fast SSD``, a pod with serviceAccountName ``a/b``) and
the operator would retry forever. Source: Kubernetes docs, "Object Names and IDs" (DNS-1123 subdomain
and label names, DNS-1035 label names) and "Labels and Selectors" (syntax and character set);
k8s.io/apimachinery/pkg/util/validation (IsDNS1123Subdomain, IsDNS1035Label, IsQualifiedName).
"""

from __future__ import annotations

import re

from pydantic import Field
from pydantic.fields import FieldInfo

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# Most object kinds (StorageClass, Secret, ConfigMap, ServiceAccount, NodePool): at most 253 characters.
DNS1123_SUBDOMAIN = rf"^{_LABEL}(\.{_LABEL})*$"
# Namespaces and most label-like names: a DNS-1123 label, at most 63 characters.
DNS1123_LABEL = rf"^{_LABEL}$"
DNS1123_SUBDOMAIN_MAX = 253
# Services: a DNS-1035 label, at most 63 characters, starting with a letter.
DNS1035_LABEL_MAX = 63
# A label value, and the name part of a label or annotation key.
_NAME_PART = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME = rf"^({_LABEL}(\.{_LABEL})*/)?{_NAME_PART}$"
LABEL_VALUE = rf"^({_NAME_PART})?$"
SUBDOMAIN_ALLOWED = ("a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a "
                     f"letter or digit, at most {DNS1123_SUBDOMAIN_MAX} characters")
QUALIFIED_ALLOWED = ("a qualified name: an optional DNS-1123 subdomain prefix and '/', then at most 63 letters, "
                     "digits, '-', '_' or '.', starting and ending with a letter or digit")
LABEL_VALUE_ALLOWED = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

_QUALIFIED = re.compile(QUALIFIED_NAME)
_LABEL_VALUE = re.compile(LABEL_VALUE)


def object_name(description: str) -> FieldInfo:
    """The ``Field`` of a string naming another object (a DNS-1123 subdomain), with ``description``."""
    return Field(pattern=DNS1123_SUBDOMAIN, max_length=DNS1123_SUBDOMAIN_MAX,
                 description=f"{description} ({SUBDOMAIN_ALLOWED}).")


def qualified_name_problem(field: str, key: str) -> str | None:
    """Why ``key`` cannot be a label or annotation key, or None."""
    name = key.rpartition("/")[2]
    if not _QUALIFIED.match(key) or len(name) > 63 or len(key.partition("/")[0]) > DNS1123_SUBDOMAIN_MAX:
        return f"{field}: key {key!r} is not allowed: it must be {QUALIFIED_ALLOWED}"
    return None


def label_value_problem(field: str, value: str) -> str | None:
    """Why ``value`` cannot be a label value, or None."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return f"{field}: value {value!r} is not allowed: a label value has {LABEL_VALUE_ALLOWED}"
    return None


# A StatefulSet's pods carry controller-revision-hash=<statefulset>-<hash>, a label value of at most 63
# characters; the hash is at most 10 (k8s.io/kubernetes pkg/controller/history, ControllerRevisionName).
REVISION_HASH_SUFFIX = 11


def name_length_rule(maximum: int, why: str) -> dict[str, str]:
    """The object-level CEL rule refusing a ``metadata.name`` longer than ``maximum``, saying ``why``."""
    # A static message: the name has no length bound in the schema, so an expression quoting it would
    # exceed the API server's CEL cost budget.
    return {"rule": f"size(self.metadata.name) <= {maximum}",
            "message": f"metadata.name is too long: at most {maximum} characters are allowed: {why}",
            "reason": "FieldValueInvalid"}


# A container image reference: no whitespace or control character (the API server refuses an image with
# leading or trailing whitespace in the pod template; one inside it, or a control character, can only
# fail the pull, or break a file the image is written to, such as spark.properties).
IMAGE_PATTERN = r"^[^\x00-\x20\x7f-\x9f]+$"


def image_field(description: str) -> FieldInfo:
    """The ``Field`` of an optional container image, with ``description``."""
    return Field(pattern=IMAGE_PATTERN, max_length=512,
                 description=f"{description} No whitespace or control characters.")
