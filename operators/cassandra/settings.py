"""The Cassandra operator's settings, read once at start-up (``python -m operators run``).

``SMACK_CASSANDRA_PROBE`` picks how the operator sees Cassandra: ``nodetool`` (the default) runs
``nodetool status``/``describecluster`` in a live node for the gates and ``nodetool drain``,
``decommission``, ``cleanup`` and ``upgradesstables`` on the node a step works on; ``none`` (a
simulated cluster where no Cassandra process runs, as in the e2e suite and the demo) reads the ring
from pod readiness and only reports each node operation, marked as simulated, in an event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .nodetool import PROBE_ENV, NodetoolProbe, Probe, ReadinessProbe

PROBES: Mapping[str, Callable[[str], Probe]] = {"nodetool": NodetoolProbe, "none": ReadinessProbe}


@dataclass(frozen=True)
class Settings:
    """``probe``: the name of the :class:`~.nodetool.Probe` implementation, a key of :data:`PROBES`."""

    probe: str = "nodetool"

    def __post_init__(self) -> None:
        if self.probe not in PROBES:
            raise ValueError(f"{PROBE_ENV}={self.probe!r} is not supported; choose one of "
                             f"{', '.join(PROBES)} (default nodetool)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from the process environment. Raises ValueError naming the variable, the bad value
        and the allowed values."""
        return cls(probe=environ.get(PROBE_ENV, "nodetool"))

    def probe_for(self, namespace: str) -> Probe:
        """The probe for a datacenter in ``namespace``."""
        return PROBES[self.probe](namespace)
