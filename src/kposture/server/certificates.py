"""TLS material for the admission webhook: a private CA, the serving certificate it signs, and the
files ``kposture admission certs`` writes and ``kposture serve`` reads.

The API server calls the webhook at ``https://<service>.<namespace>.svc`` and trusts only the
``caBundle`` of the ValidatingWebhookConfiguration, so the CA must outlive many serving certificates:
renewing the serving certificate (same CA) needs no change to the webhook configuration. Keys are
ECDSA P-256; a CA given by the user may use any key type ``cryptography`` signs with. Private keys
are written 0600 through a temporary file and an atomic rename, so a server watching the file never
reads half a key. Nothing here prints or logs key material: ``describe`` shows certificates only.
The CLI (``cli.admission_install_commands``) wires it; the clock is passed in.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import DNSName
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
TLS_CERT_FILE = "tls.crt"
TLS_KEY_FILE = "tls.key"
"""``tls.crt``/``tls.key`` are the key names of a ``kubernetes.io/tls`` Secret, so the files mount
where ``kposture serve --tls-cert/--tls-key`` expect them with no renaming."""

PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
CA_COMMON_NAME = "kposture-webhook-ca"
CLOCK_SKEW = dt.timedelta(minutes=5)
"""Certificates start this long before ``now`` so a node whose clock is slightly behind accepts them."""

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CertificateError(ValueError):
    """TLS material that cannot be used: not a CA, a key that does not match, a bad name, an expiry."""


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA certificate and its signing key."""

    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes


@dataclass(frozen=True, slots=True)
class ServingCertificate:
    """The webhook's serving certificate and key; ``clamped`` when the CA expires before ``days``."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    clamped: bool = False


def service_dns_names(service: str, namespace: str) -> tuple[str, ...]:
    """The names the API server and in-cluster clients use for a Service."""
    # The name the API server verifies first: it also becomes the certificate's common name.
    return (
        f"{service}.{namespace}.svc",
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc.cluster.local",
    )


def check_dns_name(name: str) -> str:
    """``name`` lower-cased when it is a valid DNS name; ``CertificateError`` otherwise."""
    lowered = name.strip().lower().rstrip(".")
    if (
        not lowered
        or len(lowered) > 253
        or not all(_DNS_LABEL.match(p) for p in lowered.split("."))
    ):
        raise CertificateError(f"{name!r} is not a DNS name")
    return lowered


def parse_ip(value: str) -> _IpAddress:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise CertificateError(f"{value!r} is not an IP address") from None


def _days(days: int) -> dt.timedelta:
    if days < 1:
        raise CertificateError(f"validity must be at least 1 day, not {days}")
    return dt.timedelta(days=days)


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    # EdDSA signs the message itself: cryptography wants no digest for it.
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def new_authority(*, now: dt.datetime, days: int, common_name: str = CA_COMMON_NAME) -> Authority:
    """A self-signed CA that may sign serving certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kposture"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + _days(days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


def _public_der(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes")  # noqa: B009 - every public key type has it
    data: bytes = public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def load_authority(cert_pem: bytes, key_pem: bytes, *, now: dt.datetime) -> Authority:
    """A CA from PEM files: the first certificate must be a CA, unexpired, matching the key."""
    certificates = load_certificates(cert_pem)
    certificate = certificates[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CertificateError("the CA key is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"the CA key is not a PEM private key ({exc})") from None
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise CertificateError(f"the CA key type {type(key).__name__} cannot sign certificates")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateError("the CA certificate is not a CA (basicConstraints CA:TRUE missing)")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise CertificateError("the CA certificate's key usage does not allow signing certificates")
    if _public_der(certificate.public_key()) != _public_der(key.public_key()):
        raise CertificateError("the CA key does not belong to the CA certificate")
    if certificate.not_valid_after_utc <= now:
        raise CertificateError(f"the CA certificate expired on {certificate.not_valid_after_utc}")
    return Authority(certificate, key)


def issue_serving_certificate(
    authority: Authority,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[_IpAddress] = (),
    now: dt.datetime,
    days: int,
) -> ServingCertificate:
    """A new key and a serverAuth certificate for ``dns_names`` and ``ip_addresses``, signed by
    ``authority``; it never outlives the CA (``clamped`` says when ``days`` was cut short)."""
    if not dns_names:
        raise CertificateError("a serving certificate needs at least one DNS name")
    names = list(dict.fromkeys(check_dns_name(n) for n in dns_names))
    ips = list(dict.fromkeys(ip_addresses))
    ca_end = authority.certificate.not_valid_after_utc
    if ca_end <= now:
        raise CertificateError(f"the CA certificate expired on {ca_end}")
    not_after = now + _days(days)
    clamped = not_after > ca_end
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_public = authority.certificate.public_key()
    try:
        ski = authority.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public)  # type: ignore[arg-type]
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt_names += [x509.IPAddress(ip) for ip in ips]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(not_after, ca_end))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
        .sign(authority.key, _hash_for(authority.key))
    )
    return ServingCertificate(certificate, key, clamped)


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: CertificateIssuerPrivateKeyTypes | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a caBundle may hold the old and the new CA)."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateError("no PEM certificate found") from None
    if not certificates:
        raise CertificateError("no PEM certificate found")
    return certificates


def fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint, as ``openssl x509 -fingerprint -sha256`` prints it."""
    return ":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256()))


def subject_alt_names(certificate: x509.Certificate) -> list[str]:
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in sans.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
    ]


def describe(certificate: x509.Certificate) -> str:
    """One line about a certificate (public data only): subject, names, expiry, fingerprint."""
    names = ", ".join(subject_alt_names(certificate))
    return (
        f"{certificate.subject.rfc4514_string()}"
        + (f" [{names}]" if names else "")
        + f", valid until {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        + f", SHA-256 {fingerprint(certificate)}"
    )


# --- files ----------------------------------------------------------------------------------------


def write_file(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` atomically: a reader sees the old or the new file,
    and a private key is never readable by others, not even for a moment."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """What ``write_certificate_files`` wrote: the CA certificate (always), the CA key (only for a
    CA it generated), the serving pair, and whether the CA is new (else kept or given)."""

    directory: Path
    authority: Authority
    serving: ServingCertificate
    ca_created: bool


def existing_authority(directory: Path, *, now: dt.datetime) -> Authority | None:
    """The CA kept in ``directory`` by an earlier run, or None when there is none."""
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    if not cert_path.exists() and not key_path.exists():
        return None
    if not key_path.exists():
        raise CertificateError(
            f"{cert_path} has no {CA_KEY_FILE} beside it: give the CA with --ca-cert/--ca-key"
        )
    if not cert_path.exists():
        raise CertificateError(f"{key_path} has no {CA_CERT_FILE} beside it")
    return load_authority(cert_path.read_bytes(), key_path.read_bytes(), now=now)


def write_certificate_files(
    directory: Path,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[_IpAddress] = (),
    now: dt.datetime,
    days: int,
    ca_days: int,
    given_ca: Authority | None = None,
) -> CertificateFiles:
    """Create or renew the webhook's TLS files in ``directory``.

    A given CA is used and its certificate copied to ``ca.crt`` (its key stays where it is). Without
    one, the CA an earlier run left in ``directory`` is kept, so the ``caBundle`` already installed
    stays valid; only when there is none is a new CA made. The serving key and certificate are new
    on every run. Everything is built and checked before the directory is made, so a refusal
    leaves no empty directory behind.
    """
    kept = existing_authority(directory, now=now) if given_ca is None else None
    if given_ca is not None and (directory / CA_KEY_FILE).exists():
        stored = load_certificates((directory / CA_CERT_FILE).read_bytes())[0]
        if stored != given_ca.certificate:
            raise CertificateError(
                f"{directory} holds another CA ({CA_KEY_FILE}); use another --out or remove it"
            )
    authority = given_ca or kept or new_authority(now=now, days=ca_days)
    serving = issue_serving_certificate(
        authority, dns_names=dns_names, ip_addresses=ip_addresses, now=now, days=days
    )
    ca_created = given_ca is None and kept is None
    directory.mkdir(parents=True, exist_ok=True)
    if ca_created:
        write_file(directory / CA_KEY_FILE, private_key_pem(authority.key), mode=PRIVATE_FILE_MODE)
    if given_ca is not None or ca_created:
        write_file(
            directory / CA_CERT_FILE,
            certificate_pem(authority.certificate),
            mode=PUBLIC_FILE_MODE,
        )
    # The key first: a server reloading on the certificate's change then finds the matching key.
    write_file(directory / TLS_KEY_FILE, private_key_pem(serving.key), mode=PRIVATE_FILE_MODE)
    write_file(
        directory / TLS_CERT_FILE, certificate_pem(serving.certificate), mode=PUBLIC_FILE_MODE
    )
    return CertificateFiles(directory, authority, serving, ca_created)


def verify_serving_certificate(
    certificate: x509.Certificate,
    authorities: Sequence[x509.Certificate],
    *,
    hostname: str,
    now: dt.datetime,
) -> None:
    """Check that ``certificate`` is what the API server will accept for ``hostname``: signed by
    one of ``authorities``, valid at ``now``, naming ``hostname``, for serverAuth.
    ``CertificateError`` says why not."""
    # Web PKI rules, except that a CA may omit keyUsage: Go's verifier, which the API server
    # uses, accepts such CAs, and many private CAs are made without it.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.KeyUsage, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(authorities)))
        .time(now)
        .extension_policies(ca_policy=ca_policy, ee_policy=ExtensionPolicy.webpki_defaults_ee())
        .build_server_verifier(DNSName(check_dns_name(hostname)))
    )
    try:
        verifier.verify(certificate, [])
    except VerificationError as exc:
        message = f"the serving certificate does not verify for {hostname}: {exc}"
        raise CertificateError(message) from None
