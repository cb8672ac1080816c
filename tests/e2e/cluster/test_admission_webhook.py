"""``kposture serve`` registered with the real API server (1.20.2) and driven with kubectl.

One ``kposture serve`` process listens on 127.0.0.1 with a certificate from ``kposture admission
certs --ip 127.0.0.1``; a ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1, url
clientConfig with the caBundle) sends it CREATE and UPDATE of pods and deployments, but only from
namespaces carrying this module's label, so the other tests of the session are never judged. The
policy gives each test namespace its mode (enforce by default, warn, dry-run, exempt), so one
process covers them all; the legacy-Deployment test restarts it with the dry-run namespace switched
to enforce. The configuration is deleted at teardown before anything else.

Covered: enforce denies with the rule id and its fix in kubectl's error; warn creates and kubectl
prints ``Warning:`` lines; dry-run creates and ``kposture admission log`` shows the decision; an
exempt namespace passes; an UPDATE that introduces nothing passes in enforce (one that does is
denied); malformed and oversized reviews posted directly get 400 and the server keeps serving; with
the process stopped, ``failurePolicy: Fail`` denies and ``Ignore`` admits.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from e2e.cluster.harness import KubeCluster
from kposture.rules import builtin_rules

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"
WEBHOOK = "kposture-e2e-admission"
HOOK_NAME = "validate.kposture-e2e.kposture.io"
SCOPE_LABEL = "kposture.io/admission-e2e"
ENFORCE, WARN, DRY, EXEMPT, LEGACY = (
    "kposture-adm-enforce",
    "kposture-adm-warn",
    "kposture-adm-dry",
    "kposture-adm-exempt",
    "kposture-adm-legacy",
)
NAMESPACES = (ENFORCE, WARN, DRY, EXEMPT, LEGACY)
MAX_REQUEST_BYTES = 1_048_576
WAIT = 30.0
REMEDIATION = {rule.meta.id: rule.meta.remediation for rule in builtin_rules()}


def policy(*, legacy_mode: str | None) -> str:
    namespaces: list[dict[str, Any]] = [
        {"namespaces": [WARN], "mode": "warn"},
        {"namespaces": [DRY], "mode": "dry-run"},
    ]
    if legacy_mode:
        namespaces.append({"namespaces": [LEGACY], "mode": legacy_mode})
    return yaml.safe_dump(
        {
            "admission": {
                "mode": "enforce",
                "maxRequestBytes": MAX_REQUEST_BYTES,
                "namespaces": namespaces,
                "exemptions": [{"namespaces": [EXEMPT], "reason": "e2e: exempt namespace"}],
            }
        }
    )


def pod(name: str, *, privileged: bool = True, labels: dict[str, str] | None = None) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.example.com/app:1.0",
                        "securityContext": {"privileged": privileged},
                    }
                ]
            },
        }
    )


def legacy_deployment() -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "legacy", "labels": {"app": "legacy"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "legacy"}},
                "template": {
                    "metadata": {"labels": {"app": "legacy"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "registry.example.com/legacy:1.0",
                                "securityContext": {"privileged": True},
                            }
                        ]
                    },
                },
            },
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.2)


@dataclass
class Webhook:
    """The serve process, its files and the registered configuration."""

    cluster: KubeCluster
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def db(self) -> Path:
        return self.folder / "kposture.db"

    @property
    def ca(self) -> Path:
        return self.folder / "certs" / "ca.crt"

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self, policy_text: str) -> None:
        self.stop()
        self.runs += 1
        policy_file = self.folder / f"policy-{self.runs}.yaml"
        policy_file.write_text(policy_text)
        log = (self.folder / f"serve-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(KPOSTURE), "serve",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--tls-cert", str(self.folder / "certs" / "tls.crt"),
                "--tls-key", str(self.folder / "certs" / "tls.key"),
                "--policy", str(policy_file),
                "--db", f"sqlite:///{self.db}",
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        eventually(self._healthy, "kposture serve answers /healthz")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"kposture serve exited {self.process.returncode}: {self.log_text()}")
        try:
            return bool(httpx.get(self.url("/healthz"), verify=self.trust(), timeout=2).is_success)
        except httpx.TransportError:
            return False

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            assert self.process.wait(timeout=20) == 0, self.log_text()
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None

    def log_text(self) -> str:
        return (self.folder / f"serve-{self.runs}.log").read_text(errors="replace")

    def configuration(self, failure_policy: str = "Fail") -> str:
        return json.dumps(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": WEBHOOK},
                "webhooks": [
                    {
                        "name": HOOK_NAME,
                        "clientConfig": {
                            "url": self.url("/validate"),
                            "caBundle": base64.b64encode(self.ca.read_bytes()).decode(),
                        },
                        "rules": [
                            {
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE", "UPDATE"],
                                "resources": ["pods"],
                                "scope": "Namespaced",
                            },
                            {
                                "apiGroups": ["apps"],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE", "UPDATE"],
                                "resources": ["deployments"],
                                "scope": "Namespaced",
                            },
                        ],
                        # Only this module's namespaces: the rest of the session is never judged.
                        "namespaceSelector": {"matchLabels": {SCOPE_LABEL: "true"}},
                        "failurePolicy": failure_policy,
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1", "v1beta1"],
                        "timeoutSeconds": 5,
                    }
                ],
            }
        )

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, input=input, check=False)

    def create(
        self, namespace: str, manifest: str, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        return self.kubectl("create", "-n", namespace, "-f", "-", *extra, input=manifest)

    def wait_judging(self) -> None:
        """Until the API server calls this process: a privileged pod in the enforced namespace
        is denied by kposture (a server-side dry run, so nothing is stored)."""

        def denied() -> bool:
            result = self.create(ENFORCE, pod("probe"), "--dry-run=server")
            return result.returncode != 0 and "[privileged-container]" in result.stderr

        eventually(denied, "the API server calls the webhook")

    def decisions(self, namespace: str) -> list[dict[str, Any]]:
        shown = subprocess.run(
            [str(KPOSTURE), "admission", "log", "--db", str(self.db), "-n", namespace, "-o", "json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        decisions: list[dict[str, Any]] = json.loads(shown.stdout)["decisions"]
        return decisions


@pytest.fixture(scope="module")
def webhook(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webhook]:
    folder = tmp_path_factory.mktemp("admission-webhook")
    certs = subprocess.run(
        [str(KPOSTURE), "admission", "certs", "--out", str(folder / "certs"), "--ip", "127.0.0.1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert certs.returncode == 0, certs.stderr
    hook = Webhook(kube_cluster, folder)
    try:
        for namespace in NAMESPACES:
            kube_cluster.ensure_namespaces(namespace)
            kube_cluster.kubectl("label", "namespace", namespace, f"{SCOPE_LABEL}=true")
        hook.start(policy(legacy_mode="dry-run"))
        kube_cluster.apply(hook.configuration(), server_side=False)
        hook.wait_judging()
        yield hook
    finally:
        # The configuration first: a stored Fail webhook with no server would break other tests.
        kube_cluster.kubectl(
            "delete", "validatingwebhookconfiguration", WEBHOOK, "--ignore-not-found", check=False
        )
        kube_cluster.kubectl(
            "delete", "namespace", *NAMESPACES, "--ignore-not-found", "--wait=false", check=False
        )
        hook.stop()


def test_enforce_denies_a_privileged_pod_with_the_rule_and_its_fix(webhook: Webhook) -> None:
    result = webhook.create(ENFORCE, pod("privileged"))
    assert result.returncode != 0
    error = result.stderr
    assert f'admission webhook "{HOOK_NAME}" denied the request' in error
    assert f"kposture denied Pod/{ENFORCE}/privileged" in error
    assert "[privileged-container] container 'app' runs privileged" in error
    assert f"fix: {REMEDIATION['privileged-container']}" in error
    gone = webhook.kubectl("get", "pod", "privileged", "-n", ENFORCE)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_warn_prints_warnings_and_creates_the_pod(webhook: Webhook) -> None:
    result = webhook.create(WARN, pod("warned"))
    assert result.returncode == 0, result.stderr
    assert "pod/warned created" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert "Warning: [privileged-container] container 'app' runs privileged" in warnings
    assert webhook.kubectl("get", "pod", "warned", "-n", WARN).returncode == 0


def test_dry_run_creates_the_pod_and_records_the_decision(webhook: Webhook) -> None:
    result = webhook.create(DRY, pod("dry"))
    assert result.returncode == 0, result.stderr
    assert "Warning:" not in result.stderr
    assert webhook.kubectl("get", "pod", "dry", "-n", DRY).returncode == 0

    def recorded() -> list[dict[str, Any]]:
        return [d for d in webhook.decisions(DRY) if d["resource"]["name"] == "dry"]

    eventually(lambda: bool(recorded()), "the decision is in the store")
    (decision,) = recorded()
    assert decision["outcome"] == "dry-run"
    assert decision["operation"] == "CREATE"
    assert decision["user"] == "kposture-admin"
    assert decision["resource"]["kind"] == "Pod"
    assert decision["latency_ms"] > 0
    modes = {v["rule_id"]: v["mode"] for v in decision["verdicts"]}
    assert modes["privileged-container"] == "dry-run"
    assert set(modes.values()) == {"dry-run"}


def test_an_exempt_namespace_passes(webhook: Webhook) -> None:
    result = webhook.create(EXEMPT, pod("exempt"))
    assert result.returncode == 0, result.stderr
    assert "Warning:" not in result.stderr

    def exempt() -> list[dict[str, Any]]:
        return [d for d in webhook.decisions(EXEMPT) if d["resource"]["name"] == "exempt"]

    eventually(lambda: bool(exempt()), "the exemption is in the store")
    assert exempt()[0]["outcome"] == "exempt"
    assert "e2e: exempt namespace" in exempt()[0]["reason"]


def test_an_update_introducing_nothing_passes_in_enforce(webhook: Webhook) -> None:
    created = webhook.create(LEGACY, legacy_deployment())  # the namespace is in dry-run
    assert created.returncode == 0, created.stderr
    webhook.start(policy(legacy_mode=None))  # the same namespace, now enforced
    try:
        webhook.wait_judging()
        denied_new = webhook.create(LEGACY, pod("new-privileged"), "--dry-run=server")
        assert denied_new.returncode != 0
        assert "[privileged-container]" in denied_new.stderr

        labelled = webhook.kubectl("label", "deployment", "legacy", "-n", LEGACY, "tier=backend")
        assert labelled.returncode == 0, labelled.stderr
        assert "Warning:" not in labelled.stderr
        scaled = webhook.kubectl("scale", "deployment", "legacy", "-n", LEGACY, "--replicas=2")
        assert scaled.returncode == 0, scaled.stderr

        patch = json.dumps({"spec": {"template": {"spec": {"hostPID": True}}}})
        introduced = webhook.kubectl("patch", "deployment", "legacy", "-n", LEGACY, "-p", patch)
        assert introduced.returncode != 0
        assert "[host-pid]" in introduced.stderr
        assert "[privileged-container]" not in introduced.stderr

        def update_allowed() -> bool:
            return any(
                d["operation"] == "UPDATE"
                and d["resource"]["kind"] == "Deployment"
                and d["outcome"] == "allowed"
                and d["user"] == "kposture-admin"
                for d in webhook.decisions(LEGACY)
            )

        eventually(update_allowed, "the allowed UPDATE is in the store")
    finally:
        webhook.start(policy(legacy_mode="dry-run"))
        webhook.wait_judging()


def test_malformed_and_oversized_reviews_get_400_and_the_server_keeps_serving(
    webhook: Webhook,
) -> None:
    process = webhook.process
    assert process is not None
    headers = {"content-type": "application/json"}
    with httpx.Client(verify=webhook.trust(), timeout=30) as client:
        broken = client.post(webhook.url("/validate"), content=b'{"apiVersion": ', headers=headers)
        assert broken.status_code == 400
        assert "not JSON" in broken.json()["error"]

        wrong = client.post(
            webhook.url("/validate"),
            json={"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        )
        assert wrong.status_code == 400
        assert "request is missing" in wrong.json()["error"]

        oversized = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"filler": "x" * (2 * MAX_REQUEST_BYTES)},
            }
        ).encode()
        big = client.post(webhook.url("/validate"), content=oversized, headers=headers)
        assert big.status_code == 400
        assert f"over the {MAX_REQUEST_BYTES}-byte limit" in big.json()["error"]

        assert client.get(webhook.url("/healthz")).json() == {"status": "ok"}
        metrics = client.get(webhook.url("/metrics")).text
        assert 'kposture_admission_request_errors_total{endpoint="validate",status="400"} 3.0' in (
            metrics
        )
    assert process.poll() is None
    still = webhook.create(ENFORCE, pod("after-bad-input"), "--dry-run=server")
    assert "[privileged-container]" in still.stderr


def test_failure_policy_decides_when_the_webhook_is_down(webhook: Webhook) -> None:
    webhook.stop()
    try:
        failed = webhook.create(ENFORCE, pod("down-fail", privileged=False))
        assert failed.returncode != 0
        assert f'failed calling webhook "{HOOK_NAME}"' in failed.stderr
        assert f"127.0.0.1:{webhook.port}" in failed.stderr

        webhook.cluster.apply(webhook.configuration("Ignore"), server_side=False)

        def admitted() -> bool:
            probe = webhook.create(ENFORCE, pod("probe-ignore"), "--dry-run=server")
            return probe.returncode == 0

        eventually(admitted, "failurePolicy Ignore is in force")
        created = webhook.create(ENFORCE, pod("down-ignore"))
        assert created.returncode == 0, created.stderr
        assert webhook.kubectl("get", "pod", "down-ignore", "-n", ENFORCE).returncode == 0
    finally:
        webhook.cluster.apply(webhook.configuration("Fail"), server_side=False)
        webhook.start(policy(legacy_mode="dry-run"))
    webhook.wait_judging()
