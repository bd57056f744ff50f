"""The real nodes' data plane (hack/nodes-up.sh): real pods on host-process kubelets.

Every pod here runs the base image (hack/images.sh) on the nodes labelled and tainted
``type=real``: a StatefulSet ``web`` with one pod per node serving HTTP on 8080 with netcat,
behind a ClusterIP Service and a headless one. The checks are those a service operator relies
on: readiness, pod-to-pod traffic across nodes, Service and per-pod DNS names, volumes that
outlive pods, the API server from inside a pod with its ServiceAccount token, logs and exec,
and pods and Services reachable from this host, where ``make run`` runs the operators.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator

import pytest

from .conftest import Kubectl, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.real]

BASE_IMAGE = "smack-base:bookworm"
REAL = {"nodeSelector": {"type": "real"},
        "tolerations": [{"key": "type", "value": "real", "effect": "NoSchedule"}]}
# One HTTP answer per connection, naming the pod that gave it, from one listening socket (perl is in
# every Debian root; a loop of `nc -l` would leave the port closed between two answers).
SERVE = ('echo "serving on $HOSTNAME"; exec perl -MIO::Socket::INET -e \'$s = IO::Socket::INET->new('
         'LocalPort => 8080, Listen => 128, ReuseAddr => 1) or die $!; while ($c = $s->accept) { '
         'print $c "HTTP/1.0 200 OK\\r\\n\\r\\nhello from $ENV{HOSTNAME}\\n"; close $c }\'')


def fetch(host: str, port: int) -> str:
    """A shell command printing the answer of host:port."""
    return f"nc -w 5 {host} {port} </dev/null"


def pod_spec(command: str, container: dict | None = None, **extra: object) -> dict:
    """A pod spec for the real nodes running ``command`` in the base image; ``container`` adds
    to the container, ``extra`` to the pod spec."""
    return {**REAL, "terminationGracePeriodSeconds": 1, **extra,
            "containers": [{"name": "main", "image": BASE_IMAGE, "imagePullPolicy": "Never",
                            "command": ["bash", "-c", command], **(container or {})}]}


@pytest.fixture(scope="module")
def real(kube: Kubectl) -> Iterator[Kubectl]:
    """A namespace for this module on a cluster with three Ready real nodes; skipped without them."""
    nodes = kube.json("get", "nodes", "-l", "type=real")["items"]
    if not nodes:
        pytest.skip("no node labelled type=real: hack/cluster-up.sh started kwok's nodes only "
                    "(SMACK_REAL_NODES=0, or this host cannot run real nodes; its log says why)")
    name = f"real-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    k = Kubectl(kube.kubeconfig, name)
    wait_for(lambda: k.run("get", "serviceaccount", "default", check=False).returncode == 0,
             timeout=30, what="default ServiceAccount")
    yield k
    kube.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def web(real: Kubectl) -> dict[str, dict]:
    """StatefulSet ``web``: one Ready pod per real node (required hostname anti-affinity),
    behind Service ``web`` (port 80) and headless ``web-hs``. Returns the pods by name."""
    labels = {"app": "web"}
    spec = pod_spec(SERVE, container={"readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}})
    spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}
    manifests = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-hs"},
         "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 8080}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
         "spec": {"replicas": 3, "serviceName": "web-hs", "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": spec}}},
    ]
    real.apply("\n---\n".join(json.dumps(m) for m in manifests))
    real.run("rollout", "status", "statefulset/web", "--timeout=180s")
    pods = real.json("get", "pods", "-l", "app=web")["items"]
    return {p["metadata"]["name"]: p for p in pods}


def sh(k: Kubectl, pod: str, script: str) -> str:
    return k.run("exec", pod, "--", "bash", "-c", script).stdout


def test_one_ready_pod_on_each_real_node(web: dict[str, dict]) -> None:
    nodes = {p["spec"]["nodeName"] for p in web.values()}
    assert nodes == {"real-a", "real-b", "real-c"}
    for pod in web.values():
        index = "abc".index(pod["spec"]["nodeName"][-1]) + 1
        assert pod["status"]["podIP"].startswith(f"10.201.{index}."), pod["status"]["podIP"]


def test_pod_to_pod_across_nodes(real: Kubectl, web: dict[str, dict]) -> None:
    for source in web:
        for target, pod in web.items():
            if target != source:
                out = sh(real, source, fetch(pod["status"]["podIP"], 8080))
                assert f"hello from {target}" in out


def test_cluster_ip_service_and_headless_dns(real: Kubectl, web: dict[str, dict]) -> None:
    ns = real.namespace
    cluster_ip = real.json("get", "service", "web")["spec"]["clusterIP"]
    # The Service name through the search path and fully qualified, then traffic through kube-proxy.
    assert sh(real, "web-0", "getent hosts web").split()[0] == cluster_ip
    assert sh(real, "web-0", f"getent hosts web.{ns}.svc.cluster.local").split()[0] == cluster_ip
    answers = {sh(real, "web-0", fetch("web", 80)).strip().split()[-1] for _ in range(12)}
    assert answers <= set(web) and len(answers) >= 2, answers  # load-balanced over the pods
    # Each pod's stable name, from each pod.
    for source in web:
        for target, pod in web.items():
            name = f"{target}.web-hs.{ns}.svc.cluster.local"
            assert sh(real, source, f"getent hosts {name}").split()[0] == pod["status"]["podIP"]
            assert f"hello from {target}" in sh(real, source, fetch(name, 8080))


def test_volume_outlives_its_pod(real: Kubectl) -> None:
    token = uuid.uuid4().hex
    real.apply(json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"storageClassName": "real-local", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "16Mi"}}}}))

    def pod(name: str, command: str) -> str:
        return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec(
            command, restartPolicy="Never",
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]})})

    real.apply(pod("writer", f"echo {token} > /data/token && sync"))
    real.run("wait", "pod/writer", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s")
    real.run("delete", "pod", "writer")
    real.apply(pod("reader", "cat /data/token"))
    real.run("wait", "pod/reader", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s")
    assert real.run("logs", "reader").stdout.strip() == token
    volume = real.json("get", "pvc", "data")["spec"]["volumeName"]
    pv = real.json("get", "pv", volume)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete" and pv["spec"]["hostPath"]["path"]
    # Reclaim policy Delete: the volume goes with its claim, once no pod uses it.
    real.run("delete", "pod", "reader")
    real.run("delete", "pvc", "data")
    wait_for(lambda: real.run("get", "pv", volume, check=False).returncode != 0, timeout=60,
             what=f"PersistentVolume {volume} deleted with its claim")


def test_in_cluster_api_with_service_account_token(real: Kubectl, web: dict[str, dict]) -> None:
    """What a client's in-cluster config does: KUBERNETES_SERVICE_HOST/PORT (and the name
    kubernetes.default.svc), the mounted CA for the server's certificate, the pod's token."""
    review = '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
    script = (
        "sa=/var/run/secrets/kubernetes.io/serviceaccount; "
        f"body='{review}'; "
        'for server in "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" kubernetes.default.svc:443; do '
        'printf "POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\\r\\n'
        'Host: kubernetes.default.svc\\r\\nAuthorization: Bearer %s\\r\\n'
        'Content-Type: application/json\\r\\nContent-Length: %s\\r\\n'
        'Connection: close\\r\\n\\r\\n%s" "$(cat $sa/token)" "${#body}" "$body" | '
        'openssl s_client -quiet -verify_return_error -CAfile $sa/ca.crt -servername kubernetes.default.svc '
        '-connect "$server" 2>/dev/null | tail -1; echo; done')
    lines = [line for line in sh(real, "web-0", script).splitlines() if line.strip()]
    assert len(lines) == 2, lines
    for line in lines:
        user = json.loads(line)["status"]["userInfo"]
        assert user["username"] == f"system:serviceaccount:{real.namespace}:default"
        assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["web-0"]


def test_logs_and_exec(real: Kubectl, web: dict[str, dict]) -> None:
    assert "serving on web-1" in real.run("logs", "web-1").stdout
    node = web["web-1"]["spec"]["nodeName"]
    # The container runs in its node's own cgroup tree.
    assert f"/smack-{node}/kubepods" in sh(real, "web-1", "cat /proc/self/cgroup")
    assert sh(real, "web-1", "echo $HOSTNAME; id -u").split() == ["web-1", "0"]


def test_host_reaches_pods_and_services(real: Kubectl, web: dict[str, dict]) -> None:
    """The operators run on this host (make run): pod IPs and ClusterIPs answer from here."""
    cluster_ip = real.json("get", "service", "web")["spec"]["clusterIP"]
    targets = [(p["status"]["podIP"], 8080) for p in web.values()] + [(cluster_ip, 80)]
    for host, port in targets:
        assert get(host, port).startswith("hello from web-"), (host, port)


def get(host: str, port: int) -> str:
    """The last line of host:port's answer."""
    with socket.create_connection((host, port), timeout=5) as conn:
        return conn.makefile().read().splitlines()[-1]
