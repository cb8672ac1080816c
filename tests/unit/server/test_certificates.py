"""The webhook's TLS material: the chain verifies (with cryptography's verifier and in a real TLS
handshake), names and key usages are right, keys are private files, and a kept or given CA is reused
so the installed caBundle stays valid."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from kposture.server import certificates as certs

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
HOST = "kposture-webhook.kposture.svc"


def _write(directory: Path, *, now: dt.datetime = NOW, **kwargs: object) -> certs.CertificateFiles:
    return certs.write_certificate_files(
        directory,
        dns_names=certs.service_dns_names("kposture-webhook", "kposture"),
        ip_addresses=[ipaddress.ip_address("127.0.0.1")],
        now=now,
        days=365,
        ca_days=3650,
        **kwargs,  # type: ignore[arg-type]
    )


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_certificate_verifies_against_the_ca_for_every_service_name(
    tmp_path: Path,
) -> None:
    _write(tmp_path)
    ca, leaf = _cert(tmp_path / "ca.crt"), _cert(tmp_path / "tls.crt")
    for name in certs.service_dns_names("kposture-webhook", "kposture"):
        certs.verify_serving_certificate(leaf, [ca], hostname=name, now=NOW)
    with pytest.raises(certs.CertificateError, match="subjectAltName"):
        certs.verify_serving_certificate(leaf, [ca], hostname="other.kposture.svc", now=NOW)
    with pytest.raises(certs.CertificateError):
        certs.verify_serving_certificate(
            leaf, [ca], hostname=HOST, now=NOW + dt.timedelta(days=400)
        )
    stranger = certs.new_authority(now=NOW, days=10).certificate
    with pytest.raises(certs.CertificateError):
        certs.verify_serving_certificate(leaf, [stranger], hostname=HOST, now=NOW)


def test_names_usages_and_key_types(tmp_path: Path) -> None:
    written = _write(tmp_path)
    leaf = written.serving.certificate
    assert certs.subject_alt_names(leaf) == [
        "kposture-webhook.kposture.svc",
        "kposture-webhook",
        "kposture-webhook.kposture",
        "kposture-webhook.kposture.svc.cluster.local",
        "127.0.0.1",
    ]
    assert leaf.subject.rfc4514_string() == f"CN={HOST}"
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc == NOW + dt.timedelta(days=365)
    key = written.serving.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    ca = written.authority.certificate
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_key_files_are_private_and_certificates_public(tmp_path: Path) -> None:
    _write(tmp_path / "out")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()}
    assert modes == {"ca.crt": 0o644, "ca.key": 0o600, "tls.crt": 0o644, "tls.key": 0o600}


def test_rerun_keeps_the_ca_and_renews_only_the_serving_certificate(tmp_path: Path) -> None:
    first = _write(tmp_path)
    ca_bytes = (tmp_path / "ca.crt").read_bytes(), (tmp_path / "ca.key").read_bytes()
    later = NOW + dt.timedelta(days=300)
    second = _write(tmp_path, now=later)
    assert first.ca_created
    assert not second.ca_created
    assert ((tmp_path / "ca.crt").read_bytes(), (tmp_path / "ca.key").read_bytes()) == ca_bytes
    assert second.serving.certificate.serial_number != first.serving.certificate.serial_number
    assert certs.private_key_pem(second.serving.key) == (tmp_path / "tls.key").read_bytes()
    # The caBundle installed with the first run accepts the renewed certificate.
    certs.verify_serving_certificate(
        _cert(tmp_path / "tls.crt"), [first.authority.certificate], hostname=HOST, now=later
    )


def test_given_ca_signs_and_its_key_is_not_copied(tmp_path: Path) -> None:
    own = certs.new_authority(now=NOW, days=100, common_name="corp-ca")
    written = _write(tmp_path / "out", given_ca=own)
    assert not written.ca_created
    assert not (tmp_path / "out" / "ca.key").exists()
    assert _cert(tmp_path / "out" / "ca.crt") == own.certificate
    certs.verify_serving_certificate(
        _cert(tmp_path / "out" / "tls.crt"), [own.certificate], hostname=HOST, now=NOW
    )
    # The serving certificate ends with the CA, not 265 days after it.
    assert written.serving.clamped
    assert written.serving.certificate.not_valid_after_utc == own.certificate.not_valid_after_utc


def test_given_ca_does_not_silently_replace_a_generated_one(tmp_path: Path) -> None:
    _write(tmp_path)
    own = certs.new_authority(now=NOW, days=100)
    with pytest.raises(certs.CertificateError, match="another CA"):
        _write(tmp_path, given_ca=own)


def test_rsa_ca_from_pem_is_accepted(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name.from_rfc4514_string("CN=rsa-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, certs.hashes.SHA256())
    )
    loaded = certs.load_authority(certs.certificate_pem(cert), certs.private_key_pem(key), now=NOW)
    written = _write(tmp_path, given_ca=loaded)
    certs.verify_serving_certificate(written.serving.certificate, [cert], hostname=HOST, now=NOW)


def test_unusable_cas_are_refused() -> None:
    ca = certs.new_authority(now=NOW, days=10)
    other = certs.new_authority(now=NOW, days=10)
    cert_pem = certs.certificate_pem(ca.certificate)
    with pytest.raises(certs.CertificateError, match="does not belong"):
        certs.load_authority(cert_pem, certs.private_key_pem(other.key), now=NOW)
    with pytest.raises(certs.CertificateError, match="expired"):
        certs.load_authority(
            cert_pem, certs.private_key_pem(ca.key), now=NOW + dt.timedelta(days=11)
        )
    leaf = certs.issue_serving_certificate(ca, dns_names=[HOST], now=NOW, days=5)
    with pytest.raises(certs.CertificateError, match="not a CA"):
        certs.load_authority(
            certs.certificate_pem(leaf.certificate), certs.private_key_pem(leaf.key), now=NOW
        )
    with pytest.raises(certs.CertificateError, match="PEM"):
        certs.load_authority(b"nonsense", b"nonsense", now=NOW)


def test_half_a_ca_in_the_folder_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "ca.key").unlink()
    with pytest.raises(certs.CertificateError, match="--ca-cert/--ca-key"):
        _write(tmp_path)


@pytest.mark.parametrize("name", ["", "bad_name", "-x.svc", "a" * 64 + ".svc"])
def test_bad_dns_names_are_refused(name: str) -> None:
    with pytest.raises(certs.CertificateError):
        certs.check_dns_name(name)


def test_bad_ip_is_refused() -> None:
    with pytest.raises(certs.CertificateError, match="IP address"):
        certs.parse_ip("300.1.1.1")


def test_describe_shows_no_key_material(tmp_path: Path) -> None:
    written = _write(tmp_path)
    text = certs.describe(written.serving.certificate)
    assert HOST in text
    assert "PRIVATE" not in text
    assert (tmp_path / "tls.key").read_text().splitlines()[1] not in text


def test_tls_handshake_with_the_generated_chain(tmp_path: Path) -> None:
    """A real TLS server with tls.crt/tls.key; a client trusting only ca.crt connects to it over
    127.0.0.1 (an IP SAN) and by the Service name, as the API server does."""
    now = dt.datetime.now(dt.UTC)
    _write(tmp_path, now=now)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    try:
        for server_name in ("127.0.0.1", HOST):
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client_context.wrap_socket(raw, server_hostname=server_name) as tls,
            ):
                assert tls.recv(2) == b"ok"
    finally:
        thread.join(timeout=5)
        listener.close()
