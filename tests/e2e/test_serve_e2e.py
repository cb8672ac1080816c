"""``kposture serve`` as a real process over HTTPS: a review is judged, a malformed one gets a 400,
a certificate replaced on disk is served without a restart, decisions are in the store once it
stops, and it refuses to start without TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.unit.server.admission_support import pod, review

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"


def write_certificate(folder: Path, common_name: str) -> x509.Certificate:
    """A self-signed serving certificate for 127.0.0.1, written atomically as tls.crt/tls.key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for file, data in (
        ("tls.key", key_pem),
        ("tls.crt", cert.public_bytes(serialization.Encoding.PEM)),
    ):
        staged = folder / f".{file}.new"
        staged.write_bytes(data)
        staged.replace(folder / file)
    (folder / f"{common_name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def trusting(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served_certificate(port: int) -> x509.Certificate:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    write_certificate(tmp_path, "first")
    (tmp_path / "policy.yaml").write_text("admission:\n  mode: enforce\n")
    port = free_port()
    process = subprocess.Popen(
        [
            str(KPOSTURE), "serve",
            "--tls-cert", str(tmp_path / "tls.crt"),
            "--tls-key", str(tmp_path / "tls.key"),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--policy", str(tmp_path / "policy.yaml"),
            "--reload-interval", "0.2",
            "--db", f"sqlite:///{tmp_path / 'kposture.db'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            served_certificate(port)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0]
                pytest.fail(f"kposture serve did not start: {output}")
            time.sleep(0.1)
    try:
        yield port, tmp_path, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_serve_judges_reviews_over_https(server: tuple[int, Path, subprocess.Popen[str]]) -> None:
    port, folder, _ = server
    with httpx.Client(
        base_url=f"https://127.0.0.1:{port}", verify=trusting(folder / "first.pem")
    ) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        reply = client.post("/validate", json=review(pod(privileged=True)))
        response = reply.json()["response"]
        assert response["allowed"] is False
        assert "[privileged-container]" in response["status"]["message"]
        assert client.post("/validate", json=review(pod()))
        bad = client.post(
            "/validate", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert "not JSON" in bad.json()["error"]
        metrics = client.get("/metrics").text
        assert 'kposture_admission_decisions_total{dry_run="false",outcome="denied"} 1.0' in metrics


def test_decisions_are_in_the_store_after_a_stop(
    server: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    port, folder, process = server
    with httpx.Client(
        base_url=f"https://127.0.0.1:{port}", verify=trusting(folder / "first.pem")
    ) as client:
        for number in range(20):
            data = review(pod(privileged=number % 2 == 0), uid=f"uid-{number}")
            assert client.post("/validate", json=data).status_code == 200
    process.terminate()  # SIGTERM, as the kubelet stops a pod
    assert process.wait(timeout=20) == 0
    shown = subprocess.run(
        [str(KPOSTURE), "admission", "log", "--db", str(folder / "kposture.db"), "-o", "json",
         "--limit", "100"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    decisions = json.loads(shown.stdout)["decisions"]
    assert {d["uid"] for d in decisions} == {f"uid-{n}" for n in range(20)}
    assert sum(d["outcome"] == "denied" for d in decisions) == 10
    assert process.stdout is not None
    assert "admission decision log: 20 decisions written" in process.stdout.read()


def test_replaced_certificate_is_served_without_restart(
    server: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    port, folder, process = server
    assert served_certificate(port).subject.rfc4514_string() == "CN=first"
    second = write_certificate(folder, "second")
    deadline = time.monotonic() + 10
    while served_certificate(port).serial_number != second.serial_number:
        assert time.monotonic() < deadline, "the new certificate was not picked up"
        time.sleep(0.1)
    assert process.poll() is None
    with httpx.Client(
        base_url=f"https://127.0.0.1:{port}", verify=trusting(folder / "second.pem")
    ) as client:
        assert client.post("/validate", json=review(pod())).json()["response"]["allowed"] is True


def test_serve_refuses_to_start_without_tls(tmp_path: Path) -> None:
    missing = subprocess.run(
        [str(KPOSTURE), "serve", "--port", str(free_port())],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "--tls-cert" in missing.stderr
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    broken = subprocess.run(
        [
            str(KPOSTURE), "serve", "--port", str(free_port()),
            "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"),
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert broken.returncode == 2
    assert "cannot serve HTTPS" in broken.stderr
