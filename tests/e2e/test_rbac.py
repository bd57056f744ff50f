"""The chart's RBAC on the real control plane: each operator under its own ServiceAccount.

The ServiceAccounts, ClusterRoles and bindings come from ``helm template`` of charts/smack-operators
(the rules of operators/rbac.py). A token is minted for each account (``kubectl create token``), a
kubeconfig written with it, and ``python -m operators run --only <op>`` started with that kubeconfig:
kafka and meta, each as itself, must bring a KafkaCluster to Ready, restart a pod on request and
serve the admission webhook, with no request refused (enough rights); ``kubectl auth can-i --as``
shows what each may not do (no more rights than needed). The shared all-rights operator of the other
tests is stopped meanwhile, so only the restricted ones act.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from operators import rbac

from .conftest import ROOT, Kubectl, OperatorProcess, wait_for

HELM = Path(subprocess.check_output(["bash", "-c", ". hack/lib.sh && echo $HELM_BIN"], cwd=ROOT,
                                    text=True).strip()) / "helm"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def chart_rbac(release: str, namespace: str, *sets: str) -> list[dict]:
    """The RBAC objects of ``helm template`` for ``release`` in ``namespace`` (``--set`` each of ``sets``)."""
    args = [a for s in sets for a in ("--set", s)]
    out = subprocess.run([str(HELM), "template", release, str(ROOT / "charts" / "smack-operators"),
                          "--namespace", namespace, *args], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d and d["kind"] in RBAC_KINDS]


def service_account_kubeconfig(kube: Kubectl, namespace: str, account: str, path: Path) -> str:
    """A kubeconfig for ``account`` with a freshly minted token, against the same API server."""
    admin = json.loads(kube.run("config", "view", "--raw", "--minify", "-o", "json").stdout)
    token = kube.run("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    cluster = admin["clusters"][0]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster["cluster"]}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "local", "user": account}}],
        "current-context": account,
    }))
    return str(path)


@contextlib.contextmanager
def installed_accounts(kube: Kubectl, workdir: Path, *sets: str) -> Iterator[dict[str, str]]:
    """The chart's ServiceAccounts and roles installed in a fresh namespace: operator name → kubeconfig,
    and ``<operator>/account`` → its user name for ``kubectl --as``."""
    suffix = uuid.uuid4().hex[:6]
    namespace, release = f"smack-rbac-{suffix}", f"rbac{suffix}"
    kube.run("create", "namespace", namespace)
    docs = chart_rbac(release, namespace, *sets)
    try:
        kube.apply(yaml.safe_dump_all(docs))
        names = {op.name: f"{release}-smack-operators-{op.name}" for op in rbac.OPERATORS}
        yield {op: service_account_kubeconfig(kube, namespace, sa, workdir / f"{op}.kubeconfig")
               for op, sa in names.items()} | {f"{op}/account": f"system:serviceaccount:{namespace}:{sa}"
                                               for op, sa in names.items()}
    finally:
        for doc in docs:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                kube.run("delete", doc["kind"].lower(), doc["metadata"]["name"], "--wait=false", check=False)
        kube.run("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def accounts(kube: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with installed_accounts(kube, tmp_path_factory.mktemp("rbac")) as found:
        yield found


def forbidden_requests(op: OperatorProcess) -> list[str]:
    """Log records (a line and its traceback) of requests RBAC refused. A write into a namespace being
    deleted is refused too, with 403 "being terminated": not about rights, and other tests' namespaces
    end that way while the operators watch every namespace."""
    records: list[list[str]] = []
    for line in op.log_path.read_text().splitlines():
        if line.startswith("[20") or not records:
            records.append([line])
        else:
            records[-1].append(line)
    return [r[0] + " ... " + next((x for x in r if "message" in x or "Forbidden" in x), "").strip()[:300]
            for r in records if any("forbidden" in x.lower() or "(403)" in x for x in r)
            and not any("being terminated" in x for x in r)]


def test_kafka_and_meta_reconcile_under_their_own_accounts(kube: Kubectl, operator: OperatorProcess,
                                                           accounts: dict[str, str],
                                                           tmp_path_factory: pytest.TempPathFactory):
    namespace = f"e2e-rbac-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    with operator.suspended():
        reconcile_under(kube, accounts, namespace, tmp_path_factory)


def test_kafka_watching_one_namespace_with_a_role(kube: Kubectl, operator: OperatorProcess,
                                                  tmp_path_factory: pytest.TempPathFactory):
    """watchNamespaces: kafka gets a Role in the namespace (and a ClusterRole for cluster-scoped objects
    only), runs with ``--namespace``, and still brings its cluster to Ready; elsewhere it may do nothing."""
    namespace = f"e2e-rbac-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    workdir = tmp_path_factory.mktemp("rbac-ns")
    with installed_accounts(kube, workdir, f"watchNamespaces={{{namespace}}}") as found, operator.suspended():
        account = found["kafka/account"]
        assert can_i(kube, account, "patch", "statefulsets.apps", "-n", namespace)
        assert not can_i(kube, account, "patch", "statefulsets.apps", "-n", "default")
        assert not can_i(kube, account, "list", "pods", "--all-namespaces")
        reconcile_under(kube, found, namespace, tmp_path_factory, kafka_args=("--namespace", namespace))


def reconcile_under(kube: Kubectl, accounts: dict[str, str], namespace: str,
                    tmp_path_factory: pytest.TempPathFactory, kafka_args: tuple[str, ...] = ()) -> None:
    """Run kafka and meta with ``accounts``' kubeconfigs; a KafkaCluster in ``namespace`` becomes Ready,
    a pod restarts on request, the webhook serves; no request of either is refused."""
    configuration = rbac.KAFKA.webhook_configuration
    kafka = OperatorProcess(accounts["kafka"], tmp_path_factory.mktemp("kafka-sa"), only="kafka",
                            extra_args=("--webhook-configuration", configuration, *kafka_args))
    meta = OperatorProcess(accounts["meta"], tmp_path_factory.mktemp("meta-sa"), only="meta", webhooks=False)
    k = Kubectl(kube.kubeconfig, namespace)
    try:
        wait_for(lambda: k.run("get", "validatingwebhookconfiguration", configuration, check=False)
                 .returncode == 0, timeout=60, what=f"kopf's {configuration} under the kafka account")
        k.apply(yaml.safe_dump({"apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster",
                                "metadata": {"name": "least"},
                                "spec": {"brokers": {"replicas": 1}, "controllers": {"replicas": 1}}}))

        def ready():
            obj = k.json("get", "kafkacluster", "least")
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
            return obj if conds.get("Ready") == "True" and conds.get("Progressing") == "False" else None
        wait_for(ready, timeout=150, what="KafkaCluster least Ready under the kafka and meta accounts")
        claim = k.json("get", "serviceclaim", "least")
        assert {c["type"]: c["status"] for c in claim["status"]["conditions"]}["Admitted"] == "True"

        # A pod restart on request: the kafka account deletes the pod, the StatefulSet recreates it.
        uid = k.json("get", "pod", "least-broker-0")["metadata"]["uid"]
        k.run("annotate", "pod", "least-broker-0", "smack.dev/restart=true")
        wait_for(lambda: (p := k.run("get", "pod", "least-broker-0", "-o", "json", check=False)).returncode == 0
                 and json.loads(p.stdout)["metadata"]["uid"] != uid, timeout=90, what="least-broker-0 restarted")
        wait_for(ready, timeout=90, what="Ready again after the restart")

        # The webhook served under the kafka account refuses a demand above a tenant limit.
        assert "Webhook 'demand-kafkaclusters' succeeded" in kafka.log_path.read_text()
        assert not forbidden_requests(kafka), "\n".join(forbidden_requests(kafka)[:10])
        assert not forbidden_requests(meta), "\n".join(forbidden_requests(meta)[:10])
        assert "admission cycle over" in meta.log_path.read_text()
    finally:
        k.run("delete", "kafkacluster", "least", "--wait=false", check=False)
        codes = (kafka.stop(), meta.stop())
        kube.run("delete", "namespace", namespace, "--wait=false", check=False)
        kube.run("delete", "validatingwebhookconfiguration", configuration, "--ignore-not-found", check=False)
        kube.run("delete", "mutatingwebhookconfiguration", configuration, "--ignore-not-found", check=False)
    assert codes == (0, 0), f"exit codes {codes}"


def can_i(kube: Kubectl, account: str, *request: str) -> bool:
    proc = kube.run("auth", "can-i", *request, f"--as={account}", check=False)
    return proc.stdout.strip() == "yes"


@pytest.mark.parametrize(("op", "request_", "expected"), [
    ("kafka", ("patch", "statefulsets.apps", "-n", "default"), True),
    ("kafka", ("delete", "pods", "-n", "default"), True),
    ("kafka", ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/smack-operators-kafka.smack.dev"),
     True),
    ("kafka", ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/some-other-webhook"), False),
    ("kafka", ("delete", "nodes"), False),
    ("kafka", ("get", "secrets", "-n", "default"), False),
    ("kafka", ("patch", "tenants.scheduling.smack.dev"), False),
    ("kafka", ("patch", "serviceclaims.scheduling.smack.dev", "--subresource=status", "-n", "default"), False),
    ("kafka", ("delete", "statefulsets.apps", "-n", "default"), False),
    ("kafka", ("create", "pods", "-n", "default"), False),
    ("meta", ("patch", "serviceclaims.scheduling.smack.dev", "--subresource=status", "-n", "default"), True),
    ("meta", ("patch", "statefulsets.apps", "-n", "default"), False),
    ("meta", ("create", "statefulsets.apps", "-n", "default"), False),
    ("meta", ("delete", "pods", "-n", "default"), False),
    ("meta", ("patch", "serviceclaims.scheduling.smack.dev", "-n", "default"), False),
    ("meta", ("get", "secrets", "-n", "default"), False),
    ("meta", ("patch", "kafkaclusters.kafka.smack.dev", "-n", "default"), False),
    ("meta", ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io"), False),
])
def test_each_account_can_do_only_what_its_operator_needs(kube: Kubectl, accounts: dict[str, str], op: str,
                                                          request_: tuple[str, ...], expected: bool):
    assert can_i(kube, accounts[f"{op}/account"], *request_) is expected, f"{op}: can-i {' '.join(request_)}"


def test_cassandra_and_spark_reconcile_under_their_own_accounts(kube: Kubectl, operator: OperatorProcess,
                                                                accounts: dict[str, str],
                                                                tmp_path_factory: pytest.TempPathFactory):
    """A CassandraDatacenter becomes Ready and a SparkApplication's driver runs, with the cassandra,
    spark and meta operators each under its own account; no request of any of them is refused."""
    namespace = f"e2e-rbac-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    k = Kubectl(kube.kubeconfig, namespace)
    with operator.suspended():
        procs = {name: OperatorProcess(accounts[name], tmp_path_factory.mktemp(f"{name}-sa"), only=name,
                                       extra_args=("--webhook-configuration", rbac.by_name(name).webhook_configuration))
                 for name in ("cassandra", "spark")}
        procs["meta"] = OperatorProcess(accounts["meta"], tmp_path_factory.mktemp("meta-sa"), only="meta",
                                        webhooks=False)
        try:
            k.apply(yaml.safe_dump({"apiVersion": "cassandra.smack.dev/v1alpha1", "kind": "CassandraDatacenter",
                                    "metadata": {"name": "least"},
                                    "spec": {"clusterName": "least", "size": 1, "racks": [
                                        {"name": "r1", "zone": "zone-a"}], "storage": {"size": "1Gi"}}}))
            wait_for(lambda: k.run("get", "serviceclaim", "least", check=False).returncode == 0, timeout=60,
                     what="the datacenter's ServiceClaim")

            def application(name: str) -> str:
                return yaml.safe_dump({
                    "apiVersion": "spark.smack.dev/v1alpha1", "kind": "SparkApplication", "metadata": {"name": name},
                    "spec": {"type": "Scala", "mainClass": "org.apache.spark.examples.SparkPi",
                             "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
                             "driver": {"coreRequest": "100m", "memory": "512m"},
                             "executor": {"coreRequest": "100m", "memory": "512m", "instances": 1}}})
            # Services of any kind share claim names: the application may not be called "least" too.
            refused = k.apply(application("least"), check=False)
            assert refused.returncode != 0 and "the ServiceClaim least of this namespace belongs to " \
                "CassandraDatacenter least" in refused.stderr, refused.stderr
            k.apply(application("least-app"))

            def cassandra_ready():
                obj = k.json("get", "cassandradatacenter", "least")
                return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get(
                    "conditions", []))
            wait_for(cassandra_ready, timeout=150, what="CassandraDatacenter least Ready under its account")
            wait_for(lambda: k.json("get", "sparkapplication", "least-app").get("status", {}).get(
                "applicationState", {}).get("state") == "RUNNING", timeout=150,
                what="SparkApplication least RUNNING under its account")
            for name, proc in procs.items():
                assert not forbidden_requests(proc), f"{name}: " + "\n".join(forbidden_requests(proc)[:10])
        finally:
            k.run("delete", "cassandradatacenter/least", "sparkapplication/least-app", "--wait=false", check=False)
            codes = {name: proc.stop() for name, proc in procs.items()}
            kube.run("delete", "namespace", namespace, "--wait=false", check=False)
            for name in ("cassandra", "spark"):
                for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
                    kube.run("delete", kind, rbac.by_name(name).webhook_configuration, "--ignore-not-found",
                             check=False)
        assert set(codes.values()) == {0}, f"exit codes {codes}"
