"""``kubectl smack``: DC/OS-style day-2 verbs for every smack service (the console script ``kubectl-smack``).

::

    kubectl smack endpoints KIND NAME                       where clients connect
    kubectl smack plan status KIND NAME [PLAN] [--watch]    the plans as a tree (phase / step / status / message)
    kubectl smack plan pause KIND NAME PLAN [PHASE]         start no new step there (smack.dev/plan-pause)
    kubectl smack plan resume KIND NAME PLAN [PHASE]        remove that pause
    kubectl smack plan force-complete KIND NAME PLAN [PHASE [STEP]]   count it Complete
    kubectl smack plan proceed KIND NAME PLAN [PHASE] --steps N       approve N canary steps
    kubectl smack pod restart|replace POD                   restart in place / with a new volume
    kubectl smack describe KIND NAME                        conditions, service fields, plans, events
    kubectl smack tenant usage [TENANT]                     what each tenant holds and waits for

KIND is a kind, plural or short name (kafkacluster, kc, cassandradatacenter, sparkapplication, ...)
or ``PLURAL.GROUP``. Tables by default; ``-o json|yaml`` prints the data. The plan verbs write the
annotations ``operators.sdk.plans`` reads; the pod verbs those of ``operators.sdk.rollout``. Exit
status: 0 done, 1 refused or failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from ..sdk.plans import (
    FORCE_COMPLETE_ANNOTATION,
    PAUSE_ANNOTATION,
    PROCEED_ANNOTATION,
    PlanControlError,
    parse_controls,
)
from ..sdk.rollout import REPLACE_ANNOTATION, RESTART_ANNOTATION
from .kinds import KINDS, Kind, lookup, resolve


class CliError(Exception):
    """A refusal or failure to report on stderr with exit status 1."""


class Client:
    """The few API calls the verbs make, through the kubernetes client and the user's kubeconfig."""

    def __init__(self, kubeconfig: str | None, context: str | None):
        from kubernetes import client, config

        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
            _, active = config.list_kube_config_contexts(config_file=kubeconfig)
            self.default_namespace = (active.get("context") or {}).get("namespace") or "default"
        except config.ConfigException:
            config.load_incluster_config()
            self.default_namespace = "default"
        self.custom = client.CustomObjectsApi()
        self.core = client.CoreV1Api()

    def get(self, kind: Kind, name: str, namespace: str | None) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            if kind.namespaced:
                return self.custom.get_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, name)
            return self.custom.get_cluster_custom_object(kind.group, kind.version, kind.plural, name)
        except ApiException as exc:
            raise CliError(_api_error(exc, f"{kind.kind} {name}")) from exc

    def list(self, kind: Kind) -> list[dict[str, Any]]:
        return self.custom.list_cluster_custom_object(kind.group, kind.version, kind.plural).get("items", [])

    def patch_annotations(self, kind: Kind, obj: dict[str, Any], annotations: dict[str, str | None]) -> None:
        """Merge-patch annotations with the object's resourceVersion: a concurrent change fails (409)."""
        from kubernetes.client.exceptions import ApiException

        meta = obj["metadata"]
        body = {"metadata": {"annotations": annotations, "resourceVersion": meta["resourceVersion"]}}
        try:
            if kind.namespaced:
                self.custom.patch_namespaced_custom_object(kind.group, kind.version, meta["namespace"], kind.plural,
                                                           meta["name"], body)
            else:
                self.custom.patch_cluster_custom_object(kind.group, kind.version, kind.plural, meta["name"], body)
        except ApiException as exc:
            raise CliError(_api_error(exc, f"{kind.kind} {meta['name']}")) from exc

    def annotate_pod(self, name: str, namespace: str, annotations: dict[str, str]) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            pod = self.core.read_namespaced_pod(name, namespace)
            self.core.patch_namespaced_pod(name, namespace, {"metadata": {"annotations": annotations}})
        except ApiException as exc:
            raise CliError(_api_error(exc, f"pod {name}")) from exc
        return self.core.api_client.sanitize_for_serialization(pod)

    def events(self, namespace: str | None, uid: str) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.uid={uid}") if namespace \
            else self.core.list_event_for_all_namespaces(field_selector=f"involvedObject.uid={uid}")
        return [self.core.api_client.sanitize_for_serialization(e) for e in found.items]


def _api_error(exc: Any, what: str) -> str:
    try:
        message = json.loads(exc.body).get("message", exc.reason)
    except (TypeError, ValueError):
        message = exc.reason
    return f"{what}: {message} (HTTP {exc.status})"


