"""The chart on real pods: ``helm install`` of charts/smack-operators with the operators' image
(smack-operators:dev, hack/images.sh) on the real nodes, and a KafkaCluster Ready through it.

The operators run in-cluster, each under its own ServiceAccount, reaching the API server as
``kubernetes.default.svc``; the API server calls their webhooks through the webhook Service. The
session's local operators are stopped meanwhile: two operator processes never watch the same
namespaces at once.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from operators import rbac

from .conftest import REAL, ROOT, Kubectl, OperatorProcess, figure, wait_for
from .test_helm import helm
from .test_rbac import HELM
from .test_real_services import STORAGE, ready_unless_crashing

pytestmark = [pytest.mark.e2e, pytest.mark.real]

RELEASE = "smack"


def test_chart_operators_on_real_pods_bring_a_kafka_cluster_to_ready(
        kube: Kubectl, operator: OperatorProcess, real_ns: Kubectl, pytestconfig: pytest.Config,
        tmp_path: Path) -> None:
    namespace = f"{real_ns.namespace}-system"
    system = Kubectl(kube.kubeconfig, namespace)
    values = {"image": {"repository": "smack-operators", "tag": "dev", "pullPolicy": "Never"},
              "webhook": {"certificate": "helm"}, **REAL}
    with operator.suspended():
        try:
            values_file = tmp_path / "values.json"
            values_file.write_text(json.dumps(values))
            helm(kube, "install", RELEASE, str(ROOT / "charts" / "smack-operators"), "--namespace", namespace,
                 "--create-namespace", "--skip-crds", "--values", str(values_file))
            for op in rbac.OPERATORS:
                name = f"{RELEASE}-smack-operators-{op.name}"
                system.run("rollout", "status", f"deployment/{name}", "--timeout=180s", timeout=200)
            pods = system.json("get", "pods")["items"]
            assert {p["spec"]["nodeName"] for p in pods} <= {"real-a", "real-b", "real-c"}
            assert {p["spec"]["serviceAccountName"] for p in pods} == {
                f"{RELEASE}-smack-operators-{op.name}" for op in rbac.OPERATORS}

            # The Kafka operator's webhook answers through its Service: four brokers, one per host, can never
            # be placed on the pool's three nodes, and the API server refuses them at apply.
            service = f"{RELEASE}-smack-operators-kafka-webhook"
            config = "validatingwebhookconfiguration/smack-operators-kafka.smack.dev"
            services = "jsonpath={.webhooks[*].clientConfig.service.name}"
            wait_for(lambda: service in kube.run("get", config, "-o", services, check=False).stdout,
                     timeout=120, what=f"the Kafka webhook configuration calling Service {service}")

            def refused_at_apply() -> subprocess.CompletedProcess | None:
                # The webhook fails open until the API server reaches it through the new Service: an
                # object admitted meanwhile is deleted and the check asked again.
                never = {"apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster",
                         "metadata": {"name": "never"},
                         "spec": {"brokers": {"replicas": 4, "nodePool": "real"}, "controllers": {"nodePool": "real"}}}
                answer = real_ns.apply(json.dumps(never), check=False)
                if answer.returncode == 0:
                    real_ns.run("delete", "kafkacluster", "never")
                    return None
                return answer

            refused = wait_for(refused_at_apply, timeout=120, interval=2,
                               what="the chart's Kafka webhook refusing four brokers on three hosts")
            assert "denied the request" in refused.stderr, refused.stderr
            figure(pytestconfig, f"chart webhook: {refused.stderr.strip()[:300]}")

            node_set = {"replicas": 3, "nodePool": "real", "storage": STORAGE}
            real_ns.apply(json.dumps({
                "apiVersion": "kafka.smack.dev/v1alpha1", "kind": "KafkaCluster", "metadata": {"name": "chart"},
                "spec": {"listeners": [{"name": "plain", "port": 9092}],
                         "controllers": {**node_set, "resources": {"requests": {"cpu": "100m", "memory": "768Mi"}}},
                         "brokers": {**node_set, "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}}}}))
            wait_for(lambda: ready_unless_crashing(real_ns, "kafkacluster", "chart", "kafka.smack.dev/cluster=chart"),
                     timeout=600, interval=2,
                     what="KafkaCluster chart Ready through the chart's operators")
            log = system.run("logs", f"deployment/{RELEASE}-smack-operators-kafka").stdout
            assert f"{real_ns.namespace}/chart" in log, log[-3000:]
            real_ns.run("delete", "kafkacluster", "--all", "--timeout=180s", timeout=200)
        finally:
            subprocess.run([str(HELM), "--kubeconfig", kube.kubeconfig, "uninstall", RELEASE, "--namespace",
                            namespace, "--wait", "--timeout=120s"], capture_output=True, timeout=180)
            kube.run("delete", "namespace", namespace, "--timeout=120s", check=False, timeout=150)
