"""The Dockerfile and its dependency pins (the image itself is built by `make image`, not by the tests)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_image_runs_as_non_root_from_a_pinned_base():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert 'ENTRYPOINT ["python3", "-m", "operators"]' in text


def test_requirements_image_pins_every_runtime_dependency_exactly():
    pins = {}
    for line in (ROOT / "requirements-image.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[\w.]+", version), line
            pins[name.lower().replace("_", "-")] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        name = re.split(r"[ <>=!~;\[]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in requirements-image.txt: run `make image-lock`"
