"""Hypothesis strategies for hostile user strings: what a careless or malicious tenant would type into a
config key, a value or a list item to reach another key of the rendered file."""

from __future__ import annotations

from hypothesis import strategies as st

# The characters that mean something to a properties, YAML, JVM options or shell reader.
SYNTAX = " \t\n\r\f\v\x00\x0b\x1c\x85\u2028=:#!\\'\"$`;&|<>(){}[],*?~%@-.é\u00a0\ufeff"


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Strings mixing syntax characters, letters, and printable and control characters."""
    return st.text(st.one_of(st.sampled_from(SYNTAX), st.characters(codec="utf-8")), max_size=max_size)


def disguised(owned: list[str]) -> st.SearchStrategy[str]:
    """An owned key in disguise: padded with whitespace, in another case, or with a line break and
    another definition after it."""
    pad = st.sampled_from(["", " ", "\t", "\n", "\r\n", "\f", "\\", "\\\n"])
    case = st.sampled_from([str, str.upper, str.title])
    return st.builds(lambda a, key, c, b, tail: a + c(key) + b + tail,
                     pad, st.sampled_from(owned), case, pad, st.sampled_from(["", "=x", ":x", " x"]))


def hostile_key(owned: list[str], valid: str | None = None) -> st.SearchStrategy[str]:
    """A disguised owned key, any text, or (matching the ``valid`` regular expression) a key the model takes,
    so that many examples get as far as the rendered file."""
    keys = [hostile_text(30).filter(bool)] + ([disguised(owned)] if owned else [])
    if valid:
        keys.append(st.from_regex(valid, fullmatch=True).filter(lambda k: len(k) < 60))
    return st.one_of(*keys)


def injection_value(owned: list[str]) -> st.SearchStrategy[str]:
    """A value that tries to start another line defining an owned key."""
    return st.builds(lambda head, sep, key, val: f"{head}{sep}{key}={val}",
                     hostile_text(10), st.sampled_from(["\n", "\r", "\r\n", "\\\n", "\n ", "\f"]),
                     st.sampled_from(owned), hostile_text(10))
