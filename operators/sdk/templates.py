"""Jinja2 template loading for configuration files (server.properties, cassandra.yaml, …).

Each service package keeps its templates in ``<package>/templates/*.j2``.
Undefined variables raise instead of rendering as empty strings, so a missing
value can never reach a pod as a silently broken config file.
"""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def environment(package: str) -> jinja2.Environment:
    """The jinja2 environment for ``package`` (e.g. "operators.kafka"), cached per package."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # config files, not HTML
    )


def render(package: str, template: str, **values: object) -> str:
    """Render ``template`` of ``package`` with ``values``.

    Raises jinja2.UndefinedError when the template uses a value not given.
    """
    return environment(package).get_template(template).render(**values)
