"""Java ``.properties`` files from user strings: keys in a strict character set, values escaped.

``java.util.Properties.load`` (the reader of Kafka's server.properties and Spark's spark.properties)
skips leading whitespace, ends a key at the first unescaped ``=``, ``:`` or whitespace, joins a line
ending in a backslash to the next, treats a line starting with ``#`` or ``!`` as a comment and lets the
last definition of a key win (Javadoc of ``Properties.load(Reader)``). So a user key or value written
as is can define any other key. Keys are therefore refused unless they are in :data:`KEY_PATTERN`,
values are written with the escapes that reader undoes (the ``javaproperties`` library, which
implements that grammar both ways), and operator-owned keys are compared after :func:`normalise`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import javaproperties

# Property keys a user may set: letters, digits and . _ - / (Kafka's and Spark's own keys, and the
# label and annotation keys Spark takes under spark.kubernetes.*.label./annotation.), starting with a
# letter or digit. No whitespace, separator, escape or comment character can occur in one.
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
KEY_ALLOWED = "letters, digits and . _ - /, starting with a letter or digit"
KEY_MAX_LENGTH = 253
# A value's size cap (a ConfigMap holds at most 1 MiB in all; one value never needs more than this).
VALUE_MAX_LENGTH = 4096
_KEY = re.compile(KEY_PATTERN)


def normalise(key: str) -> str:
    """``key`` as compared with the operator's own keys: trimmed and case-folded, so `` Node.ID`` is ``node.id``."""
    return key.strip().casefold()


def owned_keys(keys: Iterable[str], owned: Iterable[str], prefixes: tuple[str, ...] = ()) -> list[str]:
    """The keys of ``keys`` that name an operator-owned key (or start with an owned prefix) once normalised."""
    owned_set = {normalise(k) for k in owned}
    return [k for k in keys if normalise(k) in owned_set or normalise(k).startswith(prefixes)]


def key_problems(field: str, keys: Iterable[str]) -> list[str]:
    """One message per key of ``keys`` outside :data:`KEY_PATTERN`, naming the field, the key and what is allowed."""
    return [f"{field}: key {k!r} is not allowed: a key has {KEY_ALLOWED} (at most {KEY_MAX_LENGTH})"
            for k in keys if not _KEY.match(k) or len(k) > KEY_MAX_LENGTH]


def line(key: str, value: str) -> str:
    """One ``key=value`` line (no line break) that ``Properties.load`` reads back as exactly ``key`` and
    ``value``: separators, whitespace, backslashes, comment marks, control and non-ASCII characters escaped."""
    return javaproperties.join_key_value(key, value)


def dumps(values: Mapping[str, str]) -> str:
    """A properties file of ``values`` in their order, one :func:`line` each."""
    return "".join(line(k, v) + "\n" for k, v in values.items())
