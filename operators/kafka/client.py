"""kafka-python's ``KafkaAdminClient`` as the operator opens it (imported only where a real cluster is asked).

Two things the library does not do by itself:

* **pod addresses**: brokers advertise cluster DNS names (``<pod>.<cluster>-nodes.<ns>.svc``), which a
  host outside the cluster does not resolve (the operator under ``make run``). kafka-python picks the
  socket factory of a connection by the scheme of ``proxy_url`` (the ``KafkaNetSocket`` registry its
  SOCKS5 and HTTP CONNECT proxies use); :class:`PodAddresses` connects directly and looks each name
  up in the operator's table first (pod IPs from the API server), then in the system resolver;
* **the cluster default BROKER resource** ``""`` (kafka-configs ``--entity-default``): kafka-python 3.0
  sends BROKER resources to the broker they name and refuses a name that is not a number
  (``ConfigAdminMixin._group_config_resources``); :class:`AdminClient` sends it to any broker, which
  forwards it to the controllers, as for every resource that is not a broker's;
* **UnregisterBroker** (KIP-631, kafka-cluster.sh ``unregister``): kafka-python 3.0 has no request for
  it; :class:`UnregisterBrokerRequest` is built by kafka-python's own ``ApiMessage`` from Kafka's message
  schema (operators/kafka/messages/) and sent like its other requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kafka import errors
from kafka.admin import ConfigResourceType, KafkaAdminClient
from kafka.net.inet import KafkaNetSocket
from kafka.protocol.api_message import ApiMessage

SCHEME = "smack-pod-addresses"
# proxy_url -> {host name: address} of the clients open now (kafka-python builds a socket factory
# from the URL alone, once per connection).
_TABLES: dict[str, Mapping[str, str]] = {}


class PodAddresses(KafkaNetSocket):
    """A direct connection whose host names resolve through the table registered for its ``proxy_url``."""

    SCHEMES = (SCHEME,)

    def __init__(self, proxy_url: str | None = None) -> None:
        self._table = _TABLES.get(proxy_url or "", {})

    def dns_lookup(self, host: str, port: int, raise_error: bool = False) -> list[Any]:
        return super().dns_lookup(self._table.get(host, host), port, raise_error)


class UnregisterBrokerRequest(ApiMessage, load_json="operators.kafka.messages"):
    """UnregisterBroker v0: ``broker_id``."""


class UnregisterBrokerResponse(ApiMessage, load_json="operators.kafka.messages"):
    """UnregisterBroker v0: ``throttle_time_ms``, ``error_code``, ``error_message``."""


class AdminClient(KafkaAdminClient):
    """``KafkaAdminClient`` that also addresses the cluster default BROKER resource ``""`` and unregisters
    brokers."""

    def unregister_broker(self, broker_id: int) -> bool:
        """UnregisterBroker ``broker_id`` (sent to any broker, which forwards it to the active controller).
        True when it was unregistered now, False when it was not registered (BROKER_ID_NOT_REGISTERED);
        raises kafka-python's error for any other refusal."""
        async def send() -> bool:
            response = await self._manager.send(UnregisterBrokerRequest(broker_id=broker_id))
            error = errors.for_code(response.error_code)
            if error is errors.BrokerIdNotRegisteredError:
                return False
            if error is not errors.NoError:
                raise error(response.error_message)
            return True
        return self._manager.run(send)

    @staticmethod
    def _group_config_resources(config_resources: Sequence[Any]) -> tuple[Any, list[Any]]:
        default = [r for r in config_resources if r.resource_type is ConfigResourceType.BROKER and r.name == ""]
        brokers, others = KafkaAdminClient._group_config_resources(
            [r for r in config_resources if all(r is not d for d in default)])
        return brokers, others + default


# How long one bootstrap broker may take to answer before the next is tried (ms). kafka-python gives the
# whole bootstrap_timeout_ms to the broker it picks at random, so one hung broker (its port open, its JVM
# stopped) would spend it all and fail the bootstrap although the others answer.
BOOTSTRAP_ATTEMPT_MS = 10000


@contextlib.contextmanager
def admin_client(bootstrap: Sequence[str], addresses: Mapping[str, str],
                 request_timeout_ms: int) -> Iterator[AdminClient]:
    """An :class:`AdminClient` on the first of ``bootstrap`` (``host:port``) that answers within
    :data:`BOOTSTRAP_ATTEMPT_MS`, whose connections resolve ``addresses`` (host name -> IP) first;
    closed on exit. Once bootstrapped it talks to the brokers the metadata lists (fenced brokers are
    not listed). Raises the last broker's kafka-python error (KafkaTimeoutError, KafkaConnectionError)
    when none answers."""
    url = f"{SCHEME}://{id(addresses):x}"
    _TABLES[url] = addresses
    try:
        client = _first_answering(bootstrap, request_timeout_ms=request_timeout_ms, proxy_url=url)
        try:
            yield client
        finally:
            client.close()
    finally:
        _TABLES.pop(url, None)


def _first_answering(bootstrap: Sequence[str], **config: Any) -> AdminClient:
    failure: Exception = errors.KafkaConnectionError(f"no bootstrap server in {list(bootstrap)}")
    for server in bootstrap:
        try:
            return AdminClient(bootstrap_servers=[server], bootstrap_timeout_ms=BOOTSTRAP_ATTEMPT_MS, **config)
        except errors.KafkaError as exc:  # this one does not answer: the next may
            failure = exc
    raise failure
