"""``kposture serve`` (the HTTPS admission webhook) and ``kposture admission what-if`` (the same
decisions replayed over a cluster, a snapshot or manifests): argument parsing and wiring only.

Both read the policy file the way ``scan`` does (``--policy``, else ``./.kposture.yaml``): its rules,
exceptions and ``admission:`` block, with every rule id checked against the registry. ``serve``
records every decision in the store (``--db``, as ``kposture admission log`` reads it) through the
store's non-blocking ``DecisionWriter``, which is flushed and closed when the server stops.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from kposture import __version__
from kposture.cli.audit_sink_setup import (
    AlertOption,
    AuditClientCaOption,
    AuditClusterOption,
    AuditMaxBytesOption,
    AuditQueueOption,
    AuditSink,
    AuditTokenOption,
    DetectionsOption,
    start_audit_sink,
)
from kposture.cli.consoles import error_console
from kposture.cli.progress import listing_progress
from kposture.cli.scanning import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    has_input_errors,
    load_inputs,
    prepare_rules,
    rfc3339,
)
from kposture.cli.store_options import DbOption, open_cli_store
from kposture.model import InputError
from kposture.model.admission import AdmissionPolicy, Outcome
from kposture.reports.admission_what_if import (
    WhatIfReport,
    render_what_if_json,
    render_what_if_table,
)
from kposture.server.deciding import Decider, mode_gaps
from kposture.server.tls import DEFAULT_RELOAD_INTERVAL, CertificateLoadError
from kposture.server.what_if import WHAT_IF_USER, replay
from kposture.store.decision_writing import DecisionWriter

DEFAULT_PORT = 8443
"""The container port of the install manifests."""
WRITER_CLOSE_TIMEOUT = 15.0
"""Seconds a stopping server waits for the decision log to be written (the pod's grace is 30)."""

log = logging.getLogger("kposture.serve")


class WhatIfFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def _fail(message: str) -> NoReturn:
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def build_decider(
    policy_path: Path | None, rules_paths: Sequence[str] = ()
) -> tuple[Decider, str, tuple[InputError, ...]]:
    """The decider for the policy file (``--policy``, else ``./.kposture.yaml``, else defaults)
    with the built-in rules and the custom rules of ``--rules`` and the file's ``customRules``;
    the file's name; and the custom rules that could not be loaded. A bad file is a
    ``UsageError`` naming its line."""
    setup = prepare_rules(policy_path, rules_paths)
    admission = setup.policy_file.admission if setup.policy_file else AdmissionPolicy()
    decider = Decider(setup.registry, setup.policy, admission)
    return decider, setup.policy.source, setup.rule_errors


POLICY_OPTION = typer.Option(
    "--policy",
    help="Policy file (rules, exceptions, the admission: block). Default: ./.kposture.yaml if present.",
)
RULES_OPTION = typer.Option(
    "--rules",
    help="Custom rule file or directory of *.yaml rule files (CEL; repeatable).",
)


def serve_command(
    tls_cert: Annotated[
        Path,
        typer.Option(
            "--tls-cert", help="Serving certificate (PEM); reloaded when the file changes."
        ),
    ],
    tls_key: Annotated[
        Path,
        typer.Option("--tls-key", help="Its private key (PEM); reloaded when the file changes."),
    ],
    port: Annotated[int, typer.Option("--port", help="HTTPS port.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "0.0.0.0",
    policy: Annotated[Path | None, POLICY_OPTION] = None,
    rules: Annotated[list[str] | None, RULES_OPTION] = None,
    db: DbOption = None,
    reload_interval: Annotated[
        float,
        typer.Option("--reload-interval", help="Seconds between checks of the certificate files."),
    ] = DEFAULT_RELOAD_INTERVAL,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    audit_token_file: AuditTokenOption = None,
    audit_client_ca: AuditClientCaOption = None,
    audit_max_batch_bytes: AuditMaxBytesOption = 32 * 1024 * 1024,
    audit_queue: AuditQueueOption = 256,
    alert: AlertOption = None,
    detections: DetectionsOption = None,
    cluster_name: AuditClusterOption = None,
) -> None:
    """Serve the admission webhook over HTTPS: POST /validate (AdmissionReview v1 and v1beta1),
    /noop, /healthz, /readyz and /metrics; with --audit-token-file or --audit-client-ca, also
    POST /audit, the sink of kube-apiserver's audit webhook (alerts to --alert and the store).

    HTTPS only: refuses to start without a usable certificate and key. Every decision is recorded
    in the store (--db) for `kposture admission log`, without ever delaying an answer. Exit codes:
    0 stopped; 2 bad arguments, policy file, custom rule that does not load, certificate or a
    store that cannot be opened.
    """
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        _fail(f"unknown log level {log_level!r}")
    if not 1 <= port <= 65535:
        _fail(f"--port must be 1-65535, not {port}")
    if reload_interval <= 0:
        _fail("--reload-interval must be positive")
    _check_audit_options(
        audit_token_file is not None or audit_client_ca is not None,
        alert=bool(alert),
        detections=bool(detections),
        cluster_name=cluster_name is not None,
    )
    try:
        decider, _, rule_errors = build_decider(policy, rules or ())
        if rule_errors:
            # A webhook silently missing a rule the policy enforces is worse than one that does
            # not start: a rolling update keeps the running pods serving.
            raise UsageError(
                "custom rules that do not load: " + "; ".join(map(_located, rule_errors))
            )
        store = open_cli_store(db)
    except UsageError as exc:
        _fail(str(exc))
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # FastAPI and uvicorn cost 0.3 s to import: only when serving, not for every command.
    from kposture.server.app import create_app  # noqa: PLC0415
    from kposture.server.metrics import Metrics  # noqa: PLC0415
    from kposture.server.serving import serve  # noqa: PLC0415

    writer = DecisionWriter(store)
    metrics = Metrics()
    metrics.track_writer(writer)
    log.info("recording admission decisions in %s", store.url)
    app = create_app(decider, record=writer.record, metrics=metrics)
    audit: AuditSink | None = None
    if audit_token_file is not None or audit_client_ca is not None:
        try:
            audit = start_audit_sink(
                app,
                metrics.registry,
                policy=policy,
                detections=detections or (),
                alerts=alert or (),
                store=store,
                token_file=audit_token_file,
                client_ca=audit_client_ca,
                max_batch_bytes=audit_max_batch_bytes,
                queue_batches=audit_queue,
                cluster_name=cluster_name or "",
            )
        except UsageError as exc:
            store.close()
            _fail(str(exc))
        log.info("audit webhook sink on POST /audit")
    try:
        serve(
            app,
            cert_file=tls_cert,
            key_file=tls_key,
            host=host,
            port=port,
            reload_interval=reload_interval,
            client_ca=audit_client_ca,
        )
    except CertificateLoadError as exc:
        _fail(f"cannot serve HTTPS: {exc}")
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    finally:
        if audit is not None:
            audit.close()
        _close_log(writer)
        store.close()


def _check_audit_options(
    audit_sink: bool, *, alert: bool, detections: bool, cluster_name: bool
) -> None:
    """The audit detection options do nothing without the audit sink: refused, not ignored."""
    given = [
        flag
        for flag, used in (
            ("--alert", alert),
            ("--detections", detections),
            ("--cluster-name", cluster_name),
        )
        if used
    ]
    if given and not audit_sink:
        _fail(
            f"{', '.join(given)} only apply to the audit webhook sink (POST /audit), which "
            "--audit-token-file or --audit-client-ca enables"
        )


def _located(error: InputError) -> str:
    return f"{error.file}:{error.line}: {error.message}"


def _close_log(writer: DecisionWriter) -> None:
    """Write the decisions still queued, and say what was lost, if anything."""
    writer.close(WRITER_CLOSE_TIMEOUT)
    if writer.pending:
        log.error(
            "stopped with %d admission decisions not yet written (the store did not answer in %gs)",
            writer.pending,
            WRITER_CLOSE_TIMEOUT,
        )
    if writer.dropped or writer.failed:
        log.warning(
            "admission decision log: %d written, %d dropped (queue full), %d lost (store errors)",
            writer.written,
            writer.dropped,
            writer.failed,
        )
    else:
        log.info("admission decision log: %d decisions written", writer.written)


def what_if_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Manifest files or directories, snapshots, `kubectl get -o json` dumps, or - for "
            "stdin (the same inputs as `kposture scan`).",
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[
        bool, typer.Option("--cluster", help="Replay the live cluster of the kubeconfig context.")
    ] = False,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Kubeconfig file.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option("-n", "--namespace", help="Only this namespace of the cluster (repeatable)."),
    ] = None,
    policy: Annotated[Path | None, POLICY_OPTION] = None,
    rules: Annotated[list[str] | None, RULES_OPTION] = None,
    output_format: Annotated[
        WhatIfFormat, typer.Option("-o", "--output", help="Output format.")
    ] = WhatIfFormat.TABLE,
    as_enforced: Annotated[
        bool,
        typer.Option(
            "--as-enforced",
            help="Treat every rule the policy does not switch off as enforced (warn and dry-run "
            "too): what switching everything to enforce would deny.",
        ),
    ] = False,
    user: Annotated[
        str, typer.Option("--as", help="The requesting user (to check user exemptions).")
    ] = WHAT_IF_USER,
    group: Annotated[
        list[str] | None,
        typer.Option("--as-group", help="A group of the requesting user (repeatable)."),
    ] = None,
) -> None:
    """Replay objects through the admission policy as if each were created now, and report per
    namespace what would be denied, warned, recorded as dry-run, or exempt.

    Every object is judged exactly as the webhook would judge it (one object at a time, so rules
    that need other objects are off unless the policy names them). Exit codes: 0 nothing would be
    denied; 1 something would be denied (with --as-enforced: any violation of a rule not switched
    off); 2 usage error, invalid policy file, or an input that could not be read.
    """
    if not cluster and (kubeconfig or context or namespace):
        _fail("--kubeconfig, --context and -n need --cluster")
    if not cluster and not paths:
        _fail("give manifest paths (- for stdin), a snapshot file, or --cluster")
    given = paths or []
    now = dt.datetime.now(dt.UTC)
    try:
        decider, policy_file, rule_errors = build_decider(policy, rules or ())
        if cluster:
            with listing_progress() as progress:
                loaded = load_inputs(
                    given,
                    cluster=True,
                    kubeconfig=kubeconfig,
                    context=context,
                    namespaces=namespace,
                    progress=progress,
                    stdin=sys.stdin.buffer if "-" in given else None,
                )
        else:
            loaded = load_inputs(given, stdin=sys.stdin.buffer if "-" in given else None)
    except UsageError as exc:
        _fail(str(exc))
    for warning in mode_gaps(decider.admission):
        error_console().print(f"warning: {warning}", highlight=False, markup=False)
    groups = ("system:authenticated", *(group or ()))
    replayed = replay(
        loaded.objects, decider, now, user=user, groups=groups, as_enforced=as_enforced
    )
    report = WhatIfReport(
        decisions=replayed.decisions,
        inputs=loaded.inputs,
        errors=(*rule_errors, *loaded.errors),
        tool_version=__version__,
        replayed_at=rfc3339(now),
        policy_file=policy_file,
        as_enforced=as_enforced,
        not_admitted=replayed.not_admitted,
        covered=replayed.covered,
        rule_errors=replayed.rule_errors,
    )
    render = render_what_if_json if output_format is WhatIfFormat.JSON else render_what_if_table
    sys.stdout.write(render(report))
    if rule_errors or has_input_errors(loaded.errors):
        raise typer.Exit(EXIT_USAGE)
    would_deny = {Outcome.DENIED} | ({Outcome.DRY_RUN} if as_enforced else set())
    denied = any(decision.outcome in would_deny for decision, _ in replayed.decisions)
    raise typer.Exit(EXIT_FINDINGS if denied else EXIT_OK)
