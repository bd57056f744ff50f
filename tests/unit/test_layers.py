"""Imports run downwards only: services → scheduling → sdk, meta → scheduling → sdk.

Checked on the source (every import statement, relative ones resolved) and on a fresh
interpreter: a service process loads neither the meta-controller nor its allocator.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operators"
SERVICES = ("kafka", "cassandra", "spark")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The ``operators.*`` modules a source file imports, relative imports resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            # "from . import allocator" imports a submodule
            found.update(f"{module}.{alias.name}" for alias in node.names if not node.module)
    return {m for m in found if m == "operators" or m.startswith("operators.")}


def _sources(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_the_import_reader_resolves_relative_imports():
    assert imported_modules(PACKAGE / "scheduling" / "claims.py") >= {
        "operators.sdk.conditions", "operators.scheduling.api", "operators.scheduling.labels"}
    assert "operators.meta.allocator" in imported_modules(PACKAGE / "meta" / "convert.py")
    assert "operators.meta.allocator.model" in imported_modules(PACKAGE / "meta" / "allocator" / "quota.py")


@pytest.mark.parametrize("path", _sources("sdk"), ids=lambda p: p.name)
def test_sdk_imports_nothing_above_it(path):
    above = sorted(m for m in imported_modules(path) if not (m + ".").startswith("operators.sdk."))
    assert not above, f"{path.relative_to(ROOT)} imports {above}"


@pytest.mark.parametrize("path", _sources("scheduling"), ids=lambda p: p.name)
def test_scheduling_imports_only_sdk_and_itself(path):
    above = sorted(m for m in imported_modules(path)
                   if not any((m + ".").startswith(f"operators.{p}.") for p in ("sdk", "scheduling")))
    assert not above, f"{path.relative_to(ROOT)} imports {above}"


@pytest.mark.parametrize("path", [p for s in SERVICES for p in _sources(s)],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_service_imports_meta(path):
    meta = sorted(m for m in imported_modules(path) if (m + ".").startswith("operators.meta."))
    assert not meta, f"{path.relative_to(ROOT)} imports {meta}"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_process_does_not_load_the_allocator(service):
    code = (f"import sys, operators.{service}.handlers\n"
            "print(sorted(m for m in sys.modules if m == 'operators.meta' or m.startswith('operators.meta.')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", f"operators.{service}.handlers loads {loaded.stdout.strip()}"
