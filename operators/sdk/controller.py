"""A level-triggered reconcile loop on kopf: one worker per custom resource, or one for the cluster.

For every object of a kind (:func:`register`), a kopf daemon runs ``reconcile(body)`` and then
sleeps until something it owns changes or ``resync`` seconds pass. Watch events
on the object itself or on its children (found by the ``<group>/cluster`` label)
wake it up, so the loop reacts within a moment and a killed operator resumes
from what it observes in the cluster, never from memory. A whole-cluster loop
(:func:`register_singleton`, the meta-controller's admission cycle) works the same way
with one pass at a time over everything, woken by any watched kind.

kopf is used as the reference documents for long-running per-object work
(kopf docs, "Daemons"); a daemon makes kopf hold a finalizer on the object while
it runs, which it removes when the object is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from .admission import register_spec_check
from .conditions import Condition, set_condition
from .crd import CustomResource
from .metrics import RECONCILE_DURATION, RECONCILE_TOTAL

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
WAKE_PREFIX = "wake-on-"
# Reconciles run in a thread pool shared by every kind. They mostly wait on the API server, so
# threads rather than cores bound their throughput: with asyncio's default pool (cpu count + 4,
# six threads on two cores) a burst of 1,000 new objects queued behind six requests in flight.
RECONCILE_THREADS = 32
# A burst of watch events (a StatefulSet and its pods) is coalesced into one pass.
COALESCE_SECONDS = 0.2
# Seconds before the n-th retry of a failing reconcile: doubling from 1 s up to 5 minutes.
ERROR_BACKOFF = tuple(min(2.0 ** n, 300.0) for n in range(10))
# API server answers that say the request can never succeed as sent (a child the spec makes
# unbuildable: a name too long, an invalid field), unlike conflicts, throttling and outages.
_REFUSED_STATUSES = frozenset({400, 403, 404, 405, 413, 415, 422})
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The reconcile pool, created on first use."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(RECONCILE_THREADS, thread_name_prefix="reconcile")
    return _pool


class _QuietWakeups(logging.Filter):
    """Drop kopf's "Handler 'wake-on-…' succeeded." line, logged for every watch event seen."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith(f"Handler '{WAKE_PREFIX}") and msg.endswith("succeeded."))


logging.getLogger("kopf.objects").addFilter(_QuietWakeups())


class ReconcileOutcome(StrEnum):
    """What one reconcile found; the ``result`` label of smack_reconcile_total."""

    OK = "ok"  # the object is where its spec wants it
    PROGRESSING = "progressing"  # work is under way: look again soon
    INVALID = "invalid"  # the spec is refused; nothing is touched until it changes


@dataclass(frozen=True)
class Result:
    """What one reconcile observed: ``requeue_after`` seconds to look again sooner than resync."""

    outcome: ReconcileOutcome = ReconcileOutcome.OK
    requeue_after: float | None = None


@dataclass
class _Wakeups:
    events: dict[Key, asyncio.Event] = field(default_factory=dict)
    reasons: dict[Key, list[str]] = field(default_factory=dict)

    def wake(self, key: Key, reason: str) -> None:
        if key not in self.events:
            return  # no worker (yet): it reconciles anyway when it starts
        reasons = self.reasons.setdefault(key, [])
        if reason not in reasons and len(reasons) < 5:
            reasons.append(reason)
        self.events[key].set()

    def take_reasons(self, key: Key, first: bool) -> list[str]:
        return self.reasons.pop(key, []) or (["started"] if first else ["resync"])


@dataclass(frozen=True)
class ChildKind:
    """A kind of object the operator creates, watched so that a change wakes its owner."""

    group: str  # "" for the core group
    version: str
    plural: str


def unbuildable(exc: BaseException) -> bool:
    """True when ``exc`` says the object cannot be built as its spec stands (a bug or a spec the models let
    through), False when it is transient (the API server unreachable, a conflict, throttling): only
    the first kind is reported on the object's status. A write into a namespace being deleted is neither
    (:func:`namespace_terminating`)."""
    if isinstance(exc, ApiException):
        return exc.status in _REFUSED_STATUSES and not namespace_terminating(exc)
    return not isinstance(exc, (OSError, TimeoutError, ConnectionError)) and \
        type(exc).__module__.split(".")[0] not in ("urllib3", "aiohttp")


def namespace_terminating(exc: BaseException) -> bool:
    """True when the API server refused a write because the object's namespace is being deleted (403,
    cause ``NamespaceTerminating``): the object goes with its namespace, so there is nothing to build,
    to report or to log a traceback for."""
    if not isinstance(exc, ApiException) or exc.status != 403:
        return False
    try:
        causes = (json.loads(exc.body or "{}").get("details") or {}).get("causes") or []
    except (ValueError, AttributeError):
        return False
    return any(c.get("reason") == "NamespaceTerminating" for c in causes if isinstance(c, dict))


