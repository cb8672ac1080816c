"""End to end: kube-apiserver 1.20 posts its audit events to ``kposture serve``'s audit webhook sink.

A dedicated cluster (its own state dir, with kube-controller-manager so ServiceAccounts get tokens)
starts with the documented audit policy (examples/audit-policy.yaml: nothing for health checks, most
watches and leases, Request or RequestResponse for the writes detections judge by their body,
Metadata for the rest) and ``--audit-webhook-config-file``: a kubeconfig pointing at
``https://127.0.0.1:PORT/audit`` with the sink's CA and a client certificate that CA signed
(``--audit-client-ca``), batches sent after at most 1 s. kposture serve prints alerts as JSON lines
(``--alert stdout``) and stores them. Then, with kubectl: a ServiceAccount of one namespace reads a
Secret in another (``secret-read-cross-namespace``), an admin binds cluster-admin
(``cluster-admin-granted``), an admin creates a privileged pod (``privileged-pod-created``); each
alert must arrive (a generous deadline: failing means it never came), and how long it took from the
kubectl command is measured and printed (``pytest -s``), not asserted: the figures are in
docs/performance.md. Normal traffic afterwards (an admin listing pods, creating a ConfigMap) must
raise none. Then the detections that need the policy's levels: an admin writes an AWS key into a
ConfigMap (``configmap-credentials-written``, judged from the request body the policy logs) and
plants a Secret in kube-system (``system-namespace-secret-changed``); neither alert may carry the
values. Last, catalogue detections at work on a real API server: the ServiceAccount tries to list
every namespace's Secrets and is denied (``secret-access-denied``), the admin lists them
(``secret-enumeration``) and creates a CronJob (``cronjob-created``).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e.cluster.harness import KubeCluster, binaries_missing
from kposture.store.alerts import recent_alerts
from kposture.store.connecting import open_store

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 60.0
"""How long an alert may take to arrive before the test says it never did: the batch wait is 1 s and
alerts arrive within about a second; this only bounds a failing run."""
NS_A, NS_B = "kp-audit-a", "kp-audit-b"
AUDIT_POLICY = Path(__file__).parents[3] / "examples" / "audit-policy.yaml"
"""The audit policy the detections are written for (examples/audit-policy.yaml), as documented."""
PRIVILEGED_POD = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: kp-audit-root, namespace: {NS_B}}}
spec:
  automountServiceAccountToken: false
  containers:
    - name: sh
      image: busybox:1.36
      command: [sleep, "3600"]
      securityContext: {{privileged: true}}
"""


