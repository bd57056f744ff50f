"""Plans, phases and steps: the pure rollout model behind every service's ``status.plans``.

The model is dcos-commons' (mesosphere/dcos-commons @ 69824783, ``sdk/scheduler/src/main/java/com/
mesosphere/sdk/scheduler/plan/``): a plan is a list of phases, a phase a list of steps; plans and
phases carry a strategy that picks the children that may be worked on now (``strategy/Serial-,
Parallel-, CanaryStrategy.java``), and a parent's status is aggregated from its children's
(``PlanUtils.getAggregateStatus``). Statuses are ``Status.java``'s, written CamelCase on the wire as the
API conventions want enum values ("InProgress" for IN_PROGRESS).

Plans are derived, never stored. On every reconcile the caller computes each step's status from
observed objects (pod revision, readiness, the service's health gate) and calls :func:`derive_plan`;
``status.plans`` is output only, so killing the operator at any instant loses nothing. dcos kept the
operator's overrides in memory and lost them on a scheduler restart; here they are input, read from
annotations on the service object by :func:`parse_controls` (each a comma-separated list)::

    smack.dev/plan-pause           PLAN or PLAN/PHASE: start no new step there; steps in flight finish.
        kubectl annotate kafkacluster prod smack.dev/plan-pause=update
        kubectl annotate kafkacluster prod smack.dev/plan-pause-                  # resume
    smack.dev/plan-proceed         PLAN/PHASE=N or PLAN=N: the first N steps of a canary phase are
                                   approved (PLAN=N for every canary phase of the plan; PLAN/PHASE wins).
        kubectl annotate --overwrite kafkacluster prod smack.dev/plan-proceed=update/brokers=1
    smack.dev/plan-force-complete  PLAN, PLAN/PHASE or PLAN/PHASE/STEP: count it as COMPLETE.
        kubectl annotate kafkacluster prod smack.dev/plan-force-complete=update/brokers/broker-1

Proceed and force-complete speak about one rollout: when the operator starts a plan toward a new
target it drops them with :func:`reset_patch`. A pause stays until a person removes it (a freeze). A
bad value raises :class:`PlanControlError`; the caller reports it and derives with :data:`HALT`, so no
step starts until the annotation is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from .models import Model
from .objects import DOMAIN

PAUSE_ANNOTATION = f"{DOMAIN}/plan-pause"
PROCEED_ANNOTATION = f"{DOMAIN}/plan-proceed"
FORCE_COMPLETE_ANNOTATION = f"{DOMAIN}/plan-force-complete"

_NAME = r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?"
_PATH = re.compile(rf"{_NAME}(/{_NAME}){{0,2}}")


class Status(StrEnum):
    """dcos-commons ``Status.java``. WAITING and IN_PROGRESS are only ever aggregated, never reported."""

    PENDING = "Pending"  # not started
    PREPARED = "Prepared"  # evaluated; the old pod stopped if needed
    STARTING = "Starting"  # the change is made; waiting for the result
    STARTED = "Started"  # running, readiness (the health gate) not yet met
    COMPLETE = "Complete"
    DELAYED = "Delayed"  # held by launch backoff
    WAITING = "Waiting"  # the element or a child is interrupted
    IN_PROGRESS = "InProgress"  # some children complete, some not
    ERROR = "Error"  # the element cannot be carried out (e.g. an illegal change)


# What a caller may report for a step. DELAYED is left out: getAggregateStatus sends a DELAYED step
# next to other incomplete ones to its "unexpected state" rule (ERROR); report PENDING with a message.
STEP_STATUSES = frozenset({Status.PENDING, Status.PREPARED, Status.STARTING, Status.STARTED,
                           Status.COMPLETE, Status.ERROR})
IN_FLIGHT = frozenset({Status.PREPARED, Status.STARTING, Status.STARTED})


class Strategy(StrEnum):
    """How a parent picks children to work on. Canary strategies apply to phases only, as in dcos."""

    SERIAL = "Serial"
    PARALLEL = "Parallel"
    SERIAL_CANARY = "SerialCanary"
    PARALLEL_CANARY = "ParallelCanary"

    @property
    def canary(self) -> bool:
        return self in (Strategy.SERIAL_CANARY, Strategy.PARALLEL_CANARY)

    @property
    def parallel(self) -> bool:
        return self in (Strategy.PARALLEL, Strategy.PARALLEL_CANARY)


def aggregate_status(children: Sequence[Status], candidates: Sequence[Status], interrupted: bool = False) -> Status:
    """A parent's status from its children's, its strategy's candidates' and its interrupted flag.

    dcos-commons ``PlanUtils.getAggregateStatus``, rules in its order (first match wins): any child
    ERROR; all COMPLETE (so no children is COMPLETE); interrupted -> WAITING; all DELAYED; a child
    PREPARED -> IN_PROGRESS; a candidate WAITING; a candidate IN_PROGRESS; a child COMPLETE and a
    candidate PENDING/STARTING/STARTED -> IN_PROGRESS; a candidate PENDING; a child WAITING; a candidate
    STARTING; a candidate STARTED; otherwise ERROR ("unexpected state"). The parent's own errors are
    not modelled: a step reports ERROR instead. dcos' history has both orders of the interrupted and
    all-DELAYED rules; this is the order of the anchored snapshot (69824783).
    """
    if Status.ERROR in children:
        return Status.ERROR
    if all(s is Status.COMPLETE for s in children):
        return Status.COMPLETE
    if interrupted:
        return Status.WAITING
    if all(s is Status.DELAYED for s in candidates) and all(s is Status.DELAYED for s in children):
        return Status.DELAYED
    if Status.PREPARED in children:
        return Status.IN_PROGRESS
    for status in (Status.WAITING, Status.IN_PROGRESS):
        if status in candidates:
            return status
    if Status.COMPLETE in children and {Status.PENDING, Status.STARTING, Status.STARTED} & set(candidates):
        return Status.IN_PROGRESS
    if Status.PENDING in candidates:
        return Status.PENDING
    if Status.WAITING in children:
        return Status.WAITING
    for status in (Status.STARTING, Status.STARTED):
        if status in candidates:
            return status
    return Status.ERROR


@dataclass(frozen=True)
class Step:
    """A step: as the caller observed it (one of STEP_STATUSES), or as derived (WAITING while held)."""

    name: str
    status: Status = Status.PENDING
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))


@dataclass(frozen=True)
class Phase:
    """A phase to derive: its steps in order, the strategy among them, and the canary size.

    ``canary`` is dcos' ``requiredProceeds`` (default 2): under a canary strategy the first ``canary``
    steps each wait for approval (proceed=N approves the first N), then the base strategy runs the rest.
    """

    name: str
    steps: Sequence[Step]
    strategy: Strategy = Strategy.SERIAL
    canary: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.canary < 1:
            raise ValueError(f"phase {self.name}: canary must be at least 1, got {self.canary}")
        _unique(f"phase {self.name}", [s.name for s in self.steps])


@dataclass(frozen=True)
class PlanPhase:
    """A derived phase: steps as displayed (held canary steps show WAITING), ``candidates`` the step
    names its strategy would work on now, ``paused`` by a PLAN/PHASE pause, ``awaiting_proceed`` a canary.

    Both flags interrupt the phase (status WAITING, no candidates). A plan-wide pause interrupts the plan
    only, as dcos' ``plan pause`` does: its phases keep showing their progress.
    """

    name: str
    strategy: Strategy
    status: Status
    steps: tuple[Step, ...]
    candidates: tuple[str, ...]
    paused: bool
    awaiting_proceed: bool


@dataclass(frozen=True)
class Plan:
    """A derived plan. ``next_steps``: the (phase, step) names the caller may act on now."""

    name: str
    strategy: Strategy
    status: Status
    phases: tuple[PlanPhase, ...]
    next_steps: tuple[tuple[str, str], ...]
    paused: bool


class PlanControlError(ValueError):
    """A plan-control annotation has a value that cannot be read; the message names it and the form."""


@dataclass(frozen=True)
class PlanControls:
    """Operator overrides, by path ("update", "update/brokers", "update/brokers/broker-1").

    ``halt`` pauses every plan (the fail-safe while the annotations are unreadable).
    """

    paused: frozenset[str] = frozenset()
    proceed: Mapping[str, int] = field(default_factory=dict)
    force_complete: frozenset[str] = frozenset()
    halt: bool = False


NO_CONTROLS = PlanControls()
HALT = PlanControls(halt=True)


def parse_controls(annotations: Mapping[str, str] | None) -> PlanControls:
    """Read the plan-control annotations (see the module docstring); absent ones mean no override.

    Raises PlanControlError naming the annotation, the bad item and the accepted form.
    """
    annotations = annotations or {}
    pauses = _paths(annotations, PAUSE_ANNOTATION, 2, "PLAN or PLAN/PHASE")
    forced = _paths(annotations, FORCE_COMPLETE_ANNOTATION, 3, "PLAN, PLAN/PHASE or PLAN/PHASE/STEP")
    proceed: dict[str, int] = {}
    form = "PLAN=N or PLAN/PHASE=N with N a whole number, e.g. update/brokers=1"
    for item in _items(annotations, PROCEED_ANNOTATION):
        target, _, count = (part.strip() for part in item.partition("="))
        _path(PROCEED_ANNOTATION, target, 2, form)
        if not re.fullmatch(r"[0-9]{1,6}", count):
            raise PlanControlError(f"{PROCEED_ANNOTATION}: {item!r} is not {form}")
        if proceed.get(target, int(count)) != int(count):
            raise PlanControlError(f"{PROCEED_ANNOTATION}: {target} is given twice with different counts")
        proceed[target] = int(count)
    return PlanControls(paused=frozenset(pauses), proceed=proceed, force_complete=frozenset(forced))


def _items(annotations: Mapping[str, str], key: str) -> list[str]:
    value = annotations.get(key) or ""
    if not isinstance(value, str):
        raise PlanControlError(f"{key}: the value must be a string, got {type(value).__name__}")
    return [item.strip() for item in value.split(",") if item.strip()]


def _path(key: str, item: str, depth: int, form: str) -> str:
    if not _PATH.fullmatch(item) or item.count("/") >= depth:
        raise PlanControlError(f"{key}: {item!r} is not {form} (names: lowercase letters, digits, '-', '.', '_')")
    return item


def _paths(annotations: Mapping[str, str], key: str, depth: int, form: str) -> list[str]:
    return [_path(key, item, depth, form) for item in _items(annotations, key)]


def reset_patch(annotations: Mapping[str, str] | None, plan: str) -> dict[str, str | None]:
    """A ``metadata.annotations`` merge patch dropping ``plan``'s proceed and force-complete entries.

    Pauses are kept. Empty when nothing would change; a value of None removes the annotation.
    Works on unreadable values too (only items naming ``plan`` are dropped).
    """
    patch: dict[str, str | None] = {}
    for key in (PROCEED_ANNOTATION, FORCE_COMPLETE_ANNOTATION):
        value = (annotations or {}).get(key)
        if not isinstance(value, str):
            continue
        items = [i.strip() for i in value.split(",") if i.strip()]
        keep = [i for i in items if i.partition("=")[0].strip().split("/")[0] != plan]
        if keep != items:
            patch[key] = ",".join(keep) or None
    return patch


def unknown_targets(controls: PlanControls, plans: Sequence[Plan]) -> list[str]:
    """Control paths that name no plan, phase or step of ``plans`` (typos to report), sorted."""
    known = set()
    for plan in plans:
        known.add(plan.name)
        for phase in plan.phases:
            known.add(f"{plan.name}/{phase.name}")
            known.update(f"{plan.name}/{phase.name}/{step.name}" for step in phase.steps)
    return sorted((controls.paused | controls.force_complete | set(controls.proceed)) - known)


def derive_plan(name: str, phases: Sequence[Phase], *, strategy: Strategy = Strategy.SERIAL,
                controls: PlanControls = NO_CONTROLS) -> Plan:
    """Derive plan ``name`` from observed ``phases`` and the operator's ``controls``.

    Candidates (``PlanUtils.isEligible``): a child that is not COMPLETE or ERROR, not interrupted, not
    held. Serial picks the first incomplete child if eligible; for steps it first waits for any step in
    flight (PREPARED/STARTING/STARTED) anywhere in the phase, so two never run at once (our addition:
    dcos relies on dirty assets). Parallel picks all eligible. A canary phase works only on its approved
    steps while any of its first ``canary`` steps is unapproved and incomplete (interrupted when none is
    left), then follows its base strategy; unlike dcos, the base strategy also orders the approved steps.
    A paused plan or phase yields no candidates. Raises ValueError for a canary plan strategy,
    duplicate phase names or a step reporting a status outside STEP_STATUSES.
    """
    if strategy.canary:
        raise ValueError(f"plan {name}: canary strategies apply to phases only, got {strategy}")
    _unique(f"plan {name}", [p.name for p in phases])
    paused = controls.halt or name in controls.paused
    derived = [_derive_phase(name, phase, controls) for phase in phases]
    chosen = [] if paused else _pick(
        strategy, [p.status for p in derived], len(derived),
        lambda i: derived[i].status not in (Status.COMPLETE, Status.ERROR)
        and not (derived[i].paused or derived[i].awaiting_proceed))
    status = aggregate_status([p.status for p in derived], [derived[i].status for i in chosen], paused)
    next_steps = tuple((derived[i].name, step) for i in chosen for step in derived[i].candidates)
    return Plan(name, strategy, status, tuple(derived), next_steps, paused)


def _derive_phase(plan: str, phase: Phase, controls: PlanControls) -> PlanPhase:
    path = f"{plan}/{phase.name}"
    for step in phase.steps:
        if step.status not in STEP_STATUSES:
            raise ValueError(f"{path}/{step.name}: a step cannot report {step.status}; "
                             f"it reports one of {', '.join(sorted(STEP_STATUSES))}")
    forced = {plan, path} & controls.force_complete
    steps = [replace(s, status=Status.COMPLETE, message=f"force-completed ({FORCE_COMPLETE_ANNOTATION})")
             if forced or f"{path}/{s.name}" in controls.force_complete else s for s in phase.steps]
    statuses = [s.status for s in steps]
    held: set[int] = set()
    limit = len(steps)
    if phase.strategy.canary:
        approved = controls.proceed.get(path, controls.proceed.get(plan, 0))
        held = {i for i in range(min(phase.canary, len(steps))) if i >= approved and statuses[i] != Status.COMPLETE}
        if held:
            limit = approved
    awaiting = bool(held) and all(s is Status.COMPLETE for s in statuses[:limit])
    paused = path in controls.paused  # a plan-wide pause interrupts the plan, not its phases (as in dcos)
    chosen = [] if paused else _pick(phase.strategy, statuses, limit,
                                     lambda i: statuses[i] not in (Status.COMPLETE, Status.ERROR), wait_in_flight=True)
    shown = tuple(replace(s, status=Status.WAITING) if i in held and s.status in (Status.PENDING, Status.PREPARED)
                  else s for i, s in enumerate(steps))
    status = aggregate_status([s.status for s in shown], [shown[i].status for i in chosen], paused or awaiting)
    return PlanPhase(phase.name, phase.strategy, status, shown, tuple(steps[i].name for i in chosen), paused, awaiting)


def _pick(strategy: Strategy, statuses: Sequence[Status], limit: int, eligible: Callable[[int], bool],
          wait_in_flight: bool = False) -> list[int]:
    """Indices of the children the strategy would work on; only the first ``limit`` may be picked."""
    if strategy.parallel:
        return [i for i in range(limit) if eligible(i)]
    if wait_in_flight:
        flying = [i for i, s in enumerate(statuses) if s in IN_FLIGHT]
        if flying:
            return [i for i in flying if i < limit and eligible(i)]
    first = next((i for i in range(limit) if statuses[i] is not Status.COMPLETE), None)
    return [first] if first is not None and eligible(first) else []


def _unique(where: str, names: list[str]) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{where}: names must be unique, repeated: {', '.join(duplicates)}")


def _named(description: str) -> dict:
    return {"description": description, "json_schema_extra": {
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}}


class StepStatus(Model):
    """One step in ``status.plans[].phases[].steps``."""

    name: str
    status: Status
    message: str | None = None


class PhaseStatus(Model):
    """One phase in ``status.plans[].phases``."""

    name: str
    status: Status
    strategy: Strategy
    steps: Annotated[list[StepStatus], Field(**_named("Steps in order."))] = []


class PlanStatus(Model):
    """One entry of ``status.plans``: a plan as derived on the last reconcile."""

    name: str
    status: Status
    strategy: Strategy
    phases: Annotated[list[PhaseStatus], Field(**_named("Phases in order."))] = []


# The ``status.plans`` field of a service's status model.
Plans = Annotated[list[PlanStatus], Field(**_named("Deploy, update and recovery plans, as DC/OS showed them."))]


def render_plan(plan: Plan) -> PlanStatus:
    """The ``status.plans`` entry for a derived plan (empty messages omitted on the wire)."""
    return PlanStatus(name=plan.name, status=plan.status, strategy=plan.strategy, phases=[
        PhaseStatus(name=phase.name, status=phase.status, strategy=phase.strategy, steps=[
            StepStatus(name=s.name, status=s.status, message=s.message or None) for s in phase.steps])
        for phase in plan.phases])