def describe(exc: BaseException) -> str:
    """One line for a condition message: the exception type and its text (an ApiException's reason and
    the API server's message, not its headers)."""
    if isinstance(exc, ApiException):
        text = f"{exc.status} {exc.reason}"
        with contextlib.suppress(ValueError):
            text += f": {json.loads(exc.body or '{}').get('message', '')}"
        return f"the API server refused a child: {text}"[:1024]
    return f"{type(exc).__name__}: {exc}"[:1024]


@dataclass
class Failures:
    """The failure streak of one object's reconcile, and what to do about each failure.

    Each failure waits ``backoff[n]`` seconds (n failures so far; the last value repeats). The
    traceback is logged for the first failure of a streak and whenever the error changes; a repeat
    logs one line (no traceback storm for an object that fails every pass). A success ends the streak.
    """

    backoff: tuple[float, ...] = ERROR_BACKOFF
    count: int = 0
    last: str | None = None
    reported: str | None = None  # the message written on the object's status, if any

    def failed(self, exc: BaseException) -> tuple[float, bool]:
        """Record a failure: ``(seconds to wait, whether to log the traceback)``."""
        message = describe(exc)
        delay = self.backoff[min(self.count, len(self.backoff) - 1)]
        self.count += 1
        new, self.last = message != self.last, message
        return delay, new

    def succeeded(self) -> None:
        self.count, self.last, self.reported = 0, None, None


def invalid_status(body: Mapping[str, Any], message: str) -> dict[str, Any] | None:
    """The status merge patch that reports an object its operator cannot build: Ready=False, reason
    InvalidSpec, with ``message`` (nothing else changes, so the last good children keep running). None
    when the object says so already."""
    status = body.get("status") or {}
    conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
    generation = (body.get("metadata") or {}).get("generation")
    new = set_condition(conditions, Condition(type="Ready", status="False", reason="InvalidSpec",
                                              message=f"cannot be built: {message}", observed_generation=generation))
    if new == conditions:
        return None
    return {"conditions": [c.wire() for c in new]}


def register(resource: CustomResource, reconcile: Callable[[dict[str, Any]], Result], *,
             children: Iterable[ChildKind], owner_label: str, resync: float = 60.0,
             error_backoff: tuple[float, ...] = ERROR_BACKOFF) -> None:
    """Register the kopf handlers that drive ``reconcile`` for every ``resource`` object.

    ``reconcile`` runs in a worker thread (a pool of ``RECONCILE_THREADS``) with a deep copy of
    the object's body;
    it returns a :class:`Result`. An exception never stops the loop nor touches another object (each
    object has its own worker): it is counted and retried after ``error_backoff`` seconds (see
    :class:`Failures`: exponential, the traceback once per streak). One that says the object cannot be
    built (:func:`unbuildable`) is also reported on the object: Ready=False, reason InvalidSpec with
    the error, and a Warning event, once per distinct error.
    ``owner_label`` is the label key whose value names the owning object on children. Also
    registers the spec webhook (:func:`operators.sdk.admission.register_spec_check`).
    """
    wakeups = _Wakeups()
    kind = resource.kind
    register_spec_check(resource)  # refuse at apply what the model refuses

    @kopf.on.event(resource.group, resource.version, resource.plural, id=f"{WAKE_PREFIX}self")
    async def _on_self(body: kopf.Body, type: str | None, **_: Any) -> None:  # async: on the loop of the events
        key = (body.metadata.namespace, body.metadata.name)
        if type in ("ADDED", "MODIFIED", None):
            wakeups.wake(key, f"{kind} {type.lower() if type else 'listed'}")

    for child in children:
        @kopf.on.event(child.group, child.version, child.plural, id=f"{WAKE_PREFIX}{child.plural}-of-{kind}",
                       labels={owner_label: kopf.PRESENT})
        async def _on_child(body: kopf.Body, type: str | None, _plural: str = child.plural, **_: Any) -> None:
            key = (body.metadata.namespace, body.metadata.labels[owner_label])
            wakeups.wake(key, f"{_plural[:-1]} {body.metadata.name} {(type or 'listed').lower()}")

    @kopf.daemon(resource.group, resource.version, resource.plural, cancellation_timeout=10.0)
    async def _worker(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        key = (body.metadata.namespace, body.metadata.name)
        event = wakeups.events.setdefault(key, asyncio.Event())
        failures, first = Failures(error_backoff), True
        try:
            while not stopped:
                event.clear()
                reasons, first = wakeups.take_reasons(key, first), False
                snapshot = copy.deepcopy(dict(body))
                log.info("reconciling %s %s/%s (trigger: %s)", kind, *key, "; ".join(reasons))
                started = time.monotonic()
                try:
                    # As asyncio.to_thread does, carry the context: kopf's event posting reads it.
                    outcome = await asyncio.get_running_loop().run_in_executor(
                        _executor(), contextvars.copy_context().run, reconcile, snapshot)
                except Exception as exc:
                    delay, with_traceback = failures.failed(exc)
                    RECONCILE_TOTAL.labels(kind, "error").inc()
                    if namespace_terminating(exc):
                        log.info("%s %s/%s: its namespace is being deleted; retrying in %ss", kind, *key, delay)
                    elif with_traceback:
                        log.exception("reconcile of %s %s/%s failed; retrying in %ss", kind, *key, delay)
                    else:
                        log.warning("reconcile of %s %s/%s failed again (%d in a row): %s; retrying in %ss",
                                    kind, *key, failures.count, failures.last, delay)
                    if unbuildable(exc) and failures.reported != failures.last:
                        await asyncio.get_running_loop().run_in_executor(
                            _executor(), contextvars.copy_context().run, _report_invalid, resource, snapshot,
                            failures.last)
                        failures.reported = failures.last
                else:
                    failures.succeeded()
                    RECONCILE_TOTAL.labels(kind, outcome.outcome.value).inc()
                    delay = outcome.requeue_after or resync
                finally:
                    RECONCILE_DURATION.labels(kind).observe(time.monotonic() - started)
                # Sleep until a watch event, the requeue time, or kopf stopping the daemon (the
                # object is being deleted, or the operator exits): then no cancellation is needed.
                waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stopped.wait())}
                _, pending = await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                if stopped:
                    break
                await asyncio.sleep(COALESCE_SECONDS)
        finally:
            wakeups.events.pop(key, None)
            wakeups.reasons.pop(key, None)


