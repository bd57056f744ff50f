"""``helm install`` of charts/smack-operators on the local control plane.

The API server accepts every object of the chart, the Deployments become Available (kwok runs the
pods: no operator process starts here; tests/e2e/test_rbac.py runs the operators under the chart's
accounts), and ``helm upgrade`` keeps the generated webhook certificate.
"""

from __future__ import annotations

import subprocess
import uuid

from operators import rbac

from .conftest import ROOT, Kubectl, wait_for
from .test_rbac import HELM


def helm(kube: Kubectl, *args: str) -> str:
    proc = subprocess.run([str(HELM), "--kubeconfig", kube.kubeconfig, *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def test_install_upgrade_uninstall(kube: Kubectl):
    suffix = uuid.uuid4().hex[:6]
    release, namespace = f"helm{suffix}", f"smack-helm-{suffix}"
    chart = str(ROOT / "charts" / "smack-operators")
    k = Kubectl(kube.kubeconfig, namespace)
    try:
        helm(kube, "install", release, chart, "--namespace", namespace, "--create-namespace", "--skip-crds",
             "--set", "webhook.certificate=helm", "--set", "metrics.dashboard.enabled=true")
        for op in rbac.OPERATORS:
            name = f"{release}-smack-operators-{op.name}"
            wait_for(lambda name=name: k.json("get", "deployment", name).get("status", {}).get("availableReplicas"),
                     timeout=120, what=f"deployment {name} available")
            k.run("get", "serviceaccount", name)
            k.run("get", "service", f"{name}-metrics")
            kube.run("get", "clusterrole", name)
        secret = k.json("get", "secret", f"{release}-smack-operators-webhook-tls")
        assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
        endpoints = k.json("get", "endpoints", f"{release}-smack-operators-kafka-webhook")
        assert endpoints.get("subsets"), "the webhook Service selects the kafka operator's pod"

        helm(kube, "upgrade", release, chart, "--namespace", namespace, "--reuse-values")
        again = k.json("get", "secret", f"{release}-smack-operators-webhook-tls")
        assert again["data"] == secret["data"], "helm upgrade generated a new certificate"
        assert "smack-operators" in helm(kube, "status", release, "--namespace", namespace)
    finally:
        subprocess.run([str(HELM), "--kubeconfig", kube.kubeconfig, "uninstall", release, "--namespace", namespace,
                        "--wait=false"], capture_output=True, timeout=120)
        kube.run("delete", "namespace", namespace, "--wait=false", check=False)
    assert kube.run("get", "clusterrole", f"{release}-smack-operators-kafka", check=False).returncode != 0
