"""The Kafka operator's settings, read once at start-up (``python -m operators run``).

``SMACK_KAFKA_ADMIN`` picks how the operator talks to Kafka: ``kafka-python`` (the default) opens a
``KafkaAdminClient`` on the cluster's bootstrap Service for the gates' questions (partitions, the
KRaft quorum) and the update plan's Admin steps; ``none`` (a simulated cluster where no broker runs,
as in the e2e suite and the demo) reads the partitions from the ConfigMap
``<cluster>-simulated-partitions``, has no quorum, and only reports each Admin step, marked as
simulated, in an event. See operators.kafka.admin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..sdk.apply import Client
from .admin import ADMIN_ENV, KafkaAdmin, KafkaPythonAdmin, SimulatedAdmin
from .resources import Cluster

# Opens an implementation on one cluster: ``with connect(cluster, kube) as admin``; ``kube`` reads what a
# simulated cluster keeps in Kubernetes.
Connector = Callable[[Cluster, Client], contextlib.AbstractContextManager[KafkaAdmin]]
ADMINS: Mapping[str, type[KafkaPythonAdmin] | type[SimulatedAdmin]] = {
    "kafka-python": KafkaPythonAdmin, "none": SimulatedAdmin}


@dataclass(frozen=True)
class Settings:
    """``admin``: the name of the :class:`~.admin.KafkaAdmin` implementation, a key of :data:`ADMINS`."""

    admin: str = "kafka-python"

    def __post_init__(self) -> None:
        if self.admin not in ADMINS:
            raise ValueError(f"{ADMIN_ENV}={self.admin!r} is not an Admin implementation; allowed: "
                             f"{', '.join(ADMINS)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from the process environment (``SMACK_KAFKA_ADMIN`` unset: ``kafka-python``). Raises
        ValueError naming the variable, the bad value and the allowed values."""
        return cls(admin=environ.get(ADMIN_ENV, "kafka-python"))

    @property
    def connect(self) -> Connector:
        """Opens the chosen implementation on one cluster (a context manager yielding a KafkaAdmin)."""
        return ADMINS[self.admin].connect

    @property
    def note(self) -> str:
        """What the events of Admin steps add: "" for a real cluster, the simulated note for a simulated one."""
        return ADMINS[self.admin].note
