"""Settings for every test session.

Under CI (``CI`` set, as ``.ci/run`` runs) hypothesis derandomizes: each property test runs the same
examples every time, so a run's verdict depends on the code, not on the seed (hypothesis docs,
"Settings: derandomize"). Local runs keep exploring new examples and keep what they find in
``.hypothesis/``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
