"""The Helm chart: generated parts up to date, helm lint and helm template clean, RBAC least privilege."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest
import yaml

from operators import rbac
from operators.crds import CRD_DIR

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "smack-operators"
HELM = Path(subprocess.check_output(["bash", "-c", ". hack/lib.sh && echo $HELM_BIN"], cwd=ROOT,
                                    text=True).strip()) / "helm"


def helm(*args: str) -> str:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run `make helm` (make test and make unit build it)")
    proc = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def render(*sets: str) -> list[dict]:
    args = ["template", "smack", str(CHART), "--namespace", "smack-system"]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*args)) if d]


def find(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert found, f"no {kind} {name} in {[(d['kind'], d['metadata']['name']) for d in docs]}"
    return found[0]


def allowed(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
               and not r.get("resourceNames") for r in rules)


def test_generated_rules_are_current():
    assert rbac.RULES_TEMPLATE.read_text() == rbac.rules_template(), "run `make chart`"


def test_chart_crds_are_a_copy_of_crds():
    names = sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == names, "run `make chart`"
    for name in names:
        assert filecmp.cmp(CRD_DIR / name, CHART / "crds" / name, shallow=False), f"{name}: run `make chart`"


def test_helm_lint():
    helm("lint", "--strict", str(CHART))


def test_a_deployment_and_service_account_per_operator():
    docs = render()
    for op in rbac.OPERATORS:
        name = f"smack-smack-operators-{op.name}"
        dep = find(docs, "Deployment", name)
        pod = dep["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        assert pod["securityContext"]["runAsNonRoot"] is True
        args = pod["containers"][0]["args"]
        assert args[:2] == ["run", f"--only={op.name}"]
        assert any(a.startswith("--webhook-cert-dir") for a in args) == op.webhooks
        find(docs, "ServiceAccount", name)
        binding = find(docs, "ClusterRoleBinding", name)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "smack-system"}]
        assert find(docs, "ClusterRole", name)["rules"] == [r.manifest() for r in op.rules if r.cluster_scoped] + [
            r.manifest() for r in op.rules if not r.cluster_scoped]


def test_webhook_service_certificate_and_arguments():
    docs = render("webhook.certificate=helm")
    secret = find(docs, "Secret", "smack-smack-operators-webhook-tls")
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    find(docs, "Service", "smack-smack-operators-kafka-webhook")
    args = find(docs, "Deployment", "smack-smack-operators-kafka")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--webhook-service=smack-system/smack-smack-operators-kafka-webhook:443" in args
    assert "--webhook-configuration=smack-operators-kafka.smack.dev" in args
    assert "--webhook-address=0.0.0.0" in args
    manager = render("webhook.certificate=cert-manager")
    cert = find(manager, "Certificate", "smack-smack-operators-webhook-tls")
    assert "smack-smack-operators-kafka-webhook.smack-system.svc" in cert["spec"]["dnsNames"]
    assert not [d for d in manager if d["kind"] == "Secret"]
    assert not [d for d in render("webhook.enabled=false") if d["kind"] in ("Secret", "Certificate")]


def test_watched_namespaces_get_roles_and_meta_stays_clusterwide():
    docs = render("watchNamespaces={team-a,team-b}")
    kafka = "smack-smack-operators-kafka"
    for ns in ("team-a", "team-b"):
        role = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == ns
                and d["metadata"]["name"] == kafka]
        assert role and allowed(role[0]["rules"], "apps", "statefulsets", "patch")
    assert not allowed(find(docs, "ClusterRole", kafka)["rules"], "apps", "statefulsets", "patch")
    assert not [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-meta")]
    args = find(docs, "Deployment", kafka)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    meta = find(docs, "Deployment", "smack-smack-operators-meta")["spec"]["template"]["spec"]["containers"][0]
    assert not [a for a in meta["args"] if a.startswith("--namespace")]


def test_metrics_service_monitor_and_dashboard():
    docs = render("metrics.serviceMonitor.enabled=true", "metrics.dashboard.enabled=true")
    monitor = find(docs, "ServiceMonitor", "smack-smack-operators")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    find(docs, "Service", "smack-smack-operators-kafka-metrics")
    dashboard = find(docs, "ConfigMap", "smack-smack-operators-dashboard")
    assert "smack_reconcile_duration_seconds" in dashboard["data"]["smack-operators.json"]
    assert not [d for d in render() if d["kind"] == "ServiceMonitor"]


def test_an_operator_without_rules_is_refused():
    proc = subprocess.run([str(HELM), "template", "smack", str(CHART), "--set", "operators.flink.enabled=true"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "no RBAC rules" in proc.stderr


@pytest.mark.parametrize(("op", "group", "resource", "verb"), [
    ("kafka", "", "secrets", "get"),
    ("kafka", "", "nodes", "delete"),
    ("kafka", "", "nodes", "patch"),
    ("kafka", "scheduling.smack.dev", "tenants", "patch"),
    ("kafka", "scheduling.smack.dev", "serviceclaims/status", "patch"),
    ("kafka", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "delete"),
    ("meta", "apps", "statefulsets", "patch"),
    ("meta", "", "pods", "delete"),
    ("meta", "", "secrets", "get"),
    ("meta", "scheduling.smack.dev", "serviceclaims", "patch"),
    ("meta", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "create"),
    ("cassandra", "", "secrets", "get"),
    ("cassandra", "", "nodes", "delete"),
    ("cassandra", "scheduling.smack.dev", "serviceclaims/status", "patch"),
    ("cassandra", "kafka.smack.dev", "kafkaclusters", "patch"),
    ("spark", "", "secrets", "get"),
    ("spark", "apps", "statefulsets", "patch"),
    ("spark", "", "persistentvolumeclaims", "delete"),
    ("spark", "scheduling.smack.dev", "tenants", "patch"),
])
def test_least_privilege(op: str, group: str, resource: str, verb: str):
    rules = [r.manifest() for r in rbac.by_name(op).rules]
    assert not allowed(rules, group, resource, verb)
    assert not any("*" in r["verbs"] or "*" in r["resources"] or "*" in r["apiGroups"] for r in rules)


def test_webhook_configuration_patch_is_limited_to_its_own():
    rules = [r.manifest() for r in rbac.KAFKA.rules if "validatingwebhookconfigurations" in r.resources]
    patch = [r for r in rules if "patch" in r["verbs"]]
    assert patch and all(r["resourceNames"] == ["smack-operators-kafka.smack.dev"] for r in patch)


def test_no_duplicate_keys_in_any_mapping():
    class Strict(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys = [loader.construct_object(k) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"duplicate keys at line {node.start_mark.line}: {keys}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct)
    out = helm("template", "smack", str(CHART), "--set", "metrics.serviceMonitor.enabled=true",
               "--set", "metrics.dashboard.enabled=true", "--set", "watchNamespaces={a,b}")
    assert list(yaml.load_all(out, Loader=Strict))
