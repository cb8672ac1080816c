"""``kposture admission certs`` and ``kposture admission install``: the webhook's TLS material and its
install manifests. Argument parsing and wiring only: certificates come from ``server.certificates``,
manifests from ``reports.admission_manifests``, the kinds to admit from the rule registry.

``certs`` writes ``ca.crt``, ``ca.key``, ``tls.crt`` and ``tls.key`` (keys 0600) and prints only public
facts (names, expiry, fingerprints). ``install`` prints the manifests on stdout; it renders the TLS
Secret, which holds the private key, only with ``--include-secret``. Exit codes: 0 done; 2 usage error
or unusable TLS material.
"""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from kposture import __version__
from kposture.cli.consoles import error_console
from kposture.cli.scanning import EXIT_USAGE, UsageError, default_registry, prepare_rules
from kposture.reports import admission_manifests as manifests
from kposture.reports.admission_resources import resources_for_kinds
from kposture.server import certificates as certs

DEFAULT_SERVICE = "kposture-webhook"
DEFAULT_NAMESPACE = "kposture"


class FailurePolicy(enum.StrEnum):
    FAIL = "Fail"
    IGNORE = "Ignore"


class PullPolicy(enum.StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class ManifestFormat(enum.StrEnum):
    YAML = "yaml"
    JSON = "json"


def _fail(message: str) -> NoReturn:
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def _note(message: str) -> None:
    error_console().print(message, highlight=False, markup=False)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {what} {path}: {exc.strerror or exc}")


SERVICE_OPTION = typer.Option("--service", help="Name of the webhook's Service.")
NAMESPACE_OPTION = typer.Option("-n", "--namespace", help="Namespace the webhook runs in.")


def certs_command(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for ca.crt, ca.key, tls.crt and tls.key.")
    ] = Path("kposture-certs"),
    service: Annotated[str, SERVICE_OPTION] = DEFAULT_SERVICE,
    namespace: Annotated[str, NAMESPACE_OPTION] = DEFAULT_NAMESPACE,
    dns: Annotated[
        list[str] | None,
        typer.Option("--dns", help="Extra DNS name for the serving certificate (repeatable)."),
    ] = None,
    ip: Annotated[
        list[str] | None,
        typer.Option(
            "--ip", help="Extra IP address, e.g. 127.0.0.1 for local testing (repeatable)."
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Serving certificate validity.")] = 365,
    ca_days: Annotated[
        int, typer.Option("--ca-days", help="Validity of a newly created CA.")
    ] = 3650,
    ca_cert: Annotated[
        Path | None, typer.Option("--ca-cert", help="Sign with this CA certificate (PEM).")
    ] = None,
    ca_key: Annotated[
        Path | None, typer.Option("--ca-key", help="The given CA's private key (PEM, unencrypted).")
    ] = None,
) -> None:
    """Create the webhook's CA and serving certificate, or renew the serving certificate.

    A CA already in --out is kept, so the caBundle installed with it stays valid and rotation
    needs no change to the webhook configuration; --ca-cert/--ca-key sign with your own CA
    instead. The serving certificate names <service>, <service>.<namespace>,
    <service>.<namespace>.svc and <service>.<namespace>.svc.cluster.local, plus --dns and --ip.
    Private keys are written 0600 and never printed.
    """
    if (ca_cert is None) != (ca_key is None):
        _fail("--ca-cert and --ca-key go together")
    now = dt.datetime.now(dt.UTC)
    try:
        names = [*certs.service_dns_names(service, namespace), *(dns or [])]
        addresses = [certs.parse_ip(value) for value in ip or []]
        given = None
        if ca_cert is not None and ca_key is not None:
            given = certs.load_authority(
                _read(ca_cert, "CA certificate"), _read(ca_key, "CA key"), now=now
            )
        written = certs.write_certificate_files(
            out,
            dns_names=names,
            ip_addresses=addresses,
            now=now,
            days=days,
            ca_days=ca_days,
            given_ca=given,
        )
    except certs.CertificateError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write to {out}: {exc.strerror or exc}")
    _report_certs(written, service, namespace, given_ca_path=ca_cert)


def _report_certs(
    written: certs.CertificateFiles, service: str, namespace: str, *, given_ca_path: Path | None
) -> None:
    out = written.directory
    if written.ca_created:
        ca_state = f"created {out / certs.CA_CERT_FILE} and {out / certs.CA_KEY_FILE} (0600)"
    elif given_ca_path is not None:
        ca_state = f"copied the CA certificate of {given_ca_path} to {out / certs.CA_CERT_FILE}"
    else:
        ca_state = f"kept the CA in {out} (the installed caBundle stays valid)"
    lines = [
        f"CA: {ca_state}",
        f"    {certs.describe(written.authority.certificate)}",
        f"serving certificate: wrote {out / certs.TLS_CERT_FILE} and "
        f"{out / certs.TLS_KEY_FILE} (0600)",
        f"    {certs.describe(written.serving.certificate)}",
    ]
    if written.serving.clamped:
        lines.append("    note: shortened to end with the CA; renew the CA before then")
    secret = f"{service}-tls"
    lines += [
        "next:",
        f"  kubectl -n {namespace} create secret tls {secret} "
        f"--cert {out / certs.TLS_CERT_FILE} --key {out / certs.TLS_KEY_FILE} "
        "--dry-run=client -o yaml | kubectl apply -f -",
        f"  kposture admission install -n {namespace} --service {service} --certs-dir {out} "
        "| kubectl apply -f -",
    ]
    typer.echo("\n".join(lines))


def install_command(
    image: Annotated[
        str,
        typer.Option(
            "--image",
            help="kposture image with an explicit version tag or @sha256 digest, in a registry "
            "your nodes pull from (build it from the repository's Dockerfile; no image is "
            "published).",
            show_default=False,
        ),
    ],
    namespace: Annotated[str, NAMESPACE_OPTION] = DEFAULT_NAMESPACE,
    service: Annotated[str, SERVICE_OPTION] = DEFAULT_SERVICE,
    image_pull_policy: Annotated[
        PullPolicy, typer.Option("--image-pull-policy", help="The container's imagePullPolicy.")
    ] = PullPolicy.IF_NOT_PRESENT,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle",
            help="PEM file of the CA(s) the API server trusts for the webhook (old and new "
            "during a CA rotation).",
        ),
    ] = None,
    certs_dir: Annotated[
        Path | None,
        typer.Option("--certs-dir", help="Folder written by `kposture admission certs`."),
    ] = None,
    include_secret: Annotated[
        bool,
        typer.Option(
            "--include-secret",
            help="Also render the TLS Secret from --certs-dir. The output then holds the "
            "private key: apply it, never commit it.",
        ),
    ] = False,
    failure_policy: Annotated[
        FailurePolicy,
        typer.Option(
            "--failure-policy",
            help="What the API server does when the webhook does not answer: Fail rejects the "
            "request, Ignore admits it unchecked.",
        ),
    ] = FailurePolicy.FAIL,
    timeout: Annotated[int, typer.Option("--timeout", help="Webhook timeoutSeconds (1-30).")] = 5,
    replicas: Annotated[int, typer.Option("--replicas", help="Webhook replicas.")] = 2,
    exclude_namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-namespace",
            help="Namespace the webhook never judges (repeatable; replaces the default "
            "kube-system). Its own namespace is always excluded.",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="Policy file to mount into the webhook (checked before rendering)."
        ),
    ] = None,
    output_format: Annotated[
        ManifestFormat,
        typer.Option("-o", "--output", help="yaml (with comments) or json (a List)."),
    ] = ManifestFormat.YAML,
    kubernetes_version: Annotated[
        str | None,
        typer.Option(
            "--kubernetes-version",
            help="The API server's version when older than 1.21 (e.g. 1.20): renders "
            "policy/v1beta1 and the steps that label the excluded namespaces.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the manifests that install the admission webhook; pipe them to `kubectl apply -f -`.

    Namespace, ServiceAccount (no RBAC: the webhook needs no API access), Deployment (restricted
    security context, probes, resources, spread over nodes), PodDisruptionBudget, Service,
    NetworkPolicy and the ValidatingWebhookConfiguration for every kind the rules judge. Give the
    CA with --ca-bundle or --certs-dir; the TLS Secret <service>-tls must exist (see `kposture
    admission certs`), or is rendered from --certs-dir with --include-secret.
    """
    if (ca_bundle is None) == (certs_dir is None):
        _fail("give the CA with exactly one of --ca-bundle FILE or --certs-dir DIR")
    if include_secret and certs_dir is None:
        _fail("--include-secret needs --certs-dir")
    registry = default_registry()
    policy_text = None
    if policy is not None:
        try:
            setup = prepare_rules(policy)
        except UsageError as exc:
            _fail(str(exc))
        if setup.policy_file is not None and setup.policy_file.custom_rules:
            # The policy goes into a ConfigMap; the rule files it names would not be in the pod.
            _fail(
                f"{policy}: customRules are not installed with the webhook yet; "
                "remove customRules from the installed policy"
            )
        registry = setup.registry
        policy_text = _read(policy, "policy file").decode("utf-8", errors="replace")
    now = dt.datetime.now(dt.UTC)
    bundle_path = ca_bundle or (certs_dir or Path()) / certs.CA_CERT_FILE
    bundle = _read(bundle_path, "CA bundle")
    secret = _check_tls(bundle, certs_dir, service, namespace, now, include_secret)
    kinds = {kind for rule in registry for kind in rule.meta.kinds}
    resources, unknown = resources_for_kinds(kinds)
    if unknown:
        _note(f"warning: no API resource known for {', '.join(unknown)}: not admitted")
    settings = manifests.InstallSettings(
        image=image,
        version=__version__,
        ca_bundle_pem=bundle,
        resources=resources,
        namespace=namespace,
        service=service,
        image_pull_policy=image_pull_policy.value,
        replicas=replicas,
        failure_policy=failure_policy.value,
        timeout_seconds=timeout,
        excluded_namespaces=tuple(exclude_namespace or ("kube-system",)),
        policy_text=policy_text,
        tls_secret=secret,
        kubernetes_version=_version(kubernetes_version) if kubernetes_version else None,
    )
    found = manifests.problems(settings)
    if found:
        _fail("; ".join(found))
    docs = manifests.documents(settings)
    notes = manifests.install_notes(settings)
    if output_format is ManifestFormat.JSON:
        typer.echo(manifests.render_json(docs), nl=False)
    else:
        header = f"kposture {__version__} admission webhook: kubectl apply -f this file. " + (
            "It holds the serving certificate's PRIVATE KEY (--include-secret): do not commit it."
            if secret is not None
            else f"The TLS Secret {settings.tls_secret_name} must exist in {namespace} "
            "(kposture admission certs prints the kubectl command)."
        )
        header = " ".join([header, *notes])
        typer.echo(manifests.render_yaml(docs, header=header), nl=False)
    if not settings.labels_namespaces:
        for note in notes:
            _note(f"note: {note}")
    if secret is None:
        _note(
            f"note: create the TLS Secret {settings.tls_secret_name} in {namespace} before the "
            "pods can start (see `kposture admission certs`)"
        )


def _version(text: str) -> tuple[int, int]:
    """``1.20``, ``v1.20.2`` -> (1, 20)."""
    parts = text.strip().removeprefix("v").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        _fail(f"--kubernetes-version {text!r}: give major.minor, e.g. 1.20")
    version = (int(parts[0]), int(parts[1]))
    if version < manifests.OLDEST_VERSION:
        _fail(
            f"--kubernetes-version {text}: the webhook needs admissionregistration.k8s.io/v1 "
            "(Kubernetes 1.16 or later)"
        )
    return version


def _check_tls(
    bundle: bytes,
    certs_dir: Path | None,
    service: str,
    namespace: str,
    now: dt.datetime,
    include_secret: bool,
) -> manifests.TlsSecretData | None:
    """Check the CA bundle, and with --certs-dir that its serving certificate will be accepted
    for the Service; the Secret's data when --include-secret asks for it."""
    try:
        authorities = certs.load_certificates(bundle)
        if certs_dir is None:
            return None
        cert_pem = _read(certs_dir / certs.TLS_CERT_FILE, "serving certificate")
        serving = certs.load_certificates(cert_pem)[0]
        certs.verify_serving_certificate(
            serving, authorities, hostname=f"{service}.{namespace}.svc", now=now
        )
    except certs.CertificateError as exc:
        _fail(f"{exc} (re-run `kposture admission certs` with the same --service and -n)")
    if not include_secret:
        return None
    return manifests.TlsSecretData(cert_pem, _read(certs_dir / certs.TLS_KEY_FILE, "serving key"))
