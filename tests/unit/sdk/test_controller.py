"""The reconcile loop's failure policy: back-off, one traceback per streak, and what is reported as an
object that cannot be built (issue 16, part 2)."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from operators.sdk.controller import (
    ERROR_BACKOFF,
    Failures,
    describe,
    invalid_status,
    namespace_terminating,
    unbuildable,
)


def test_failures_back_off_exponentially_and_log_the_traceback_once_per_distinct_error():
    failures = Failures()
    seen = [failures.failed(ValueError("bad size")) for _ in range(12)]
    assert [d for d, _ in seen] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert [t for _, t in seen] == [True] + [False] * 11
    assert failures.failed(KeyError("other"))[1] is True  # a new error shows its traceback
    failures.succeeded()
    assert failures.failed(ValueError("bad size")) == (1, True)
    assert ERROR_BACKOFF[-1] == 300


def test_only_errors_that_cannot_pass_as_sent_are_reported_on_the_object():
    assert unbuildable(ValueError("no"))
    assert unbuildable(KeyError("spec"))
    assert unbuildable(ApiException(status=422, reason="Unprocessable Entity"))
    assert not unbuildable(ApiException(status=409, reason="Conflict"))
    assert not unbuildable(ApiException(status=503, reason="Service Unavailable"))
    assert not unbuildable(ConnectionRefusedError())
    assert not unbuildable(TimeoutError())


def test_a_write_into_a_namespace_being_deleted_is_not_an_error_of_the_object():
    terminating = ApiException(status=403, reason="Forbidden")
    terminating.body = ('{"message": "configmaps \\"x\\" is forbidden: unable to create new content in namespace '
                        'e2e because it is being terminated", "details": {"causes": [{"reason": '
                        '"NamespaceTerminating", "field": "metadata.namespace"}]}}')
    assert namespace_terminating(terminating) and not unbuildable(terminating)
    rbac = ApiException(status=403, reason="Forbidden")
    rbac.body = '{"message": "pods is forbidden: User \\"x\\" cannot create resource"}'
    assert not namespace_terminating(rbac) and unbuildable(rbac)
    assert not namespace_terminating(ValueError("no"))


def test_describe_gives_the_api_servers_message_not_its_headers():
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = '{"message": "StatefulSet.apps \\"x\\" is invalid: metadata.name: Invalid value"}'
    assert describe(exc) == ('the API server refused a child: 422 Unprocessable Entity: StatefulSet.apps "x" is '
                             'invalid: metadata.name: Invalid value')
    assert describe(ValueError("size must be positive")) == "ValueError: size must be positive"


def test_invalid_status_sets_ready_false_once_and_keeps_the_other_conditions():
    body = {"metadata": {"name": "a", "generation": 4},
            "status": {"conditions": [{"type": "Admitted", "status": "True", "reason": "Admitted"}]}}
    patch = invalid_status(body, "ValueError: size must be positive")
    conds = {c["type"]: c for c in patch["conditions"]}
    assert conds["Admitted"]["status"] == "True"
    ready = conds["Ready"]
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("False", "InvalidSpec", 4)
    assert ready["message"] == "cannot be built: ValueError: size must be positive"
    body["status"] = patch
    assert invalid_status(body, "ValueError: size must be positive") is None  # written once
