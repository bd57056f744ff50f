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
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import kopf

from .admission import register_spec_check
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


def register(resource: CustomResource, reconcile: Callable[[dict[str, Any]], Result], *,
             children: Iterable[ChildKind], owner_label: str, resync: float = 60.0,
             error_backoff: tuple[float, ...] = (1, 2, 5, 10, 30, 60)) -> None:
    """Register the kopf handlers that drive ``reconcile`` for every ``resource`` object.

    ``reconcile`` runs in a worker thread (a pool of ``RECONCILE_THREADS``) with a deep copy of
    the object's body;
    it returns a :class:`Result`. An exception is logged, counted and retried
    after ``error_backoff`` seconds (the last value repeats); it never stops the loop.
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
        failures, first = 0, True
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
                except Exception:
                    delay = error_backoff[min(failures, len(error_backoff) - 1)]
                    failures += 1
                    RECONCILE_TOTAL.labels(kind, "error").inc()
                    log.exception("reconcile of %s %s/%s failed; retrying in %ss", kind, *key, delay)
                else:
                    failures = 0
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
    that raises is logged, counted and retried after ``error_delay`` seconds. ``name`` is the
    ``kind`` label of the reconcile metrics and the suffix of the handler ids. The loop starts
    on the first watch event, since kopf sets up event posting for tasks started from its
    handlers, not from startup activities; it stops at kopf's cleanup.
    """
    wake, stopped = asyncio.Event(), asyncio.Event()
    task: asyncio.Task[None] | None = None

    async def _loop() -> None:
        while not stopped.is_set():
            wake.clear()
            started = time.monotonic()
            try:
                await asyncio.get_running_loop().run_in_executor(_executor(), contextvars.copy_context().run, run)
                RECONCILE_TOTAL.labels(name, "ok").inc()
                delay = resync
            except Exception:
                RECONCILE_TOTAL.labels(name, "error").inc()
                log.exception("%s failed; retrying in %ss", name, error_delay)
                delay = error_delay
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