CRONJOB = f"""\
apiVersion: batch/v1beta1
kind: CronJob
metadata: {{name: kp-audit-cron, namespace: {NS_B}}}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: c, image: "busybox:1.36", command: ["true"]}}]
"""
"""batch/v1beta1: the test cluster's kube-apiserver 1.20 has no batch/v1 CronJob."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    common_name: str, key: Any, issuer: tuple[x509.Certificate, Any] | None, *, usage: Any = None
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, certificate: x509.Certificate, key: Any) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AlertLines:
    """The sink's stdout, read on a thread: each alert with the time it arrived."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip().startswith("{"):
                with self._lock:
                    self.lines.append((time.monotonic(), json.loads(line)))

    def since(self, start: float) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(at, doc) for at, doc in self.lines if at >= start]

    def wait(
        self,
        start: float,
        match: Callable[[dict[str, Any]], bool],
        timeout: float = DEADLINE_SECONDS,
    ) -> tuple[float, dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, doc in self.since(start):
                if match(doc):
                    return at, doc
            time.sleep(0.02)
        return None


def _detection(rule_id: str, **event: str) -> Callable[[dict[str, Any]], bool]:
    def match(doc: dict[str, Any]) -> bool:
        found = doc.get("kposture", {})
        block = found.get("event") or {}
        return found.get("rule_id") == rule_id and all(block.get(k) == v for k, v in event.items())

    return match


@pytest.fixture(scope="module")
def audited(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KubeCluster, AlertLines, Path]]:
    if missing := binaries_missing(True):
        pytest.skip(f"test cluster not built ({missing}): run scripts/test-cluster/build.sh")
    folder = tmp_path_factory.mktemp("audit-webhook")
    ca_key = _key()
    ca = _certificate("kposture-audit-ca", ca_key, None)
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    server_key, client_key = _key(), _key()
    server_cert, server_key_path = _write(
        folder,
        "serving",
        _certificate("kposture", server_key, (ca, ca_key), usage=ExtendedKeyUsageOID.SERVER_AUTH),
        server_key,
    )
    client_cert, client_key_path = _write(
        folder,
        "apiserver",
        _certificate(
            "kube-apiserver", client_key, (ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH
        ),
        client_key,
    )
    port = _free_port()
    db = folder / "kposture.db"
    serve_log = (folder / "serve.log").open("w")
    serve = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from kposture.cli import main; main()",
            "serve",
            "--tls-cert",
            str(server_cert),
            "--tls-key",
            str(server_key_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{db}",
            "--audit-client-ca",
            str(ca_path),
            "--alert",
            "stdout[dedup=0]",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=serve_log,
        text=True,
        env={**os.environ, "KPOSTURE_DB": ""},
    )
    alerts = AlertLines(serve)
    policy = folder / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY.read_text())
    webhook = folder / "audit-webhook.kubeconfig"
    webhook.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "kposture",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}/audit",
                            "certificate-authority": str(ca_path),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "kube-apiserver",
                        "user": {
                            "client-certificate": str(client_cert),
                            "client-key": str(client_key_path),
                        },
                    }
                ],
                "contexts": [
                    {"name": "audit", "context": {"cluster": "kposture", "user": "kube-apiserver"}}
                ],
                "current-context": "audit",
            }
        )
    )
    cluster = KubeCluster(
        folder / "state",
        controller_manager=True,
        extra_apiserver_args=[
            f"--audit-policy-file={policy}",
            f"--audit-webhook-config-file={webhook}",
            "--audit-webhook-mode=batch",
            "--audit-webhook-batch-max-wait=1s",
            "--audit-webhook-initial-backoff=1s",
        ],
    )
    try:
        cluster.start()
        yield cluster, alerts, db
    finally:
        cluster.destroy()
        serve.terminate()
        serve.communicate(timeout=30)
        serve_log.close()


