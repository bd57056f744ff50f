"""The webhook server announced as a Service reference (how the Helm chart runs it)."""

from __future__ import annotations

import asyncio

import kopf
import pytest

from operators.__main__ import main
from operators.sdk.runtime import ServiceWebhookServer


def test_service_reference_replaces_the_url(monkeypatch: pytest.MonkeyPatch):
    async def parent(self, fn):
        yield {"url": "https://op.smack-system.svc:9443", "caBundle": "Q0E="}

    monkeypatch.setattr(kopf.WebhookServer, "__call__", parent)
    server = ServiceWebhookServer(service="smack-system/smack-kafka-webhook:443", port=9443)

    async def first():
        async for config in server(lambda *_: None):
            return config
    assert asyncio.run(first()) == {"caBundle": "Q0E=", "service": {
        "namespace": "smack-system", "name": "smack-kafka-webhook", "port": 443, "path": ""}}


def test_service_reference_port_defaults_to_443_and_bad_values_are_refused():
    assert ServiceWebhookServer(service="ns/name").service["port"] == 443
    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        ServiceWebhookServer(service="just-a-name")


def test_run_flags_are_known(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "--webhook-service" in out and "--webhook-configuration" in out
