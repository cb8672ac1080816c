"""The audit webhook sink (POST /audit): authentication, refusals counted by reason, the bounded
queue answering 429, alerts to the sinks and the store with the event block and no Secret value,
metrics; and kposture serve over real TLS with a client certificate and a bearer token."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select
from tests.unit.server.admission_support import AsgiClient

from audit_samples import raw_event
from kposture.detections import Detector
from kposture.model.lifecycle import Alert
from kposture.server.audit_sink import AuditProcessor, AuditSinkMetrics, mount_audit_sink
from kposture.store.alerts import recent_alerts, write_alerts
from kposture.store.connecting import open_store
from kposture.store.schema import alerts as alerts_table
from kposture.store.schema import clusters

TOKEN = "s3cret-audit-token"
SECRET_VALUE = "aHVudGVyMg=="


def _batch(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": list(events)}
    ).encode()


def _secret_read() -> dict[str, Any]:
    body = {"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": SECRET_VALUE}}
    return raw_event("get", "secrets", namespace="shop", name="db", response=body)


class _Setup:
    def __init__(
        self, tmp_path: Path, capacity: int = 16, max_bytes: int = 64 * 1024, cluster: str = ""
    ) -> None:
        token = tmp_path / "token"
        token.write_text(TOKEN + "\n")
        self.registry = CollectorRegistry()
        self.sent: list[Alert] = []
        self.stored: list[Alert] = []
        self.processor = AuditProcessor(
            Detector(),
            AuditSinkMetrics(self.registry),
            send=self.sent.append,
            record=self.stored.extend,
            capacity=capacity,
            cluster=cluster,
        )
        app = FastAPI()
        mount_audit_sink(
            app,
            self.processor,
            token_file=token,
            client_certificates=False,
            max_batch_bytes=max_bytes,
        )
        self.client = AsgiClient(app)

    def post(self, body: bytes, token: str | None = TOKEN) -> Any:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return self.client.post("/audit", content=body, headers=headers)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def test_batches_are_accepted_and_judged_off_the_request(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    answer = setup.post(_batch(_secret_read(), raw_event("get", "pods")))
    assert answer.status_code == 200
    assert setup.processor.drain()
    assert [a.rule_id for a in setup.sent] == ["secret-read-by-person"]
    assert setup.stored == setup.sent
    event = dict(setup.sent[0].event or {})
    assert event["user"] == "alice" and event["resource"] == "secrets" and event["name"] == "db"
    assert SECRET_VALUE not in json.dumps(event) and SECRET_VALUE not in setup.sent[0].message
    assert setup.metric("kposture_audit_events_total", outcome="received") == 2
    assert setup.metric("kposture_audit_events_total", outcome="judged") == 1
    assert setup.metric("kposture_audit_events_total", outcome="passed") == 1
    assert setup.metric("kposture_audit_alerts_total", detection="secret-read-by-person") == 1
    assert setup.metric("kposture_audit_batches_total", outcome="accepted") == 1
    text = generate_latest(setup.registry).decode()
    assert "kposture_audit_queue_depth" in text and "kposture_audit_processing_lag_seconds" in text
    setup.processor.close()


@pytest.mark.parametrize(
    ("body", "token", "status", "reason"),
    [
        (_batch(), None, 401, "unauthenticated"),
        (_batch(), "wrong", 401, "unauthenticated"),
        (b'{"kind": "EventList", "items": [{"verb"', TOKEN, 400, "truncated"),
        (b"not json at all", TOKEN, 400, "malformed"),
        (b'{"kind": "AdmissionReview"}', TOKEN, 400, "not-an-event-list"),
        (_batch(*[raw_event("get", "pods", name="x" * 2000)] * 40), TOKEN, 413, "oversized"),
    ],
)
def test_refusals_are_counted_by_reason(
    tmp_path: Path, body: bytes, token: str | None, status: int, reason: str
) -> None:
    setup = _Setup(tmp_path)
    answer = setup.post(body, token)
    assert answer.status_code == status, answer.text
    assert setup.metric("kposture_audit_batches_total", outcome=reason) == 1
    assert TOKEN not in answer.text
    setup.processor.close()


def test_a_json_error_is_worded_once(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    answer = setup.post(b'{"kind": "EventList", "items": [{"verb": "get', TOKEN)
    assert answer.status_code == 400
    assert "truncated JSON: Unterminated string starting at character 41" in answer.text
    assert "at at" not in answer.text
    setup.processor.close()


def test_a_refused_caller_is_logged_with_its_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = _Setup(tmp_path)
    with caplog.at_level("WARNING", logger="kposture.audit"):
        assert setup.post(_batch(), "wrong").status_code == 401
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert line.startswith("refused an audit batch from ") and "(HTTP 401)" in line
    assert TOKEN not in line and "wrong" not in line
    caplog.clear()
    with caplog.at_level("WARNING", logger="kposture.audit"):
        assert setup.post(b"not json at all").status_code == 400
        headers = {"content-type": "text/plain", "authorization": f"Bearer {TOKEN}"}
        assert setup.client.post("/audit", content=b"x", headers=headers).status_code == 415
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert [line.split(": ", 1)[0] for line in lines] == [lines[0].split(": ", 1)[0]] * 2
    assert all(line.startswith("refused an audit batch from ") for line in lines)
    assert lines[0].split(": ", 1)[0] != "refused an audit batch from an unknown address"
    assert "(HTTP 400)" in lines[0] and "(HTTP 415)" in lines[1]
    setup.processor.close()


def test_alerts_carry_the_cluster_name_and_shutdown_logs_one_summary_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = _Setup(tmp_path, cluster="prod-eu")
    no_user = raw_event("create", "pods")
    del no_user["user"]
    assert setup.post(_batch(_secret_read(), raw_event("get", "pods"), no_user)).status_code == 200
    assert setup.processor.drain()
    assert [alert.cluster for alert in setup.sent] == ["prod-eu"]
    with caplog.at_level("INFO", logger="kposture.audit"):
        setup.processor.close()
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit sink")]
    assert summaries == ["audit sink: 2 events received (1 judged), 1 alert, 1 dropped"]


def test_the_summary_line_says_one_event_and_one_error_in_the_singular(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    assert setup.post(_batch(_secret_read())).status_code == 200
    assert setup.processor.drain()
    stats = setup.processor.detector.stats
    stats.reused_audit_ids, stats.errors = 1, 1
    summary = setup.processor.summary()
    assert summary == (
        "audit sink: 1 event received (1 judged), 1 alert, 0 dropped, 1 reused audit ID, "
        "1 detection error"
    )
    stats.reused_audit_ids, stats.errors = 2, 3
    assert setup.processor.summary().endswith(", 2 reused audit IDs, 3 detection errors")
    setup.processor.close()


def test_the_summary_names_the_first_reused_audit_id_and_its_batch(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    assert setup.post(_batch(raw_event("get", "pods", audit_id="same"))).status_code == 200
    hidden = raw_event("create", "pods", subresource="exec", code=101, audit_id="same")
    assert setup.post(_batch(raw_event("get", "nodes"), hidden)).status_code == 200
    assert setup.processor.drain()
    assert setup.processor.summary().endswith(
        ", 1 reused audit ID (the first 'same' in webhook batch 2)"
    )
    setup.processor.close()


def test_an_empty_event_list_in_the_stream_is_accepted_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = _Setup(tmp_path)
    with caplog.at_level("WARNING"):
        assert setup.post(_batch()).status_code == 200
        assert setup.post(_batch(_secret_read())).status_code == 200
        assert setup.processor.drain()
    assert [r.getMessage() for r in caplog.records] == []
    assert len(setup.sent) == 1 and setup.processor.reader.stats.issues == []
    setup.processor.close()


def test_an_item_that_is_no_event_is_dropped_alone(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    no_user = raw_event("create", "pods", subresource="exec", code=101)
    del no_user["user"]
    exec_event = raw_event("create", "pods", subresource="exec", code=101, name="web-2")
    answer = setup.post(_batch(_secret_read(), 5, no_user, exec_event))  # type: ignore[arg-type]
    assert answer.status_code == 200
    assert setup.processor.drain()
    alerted = sorted(str(dict(alert.event or {}).get("resource")) for alert in setup.sent)
    assert alerted == ["pods/exec", "secrets"]  # the items on either side of the bad ones
    assert setup.metric("kposture_audit_events_total", outcome="received") == 4
    assert setup.metric("kposture_audit_events_total", outcome="dropped") == 2
    issues = setup.processor.reader.stats.issues
    assert [issue.message for issue in issues] == [
        "EventList item 1: a JSON int is not an event",
        "EventList item 2: event has no user",
    ]
    setup.processor.close()


def test_a_full_queue_answers_429_at_once(tmp_path: Path) -> None:
    setup = _Setup(tmp_path, capacity=1)
    gate = threading.Event()
    original = setup.processor._take

    def slow(batch: Any) -> Any:
        gate.wait(10)
        return original(batch)

    setup.processor._take = slow  # type: ignore[method-assign]
    assert setup.post(_batch(raw_event("get", "pods"))).status_code == 200
    deadline = time.monotonic() + 5
    while setup.processor._queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)  # the worker holds the first batch
    answers = [setup.post(_batch(raw_event("get", "pods"))).status_code for _ in range(2)]
    last = setup.post(_batch(raw_event("get", "pods")))
    # the worker is still held: a 429 here was answered without waiting for room in the queue
    assert not gate.is_set()
    assert answers == [200, 429] and last.status_code == 429
    assert last.headers["retry-after"] == "1"
    assert setup.metric("kposture_audit_batches_total", outcome="queue-full") >= 2
    gate.set()
    setup.processor.close()


def test_store_rows_keep_the_event_block(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    alert = Alert(
        "detection",
        "secret-read-by-person",
        __import__("kposture.model", fromlist=["Severity"]).Severity.MEDIUM,
        "alice read secrets",
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        None,
        dedup_key="abc",
        event={"user": "alice", "verb": "get", "response_code": "200"},
    )
    assert write_alerts(store, [alert]) == 1
    (row,) = recent_alerts(store, rule_id="secret-read-by-person")
    assert row.event == {"user": "alice", "verb": "get", "response_code": 200}
    assert row.dedup_key == "abc"
    store.close()


def test_the_sink_stores_its_alerts_with_the_cluster_name(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    processor = AuditProcessor(
        Detector(),
        AuditSinkMetrics(CollectorRegistry()),
        record=lambda batch: write_alerts(store, batch),
        cluster="review",
    )
    assert processor.offer([_secret_read()]) and processor.drain()
    processor.close()
    with store.engine.connect() as connection:
        (cluster_id,) = connection.execute(
            select(clusters.c.id).where(clusters.c.name == "review")
        ).one()
        stored = connection.execute(select(alerts_table.c.cluster_id)).scalars().all()
    assert stored == [cluster_id]
    store.close()


# --- kposture serve over TLS -----------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: Any,
    issuer: tuple[x509.Name, Any] | None,
    *,
    ca: bool,
    usage: Any = None,
    san: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate, key: Any) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_takes_batches_by_client_certificate_or_token(tmp_path: Path) -> None:
    ca_key, other_key = _key(), _key()
    ca = _cert("audit-ca", ca_key, None, ca=True)
    server_key, client_key = _key(), _key()
    server_cert, server_key_path = _pem(
        tmp_path / "server",
        _cert("kposture", server_key, (ca.subject, ca_key), ca=False, san=True),
        server_key,
    )
    client_cert, client_key_path = _pem(
        tmp_path / "client",
        _cert(
            "kube-apiserver",
            client_key,
            (ca.subject, ca_key),
            ca=False,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        ),
        client_key,
    )
    ca_path, _ = _pem(tmp_path / "ca", ca, ca_key)
    other_ca = _cert("other", other_key, None, ca=True)
    stranger_own_key = _key()
    stranger_cert, stranger_key = _pem(
        tmp_path / "stranger",
        _cert(
            "x",
            stranger_own_key,
            (other_ca.subject, other_key),
            ca=False,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        ),
        stranger_own_key,
    )
    token = tmp_path / "token"
    token.write_text(TOKEN)
    port = _free_port()
    db = tmp_path / "k.db"
    process = subprocess.Popen(
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
            "--audit-token-file",
            str(token),
            "--alert",
            "stdout[dedup=0]",  # the two batches raise the same alert: both are wanted here
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KPOSTURE_DB": ""},
    )
    try:

        def post(context: ssl.SSLContext, headers: dict[str, str]) -> int:
            request = urllib.request.Request(
                f"https://127.0.0.1:{port}/audit",
                data=_batch(_secret_read()),
                method="POST",
                headers={"content-type": "application/json", **headers},
            )
            try:
                with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as error:
                return error.code

        base = ssl.create_default_context(cafile=str(ca_path))
        deadline = time.monotonic() + 15
        while True:
            try:
                status = post(base, {})
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and process.poll() is None, process.stderr
                time.sleep(0.2)
        assert status == 401  # no certificate, no token
        with_cert = ssl.create_default_context(cafile=str(ca_path))
        with_cert.load_cert_chain(client_cert, client_key_path)
        assert post(with_cert, {}) == 200
        assert post(base, {"authorization": f"Bearer {TOKEN}"}) == 200
        stranger = ssl.create_default_context(cafile=str(ca_path))
        stranger.load_cert_chain(stranger_cert, stranger_key)
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            post(stranger, {})
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert {line["kposture"]["rule_id"] for line in lines} == {"secret-read-by-person"}
    finally:
        process.terminate()
        process.communicate(timeout=20)
    store = open_store(f"sqlite:///{db}")
    assert len(recent_alerts(store, rule_id="secret-read-by-person")) == 2
    store.close()


HOST_PID_SPEC = {"hostPID": True, "containers": [{"name": "c"}]}


def _owned(resource: str, kind: str, owner: str, controller: str, at: str) -> dict[str, Any]:
    owner_kind, owner_name = owner.split("/")
    metadata = {
        "namespace": "shop",
        "generateName": f"{owner_name}-",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name, "controller": True}
        ],
    }
    spec: dict[str, Any] = HOST_PID_SPEC if kind == "Pod" else {"template": {"spec": HOST_PID_SPEC}}
    if kind == "ReplicaSet":
        metadata["name"] = "agent-5d8f"
    body = {"apiVersion": "v1" if kind == "Pod" else "apps/v1", "kind": kind, "metadata": metadata}
    body["spec"] = spec
    return raw_event(
        "create",
        resource,
        namespace="shop",
        name=str(metadata.get("name", "")),
        user=f"system:serviceaccount:kube-system:{controller}",
        code=201,
        request=body,
        api_group="" if kind == "Pod" else "apps",
        time=at,
    )


def _privileged_deployment_events() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A privileged Deployment with 3 replicas as kube-apiserver logs it: the Deployment and its
    ReplicaSet in one batch, the ReplicaSet's pods in the next."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "agent", "namespace": "shop"},
        "spec": {"replicas": 3, "template": {"spec": HOST_PID_SPEC}},
    }
    deployment = raw_event(
        "create",
        "deployments",
        namespace="shop",
        name="agent",
        code=201,
        request=body,
        api_group="apps",
        time="2024-05-01T10:00:00.100000Z",
    )
    replica_set = _owned(
        "replicasets",
        "ReplicaSet",
        "Deployment/agent",
        "deployment-controller",
        "2024-05-01T10:00:00.200000Z",
    )
    pods = [
        _owned(
            "pods",
            "Pod",
            "ReplicaSet/agent-5d8f",
            "replicaset-controller",
            f"2024-05-01T10:00:00.3{n}0000Z",
        )
        for n in range(3)
    ]
    return [deployment, replica_set], pods


def _privileged_alerts(setup: _Setup) -> list[str]:
    return [alert.message for alert in setup.sent if alert.rule_id == "privileged-pod-created"]


def test_batches_posted_out_of_order_are_judged_in_request_order(tmp_path: Path) -> None:
    """kube-apiserver posts batches concurrently: the pods' batch can come before the batch of
    the Deployment they were created for. One alert, as kposture detect gives over the log."""
    setup = _Setup(tmp_path)
    first, second = _privileged_deployment_events()
    assert setup.post(_batch(*second)).status_code == 200
    assert setup.post(_batch(*first)).status_code == 200
    assert setup.processor.drain()
    (message,) = _privileged_alerts(setup)
    assert message.startswith("alice from 10.0.0.1 created Deployment shop/agent")
    setup.processor.close()


def test_events_out_of_order_inside_a_batch_are_judged_in_request_order(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    first, second = _privileged_deployment_events()
    reordered = [second[0], first[1], *second[1:], first[0]]
    assert setup.post(_batch(*reordered)).status_code == 200
    assert setup.processor.drain()
    assert len(_privileged_alerts(setup)) == 1
    setup.processor.close()


def test_an_exec_is_judged_at_response_started_when_its_complete_stage_comes_first(
    tmp_path: Path,
) -> None:
    setup = _Setup(tmp_path)
    detector = setup.processor.detector
    judged: list[str] = []
    process = detector.process

    def watched(event: Any) -> Any:
        judged.append(event.stage)
        return process(event)

    detector.process = watched  # type: ignore[method-assign]
    started, complete = (
        raw_event("create", "pods", subresource="exec", code=101, stage=stage, audit_id="exec-1")
        for stage in ("ResponseStarted", "ResponseComplete")
    )
    assert setup.post(_batch(complete)).status_code == 200
    assert setup.post(_batch(started)).status_code == 200
    assert setup.processor.drain()
    assert judged == ["ResponseStarted", "ResponseComplete"]
    assert [alert.rule_id for alert in setup.sent] == ["pod-exec"]
    setup.processor.close()


def test_a_wrong_token_is_refused_as_such_and_a_missing_one_as_missing(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    wrong = setup.post(_batch(), "not-the-token")
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "the bearer token is not accepted"}
    assert "not-the-token" not in wrong.text
    missing = setup.post(_batch(), None)
    assert missing.json() == {"error": "a client certificate or bearer token is needed"}
    setup.processor.close()