def _report_invalid(resource: CustomResource, body: dict[str, Any], message: str) -> None:
    """Write :func:`invalid_status` and post a Warning event; a failure to do so is only logged (the
    reconcile is retried anyway)."""
    from .apply import client_for  # noqa: PLC0415 - apply imports this module's pool size

    patch = invalid_status(body, message)
    try:
        if patch is not None:
            client_for("smack-operators-controller").patch_status(
                resource.api_version, resource.kind, body["metadata"]["name"], body["metadata"].get("namespace"),
                patch)
        kopf.event(body, type="Warning", reason="InvalidSpec", message=f"cannot be built: {message}")
    except Exception as exc:  # noqa: BLE001 - reporting is best effort; the loop goes on
        log.warning("could not report %s %s as invalid: %s", resource.kind, body["metadata"]["name"], exc)


@dataclass(frozen=True)
class Watch:
    """A kind whose watch events wake a whole-cluster loop; ``labels`` filters the objects as kopf's
    ``labels=`` does (e.g. ``{key: kopf.PRESENT}``)."""

    group: str  # "" for the core group
    version: str
    plural: str
    labels: Mapping[str, Any] | None = None


def register_singleton(name: str, run: Callable[[], Any], *, wake_on: Iterable[Watch], resync: float,
                       error_delay: float = 5.0) -> None:
    """Register one loop for the whole cluster that calls ``run()``, one pass at a time.

    A pass runs in the reconcile pool when any ``wake_on`` object changes (after
    ``COALESCE_SECONDS``, so that a burst is one pass), and every ``resync`` seconds; a pass
    that raises is logged (the traceback once per distinct error), counted and retried after
    ``error_delay`` seconds. ``name`` is the
    ``kind`` label of the reconcile metrics and the suffix of the handler ids. The loop starts
    on the first watch event, since kopf sets up event posting for tasks started from its
    handlers, not from startup activities; it stops at kopf's cleanup.
    """
    wake, stopped = asyncio.Event(), asyncio.Event()
    task: asyncio.Task[None] | None = None

    async def _loop() -> None:
        failures = Failures((error_delay,))
        while not stopped.is_set():
            wake.clear()
            started = time.monotonic()
            try:
                await asyncio.get_running_loop().run_in_executor(_executor(), contextvars.copy_context().run, run)
                RECONCILE_TOTAL.labels(name, "ok").inc()
                failures.succeeded()
                delay = resync
            except Exception as exc:
                RECONCILE_TOTAL.labels(name, "error").inc()
                delay, with_traceback = failures.failed(exc)
                if with_traceback:
                    log.exception("%s failed; retrying in %ss", name, delay)
                else:
                    log.warning("%s failed again (%d in a row): %s; retrying in %ss", name, failures.count,
                                failures.last, delay)
            finally:
                RECONCILE_DURATION.labels(name).observe(time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
            await asyncio.sleep(COALESCE_SECONDS)

    async def _on_change(**_: Any) -> None:
        nonlocal task
        if task is None:
            task = asyncio.create_task(_loop())
        wake.set()

    @kopf.on.cleanup(id=f"stop-{name}")
    async def _stop(**_: Any) -> None:
        stopped.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    for watch in wake_on:
        kopf.on.event(watch.group, watch.version, watch.plural, id=f"{WAKE_PREFIX}{watch.plural}-{name}",
                      labels=watch.labels)(_on_change)