def _sa_token(cluster: KubeCluster, namespace: str, name: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        secret = cluster.kubectl(
            "get", "serviceaccount", name, "-n", namespace, "-o", "jsonpath={.secrets[0].name}"
        ).stdout.strip()
        if secret:
            data = cluster.kubectl(
                "get", "secret", secret, "-n", namespace, "-o", "jsonpath={.data.token}"
            ).stdout.strip()
            if data:
                return base64.b64decode(data).decode()
        time.sleep(0.5)
    raise AssertionError(f"no token Secret for {namespace}/{name}")


def _timed(
    alerts: AlertLines, match: Callable[[dict[str, Any]], bool], run: Callable[[], object]
) -> float:
    start = time.monotonic()
    run()
    found = alerts.wait(start, match)
    assert found is not None, f"the alert never arrived (waited {DEADLINE_SECONDS:.0f} s)"
    return found[0] - start


def test_suspicious_requests_alert_and_normal_traffic_does_not(
    audited: tuple[KubeCluster, AlertLines, Path],
) -> None:
    cluster, alerts, db = audited
    cluster.ensure_namespaces(NS_A, NS_B)
    cluster.kubectl("create", "serviceaccount", "reader", "-n", NS_A)
    cluster.kubectl("create", "serviceaccount", "default", "-n", NS_B, check=False)
    cluster.kubectl(
        "create", "secret", "generic", "db", "-n", NS_B, "--from-literal=password=hunter2"
    )
    cluster.kubectl(
        "create", "role", "secret-reader", "-n", NS_B, "--verb=get", "--resource=secrets"
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        NS_B,
        "--role=secret-reader",
        f"--serviceaccount={NS_A}:reader",
    )
    token = _sa_token(cluster, NS_A, "reader")
    reader = f"system:serviceaccount:{NS_A}:reader"
    latencies = {
        "secret-read-cross-namespace": _timed(
            alerts,
            _detection("secret-read-cross-namespace", user=reader, namespace=NS_B),
            lambda: cluster.kubectl(
                "get", "secret", "db", "-n", NS_B, f"--token={token}", context=cluster.user_context
            ),
        ),
        "cluster-admin-granted": _timed(
            alerts,
            _detection("cluster-admin-granted", name="kp-audit-pwn"),
            lambda: cluster.kubectl(
                "create",
                "clusterrolebinding",
                "kp-audit-pwn",
                "--clusterrole=cluster-admin",
                "--user=mallory",
            ),
        ),
        "privileged-pod-created": _timed(
            alerts,
            _detection("privileged-pod-created", namespace=NS_B, name="kp-audit-root"),
            lambda: cluster.kubectl("apply", "-f", "-", input=PRIVILEGED_POD),
        ),
    }
    shown = {name: round(seconds, 3) for name, seconds in latencies.items()}
    print(f"\nalert latency from the kubectl command (s): {json.dumps(shown)}")

    time.sleep(3)  # every batch of the setup and the requests above has arrived
    quiet_start = time.monotonic()
    cluster.kubectl("get", "pods", "-A")
    cluster.kubectl("get", "pods", "-n", NS_B)
    cluster.kubectl("create", "configmap", "settings", "-n", NS_B, "--from-literal=LOG_LEVEL=info")
    cluster.kubectl("get", "configmap", "settings", "-n", NS_B, "-o", "yaml")
    time.sleep(3)
    noisy = [doc.get("kposture", {}) for _, doc in alerts.since(quiet_start)]
    assert noisy == [], noisy

    aws_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    body_start = time.monotonic()
    cluster.kubectl(
        "create",
        "configmap",
        "cloud",
        "-n",
        NS_B,
        f"--from-literal=aws_secret_access_key={aws_key}",
    )
    found = alerts.wait(body_start, _detection("configmap-credentials-written", namespace=NS_B))
    assert found is not None, "configmap-credentials-written needs the body at level Request"
    assert "aws_secret_access_key: AWS secret access key" in found[1]["message"]
    planted = "kp-audit-planted"
    cluster.kubectl(
        "create", "secret", "generic", planted, "-n", "kube-system", "--from-literal=token=hunter3"
    )
    found = alerts.wait(body_start, _detection("system-namespace-secret-changed", name=planted))
    assert found is not None, "a Secret planted in kube-system by a person raises an alert"
    cluster.kubectl("delete", "secret", planted, "-n", "kube-system")
    leaked = [doc for _, doc in alerts.since(body_start) if aws_key in json.dumps(doc)]
    assert leaked == [] and all("hunter3" not in json.dumps(d) for _, d in alerts.since(0))

    catalogue_start = time.monotonic()
    cluster.kubectl(
        "get", "secrets", "-A", f"--token={token}", context=cluster.user_context, check=False
    )
    found = alerts.wait(catalogue_start, _detection("secret-access-denied", user=reader))
    assert found is not None, "a denied list of every namespace's Secrets is probing"
    cluster.kubectl("get", "secrets", "-A", "-o", "name")
    found = alerts.wait(catalogue_start, _detection("secret-enumeration", resource="secrets"))
    assert found is not None, "listing every namespace's Secrets is an enumeration"
    assert "every namespace" in found[1]["message"]
    cluster.kubectl("apply", "-f", "-", input=CRONJOB)
    found = alerts.wait(catalogue_start, _detection("cronjob-created", namespace=NS_B))
    assert found is not None, "a CronJob created by a person is cronjob-created"
    assert "schedule '*/5 * * * *'" in found[1]["message"]

    cluster.kubectl("delete", "clusterrolebinding", "kp-audit-pwn")
    cluster.kubectl("delete", "namespace", NS_A, NS_B, "--wait=false")
    time.sleep(2)
    store = open_store(f"sqlite:///{db}")
    try:
        stored = {alert.rule_id for alert in recent_alerts(store, limit=1000)}
        rows = recent_alerts(store, rule_id="secret-read-cross-namespace", limit=1000)
    finally:
        store.close()
    assert {
        "secret-read-cross-namespace",
        "cluster-admin-granted",
        "privileged-pod-created",
        "secret-access-denied",
        "secret-enumeration",
        "cronjob-created",
    } <= stored
    assert any(row.event.get("user") == reader for row in rows)
    assert all("hunter2" not in json.dumps(row.event) + row.message for row in rows)