# ----- output -----

def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A kubectl-style table: upper-case headers, columns padded to the widest cell, 3 spaces apart."""
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def emit(data: Any, output: str, render: Callable[[Any], str]) -> None:
    if output == "json":
        print(json.dumps(data, indent=2, sort_keys=False))
    elif output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False).rstrip())
    else:
        print(render(data))


def plan_rows(plans: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """``status.plans`` as rows of (indented name, strategy, status, message): plan, its phases, their steps."""
    rows = []
    for plan in plans:
        rows.append((plan.get("name", ""), plan.get("strategy", ""), plan.get("status", ""), ""))
        for phase in plan.get("phases") or []:
            rows.append((f"  {phase.get('name', '')}", phase.get("strategy", ""), phase.get("status", ""), ""))
            for step in phase.get("steps") or []:
                rows.append((f"    {step.get('name', '')}", "", step.get("status", ""), step.get("message") or ""))
    return rows


def render_plans(plans: list[dict[str, Any]]) -> str:
    if not plans:
        return "no plans reported yet (status.plans is empty)"
    return table(("plan / phase / step", "strategy", "status", "message"), plan_rows(plans))


# ----- plan controls (operators.sdk.plans) -----

def _items(value: str | None) -> list[str]:
    return [i.strip() for i in (value or "").split(",") if i.strip()]


def control_patch(annotations: dict[str, str], verb: str, path: str, steps: int | None = None) -> dict[str, str | None]:
    """The annotation merge patch for one plan verb on ``path`` (PLAN, PLAN/PHASE or PLAN/PHASE/STEP).

    pause adds ``path`` to smack.dev/plan-pause; resume removes it (and, for a plan, its phases'
    pauses); force-complete adds it to smack.dev/plan-force-complete; proceed sets ``path=steps`` in
    smack.dev/plan-proceed. Empty when nothing would change. Raises CliError when the result would
    not parse (operators.sdk.plans.parse_controls), naming the value.
    """
    key = {"pause": PAUSE_ANNOTATION, "resume": PAUSE_ANNOTATION, "force-complete": FORCE_COMPLETE_ANNOTATION,
           "proceed": PROCEED_ANNOTATION}[verb]
    items = _items(annotations.get(key))
    if verb == "resume":
        new = [i for i in items if i != path and not (path.count("/") == 0 and i.startswith(f"{path}/"))]
    elif verb == "proceed":
        new = [i for i in items if i.partition("=")[0].strip() != path] + [f"{path}={steps}"]
    else:
        new = items if path in items else [*items, path]
    if new == items:
        return {}
    patch = {key: ",".join(new) or None}
    try:
        parse_controls({k: v for k, v in ({**annotations, **patch}).items() if v is not None})
    except PlanControlError as exc:
        raise CliError(str(exc)) from exc
    return patch


# ----- verbs -----

def cmd_endpoints(c: Client, args: argparse.Namespace) -> None:
    kind = resolve(args.kind)
    obj = c.get(kind, args.name, args.namespace)
    if not kind.endpoints:
        raise CliError(f"{kind.kind} has no endpoints")
    data: dict[str, Any] = {}
    for ep in kind.endpoints:
        value = lookup(obj, ep.path)
        if isinstance(value, dict):
            data.update({f"{ep.name}/{k}": v for k, v in value.items()})
        elif value not in (None, [], ""):
            data[ep.name] = value
    emit(data, args.output, lambda d: table(("endpoint", "address"), [
        (k, ",".join(map(str, v)) if isinstance(v, list) else v) for k, v in d.items()]) if d else
        f"{kind.kind} {args.name}: no endpoints reported yet")


def cmd_plan_status(c: Client, args: argparse.Namespace) -> None:
    kind = resolve(args.kind)
    last = None
    while True:
        obj = c.get(kind, args.name, args.namespace)
        plans = [p for p in (obj.get("status") or {}).get("plans") or [] if not args.plan or p.get("name") == args.plan]
        if args.plan and not plans:
            raise CliError(f"{kind.kind} {args.name} has no plan {args.plan!r}")
        if plans != last:
            if last is not None and args.output == "table":
                print(f"--- {time.strftime('%H:%M:%S')}")
            emit(plans, args.output, render_plans)
            sys.stdout.flush()
            last = plans
        if not args.watch:
            return
        time.sleep(args.interval)


def cmd_plan_control(c: Client, args: argparse.Namespace) -> None:
    kind = resolve(args.kind)
    obj = c.get(kind, args.name, args.namespace)
    path = "/".join(p for p in (args.plan, args.phase, getattr(args, "step", None)) if p)
    plans = {p.get("name"): p for p in (obj.get("status") or {}).get("plans") or []}
    if plans and args.plan not in plans:
        raise CliError(f"{kind.kind} {args.name} has no plan {args.plan!r} (it has {', '.join(plans)})")
    if args.phase and args.plan in plans:
        phases = {ph.get("name"): ph for ph in plans[args.plan].get("phases") or []}
        if args.phase not in phases:
            raise CliError(f"plan {args.plan} has no phase {args.phase!r} (it has {', '.join(phases)})")
        step = getattr(args, "step", None)
        if step and step not in {s.get("name") for s in phases[args.phase].get("steps") or []}:
            raise CliError(f"phase {args.plan}/{args.phase} has no step {step!r}")
    annotations = dict(obj["metadata"].get("annotations") or {})
    patch = control_patch(annotations, args.verb, path, getattr(args, "steps", None))
    what = {"pause": "paused", "resume": "resumed", "force-complete": "forced complete",
            "proceed": f"approved for {getattr(args, 'steps', 0)} canary steps"}[args.verb]
    if not patch:
        print(f"{kind.kind} {args.name}: {path} already {what}")
        return
    c.patch_annotations(kind, obj, patch)
    print(f"{kind.kind} {args.name}: {path} {what}")


def cmd_pod(c: Client, args: argparse.Namespace) -> None:
    key = RESTART_ANNOTATION if args.verb == "restart" else REPLACE_ANNOTATION
    pod = c.annotate_pod(args.pod, args.namespace, {key: "true"})
    labels = (pod.get("metadata") or {}).get("labels") or {}
    owners = [k for k in KINDS if k.pod_label and k.pod_label in labels]
    owner = f" of {owners[0].kind} {labels[owners[0].pod_label]}" if owners else ""
    how = "with a new, empty volume" if args.verb == "replace" else "in place, keeping its volume"
    print(f"pod {args.pod}{owner}: {args.verb} requested ({key}=true); the operator restarts it {how}, "
          "in its plan's order and behind the same health gates")


def cmd_describe(c: Client, args: argparse.Namespace) -> None:
    kind = resolve(args.kind)
    obj = c.get(kind, args.name, args.namespace)
    status = obj.get("status") or {}
    events = sorted(c.events(obj["metadata"].get("namespace"), obj["metadata"]["uid"]),
                    key=_event_order)[-args.events:]
    data = {
        "kind": kind.kind, "name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"),
        "generation": obj["metadata"].get("generation"), "observedGeneration": status.get("observedGeneration"),
        "fields": {title: lookup(obj, path) for title, path in kind.columns},
        "endpoints": {ep.name: lookup(obj, ep.path) for ep in kind.endpoints},
        "conditions": status.get("conditions") or [],
        "planControls": {k: v for k, v in (obj["metadata"].get("annotations") or {}).items()
                         if k in (PAUSE_ANNOTATION, PROCEED_ANNOTATION, FORCE_COMPLETE_ANNOTATION)},
        "plans": status.get("plans") or [],
        "events": [{"type": e.get("type"), "reason": e.get("reason"), "message": e.get("message"),
                    "count": e.get("count"), "last": e.get("lastTimestamp") or e.get("eventTime")} for e in events],
    }
    emit(data, args.output, _render_describe)


def _event_order(e: dict[str, Any]) -> tuple[str, int]:
    """Oldest first: by last time (second resolution), then by resourceVersion within a second."""
    version = (e.get("metadata") or {}).get("resourceVersion") or "0"
    return (e.get("lastTimestamp") or e.get("eventTime") or "", int(version) if version.isdigit() else 0)


def _render_describe(d: dict[str, Any]) -> str:
    where = f"{d['namespace']}/" if d["namespace"] else ""
    out = [f"{d['kind']} {where}{d['name']} (generation {d['generation']}, observed {d['observedGeneration']})"]
    out += [f"  {k}: {v}" for k, v in {**d["fields"], **d["endpoints"]}.items() if v not in (None, "", [], {})]
    out += ["", "Conditions:", table(("type", "status", "reason", "message"), [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in d["conditions"]])]
    if d["planControls"]:
        out += ["", "Plan controls:"] + [f"  {k}={v}" for k, v in d["planControls"].items()]
    out += ["", "Plans:", render_plans(d["plans"])]
    if d["events"]:
        out += ["", "Events:", table(("type", "reason", "count", "message"),
                                     [(e["type"], e["reason"], e["count"], e["message"]) for e in d["events"]])]
    return "\n".join(out)


def cmd_tenant_usage(c: Client, args: argparse.Namespace) -> None:
    kind = resolve("tenant")
    tenants = [c.get(kind, args.tenant, None)] if args.tenant else c.list(kind)
    data = []
    for t in sorted(tenants, key=lambda t: t["metadata"]["name"]):
        s, spec = t.get("status") or {}, t.get("spec") or {}
        data.append({"tenant": t["metadata"]["name"], "parent": spec.get("parent"), "weight": spec.get("weight"),
                     "usage": s.get("usage") or {}, "guarantee": spec.get("guarantee") or {},
                     "limit": spec.get("limit") or {}, "borrowed": s.get("borrowed") or {},
                     "dominantShare": s.get("dominantShare"), "dominantResource": s.get("dominantResource"),
                     "admittedClaims": s.get("admittedClaims", 0), "pendingClaims": s.get("pendingClaims", 0)})

    def render(rows: list[dict[str, Any]]) -> str:
        def amounts(m: dict[str, Any]) -> str:
            return ",".join(f"{k}={v}" for k, v in m.items()) or "-"
        return table(("tenant", "share", "dominant", "admitted", "pending", "usage", "guarantee", "limit"), [
            (r["tenant"], r["dominantShare"] or "-", r["dominantResource"] or "-", r["admittedClaims"],
             r["pendingClaims"], amounts(r["usage"]), amounts(r["guarantee"]), amounts(r["limit"])) for r in rows])
    emit(data, args.output, render)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubectl smack", description="DC/OS-style day-2 verbs for every smack "
                                "service: endpoints, plans, pods, describe, tenant usage (docs/cli.md).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)")
    common.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    common.add_argument("--context", help="kubeconfig context")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("endpoints", parents=[common], help="where clients connect")
    e.add_argument("kind")
    e.add_argument("name")
    e.set_defaults(fn=cmd_endpoints)

    plan = sub.add_parser("plan", help="plan status, pause, resume, force-complete, proceed").add_subparsers(
        dest="verb", required=True)
    s = plan.add_parser("status", parents=[common], help="the plans as a tree")
    s.add_argument("kind")
    s.add_argument("name")
    s.add_argument("plan", nargs="?")
    s.add_argument("-w", "--watch", action="store_true", help="print again on every change (Ctrl-C ends)")
    s.add_argument("--interval", type=float, default=2.0, help="seconds between looks with --watch")
    s.set_defaults(fn=cmd_plan_status)
    for verb, depth in (("pause", 2), ("resume", 2), ("force-complete", 3), ("proceed", 2)):
        v = plan.add_parser(verb, parents=[common])
        v.add_argument("kind")
        v.add_argument("name")
        v.add_argument("plan")
        v.add_argument("phase", nargs="?")
        if depth == 3:
            v.add_argument("step", nargs="?")
        if verb == "proceed":
            v.add_argument("--steps", type=int, default=1, help="canary steps approved in all (default 1)")
        v.set_defaults(fn=cmd_plan_control)

    pod = sub.add_parser("pod", help="restart or replace a pod").add_subparsers(dest="verb", required=True)
    for verb in ("restart", "replace"):
        v = pod.add_parser(verb, parents=[common])
        v.add_argument("pod")
        v.set_defaults(fn=cmd_pod)

    d = sub.add_parser("describe", parents=[common], help="conditions, fields, plans and events of an object")
    d.add_argument("kind")
    d.add_argument("name")
    d.add_argument("--events", type=int, default=10, help="the last N events (default 10)")
    d.set_defaults(fn=cmd_describe)

    t = sub.add_parser("tenant", help="tenant usage").add_subparsers(dest="verb", required=True)
    u = t.add_parser("usage", parents=[common])
    u.add_argument("tenant", nargs="?")
    u.set_defaults(fn=cmd_tenant_usage)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if getattr(args, "kind", None):
            resolve(args.kind)  # a usage error before any connection
        c = Client(args.kubeconfig, args.context)
        if hasattr(args, "namespace") and not args.namespace:
            args.namespace = c.default_namespace
        args.fn(c, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
