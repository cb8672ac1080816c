"""The typer application: one verb per job (``scan``, ``snapshot``, ``rules``, ``rbac``, ``demo``),
kubectl-style flags.

Commands only parse arguments, call ``scanning`` and a renderer, and map outcomes to exit codes
(0 clean, 1 findings at or above ``--fail-on``, 2 usage or input errors).
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from kposture import __version__
from kposture.cli import output
from kposture.cli.admission_app import admission_app
from kposture.cli.admission_commands import serve_command
from kposture.cli.closed_pipes import ClosedPipeGroup
from kposture.cli.consoles import error_console
from kposture.cli.demo import run_demo
from kposture.cli.detect_tune_commands import detect_app
from kposture.cli.findings_commands import findings_command, history_command
from kposture.cli.progress import listing_progress
from kposture.cli.rbac_commands import rbac_app
from kposture.cli.respond_commands import respond_app
from kposture.cli.rules_commands import rules_app
from kposture.cli.rules_test_commands import test_rules_command
from kposture.cli.scan_saving import save_cluster_scan, summary
from kposture.cli.scanning import (
    EXIT_USAGE,
    UsageError,
    exit_code,
    has_input_errors,
    read_cluster,
    scan_cluster,
    scan_manifests,
    unlisted_kinds,
)
from kposture.cli.snapshotting import write_snapshot_file
from kposture.cli.store_options import DbOption, check_store_url, open_cli_store
from kposture.cli.watch_commands import watch_command
from kposture.model import Severity
from kposture.store.connecting import Store, StoreError

app = typer.Typer(
    name="kposture",
    cls=ClosedPipeGroup,
    help="Kubernetes security posture: scan manifests for misconfigurations and report them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
rules_app.command("test")(test_rules_command)
app.add_typer(rules_app, name="rules")
app.add_typer(rbac_app, name="rbac")
app.add_typer(admission_app, name="admission")
app.command("serve")(serve_command)
app.add_typer(detect_app, name="detect")
app.add_typer(respond_app, name="respond")
app.command("findings")(findings_command)
app.command("history")(history_command)
app.command("watch")(watch_command)


KUBECONFIG_OPTION = typer.Option(
    "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)."
)
CONTEXT_OPTION = typer.Option("--context", help="Kubeconfig context (default: the current one).")
NAMESPACE_OPTION = typer.Option(
    "-n",
    "--namespace",
    help="Only this namespace (repeatable); cluster-scoped kinds are still read.",
)
ALL_NAMESPACES_OPTION = typer.Option(
    "-A", "--all-namespaces", help="Every namespace (the default for a cluster)."
)


class FailOn(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NEVER = "never"

    def severity(self) -> Severity | None:
        return None if self is FailOn.NEVER else Severity(self.value)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kposture {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Kubernetes security posture management."""


def _fail(message: str) -> NoReturn:
    """Print a one-line error on stderr and exit with the usage/input error code."""
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


@app.command()
def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Manifest files or directories (recursive; Helm charts and Kustomize directories are "
            "rendered), snapshots and `kubectl get -o json` dumps, or - for stdin.",
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Scan the live cluster of the kubeconfig context; manifest paths given too are "
            "scanned with it as one inventory (e.g. static pod manifests copied off a node).",
        ),
    ] = False,
    kubeconfig: Annotated[str | None, KUBECONFIG_OPTION] = None,
    context: Annotated[str | None, CONTEXT_OPTION] = None,
    namespace: Annotated[list[str] | None, NAMESPACE_OPTION] = None,
    all_namespaces: Annotated[bool, ALL_NAMESPACES_OPTION] = False,
    output_format: Annotated[
        output.Format, typer.Option("-o", "--output", help="Output format.")
    ] = output.Format.TABLE,
    output_file: Annotated[
        Path | None,
        typer.Option("--output-file", help="Write the report to this file instead of stdout."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Policy file (rules, severities, exceptions). Default: ./.kposture.yaml if present.",
        ),
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules",
            help="Custom rule file or directory of *.yaml rule files (CEL; repeatable). A rule "
            "that does not load is an input error; the others still run.",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 when an unsuppressed finding is at or above this severity ('never' to always "
            "exit 0 on findings).",
        ),
    ] = FailOn.LOW,
    show_suppressed: Annotated[
        bool, typer.Option("--show-suppressed", help="List suppressed findings in the table.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Also print notes about skipped documents.")
    ] = False,
    framework: Annotated[
        output.FrameworkChoice | None,
        typer.Option(
            "--framework",
            help="Also report pass/fail per control of this framework (every output format).",
        ),
    ] = None,
    maturity: Annotated[
        bool,
        typer.Option(
            "--maturity",
            help="Also report the crawl/walk/run stage each domain reaches (table, json, markdown).",
        ),
    ] = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Record the cluster scan's findings in the store (--db): opened, resolved and "
            "reopened since the last scan, for `kposture findings` and `kposture history`. "
            "Needs --cluster.",
        ),
    ] = False,
    db: DbOption = None,
    cluster_name: Annotated[
        str | None,
        typer.Option(
            "--cluster-name",
            metavar="NAME",
            help="Name to save the cluster under (default: the kubeconfig context name).",
        ),
    ] = None,
) -> None:
    """Scan Kubernetes manifests, snapshots or a live cluster (--cluster, with or without manifest
    paths) and report misconfigurations.

    Exit codes: 0 no unsuppressed finding at or above --fail-on; 1 such findings exist; 2 usage error,
    invalid policy file, or an input that could not be read (the report still lists everything else).
    """
    if maturity and output_format not in output.MATURITY_FORMATS:
        formats = ", ".join(f.value for f in output.MATURITY_FORMATS)
        _fail(f"--maturity works with -o {formats}")
    namespaces = _namespaces(namespace, all_namespaces)
    if not cluster and (kubeconfig or context or namespace or all_namespaces):
        _fail("--kubeconfig, --context, -n and -A need --cluster")
    if not cluster and not paths:
        _fail("give manifest paths (- for stdin), a snapshot file, or --cluster")
    if save and not cluster:
        _fail("--save records a live cluster's findings: it needs --cluster")
    if cluster_name is not None and not save:
        _fail("--cluster-name needs --save")
    store: Store | None = None
    read = None
    moment = dt.datetime.now(dt.UTC)
    try:
        if save:
            check_store_url(db)  # opened (and created) only once the cluster has been read
        if cluster:
            with listing_progress() as progress:
                given = paths or []
                outcome, read = scan_cluster(
                    kubeconfig=kubeconfig,
                    context=context,
                    namespaces=namespaces,
                    policy_path=policy,
                    progress=progress,
                    paths=given,
                    stdin=sys.stdin.buffer if "-" in given else None,
                    rules_paths=rules or (),
                    now=moment,
                )
        else:
            given = paths or []
            outcome = scan_manifests(
                given,
                policy_path=policy,
                stdin=sys.stdin.buffer if "-" in given else None,
                rules_paths=rules or (),
            )
        if save:
            store = open_cli_store(db)
    except UsageError as exc:
        _fail(str(exc))
    if store is not None and read is not None:
        with store:
            try:
                transitions = save_cluster_scan(
                    store,
                    outcome,
                    read,
                    cluster_name=cluster_name,
                    namespaces=namespaces,
                    at=moment,
                )
            except StoreError as exc:
                _fail(str(exc))
        saved_as = cluster_name or read.context
        error_console().print(
            summary(transitions, saved_as, store.url), highlight=False, markup=False
        )
    threshold = fail_on.severity()
    try:
        output.emit(
            outcome,
            output_format,
            output_file,
            fail_on=threshold,
            show_suppressed=show_suppressed,
            framework=framework.value if framework is not None else None,
            maturity=maturity,
        )
    except OSError as exc:
        _fail(f"cannot write {output_file}: {exc.strerror or exc}")
    err = error_console()
    if verbose:
        for note in outcome.notes:
            err.print(f"note: {note}", highlight=False, markup=False)
    raise typer.Exit(exit_code(outcome.result, threshold))


def _namespaces(namespace: list[str] | None, all_namespaces: bool) -> list[str] | None:
    if namespace and all_namespaces:
        _fail("-n/--namespace and -A/--all-namespaces exclude each other")
    return list(namespace) if namespace else None


@app.command()
def snapshot(
    output_file: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="File to write the snapshot to (- for stdout).",
            show_default=False,
        ),
    ],
    kubeconfig: Annotated[str | None, KUBECONFIG_OPTION] = None,
    context: Annotated[str | None, CONTEXT_OPTION] = None,
    namespace: Annotated[list[str] | None, NAMESPACE_OPTION] = None,
    all_namespaces: Annotated[bool, ALL_NAMESPACES_OPTION] = False,
) -> None:
    """Save what a cluster scan would list as one JSON List, to scan later with `kposture scan FILE`.

    Secret values are never saved (only metadata and type). Exit codes: 0 written; 2 the cluster
    could not be read, or some kinds could not be listed (the snapshot holds the rest).
    """
    namespaces = _namespaces(namespace, all_namespaces)
    try:
        with listing_progress() as progress:
            read = read_cluster(kubeconfig, context, namespaces, progress)
    except UsageError as exc:
        _fail(str(exc))
    try:
        count = write_snapshot_file(read, output_file)
    except OSError as exc:
        _fail(f"cannot write {output_file}: {exc.strerror or exc}")
    err = error_console()
    for error in read.loaded.errors:
        err.print(f"{error.level}: {error.message}", highlight=False, markup=False)
    kinds = sum(1 for kind in read.kinds if not kind.problem)
    where = "stdout" if output_file == "-" else output_file
    err.print(
        f"wrote {count} objects of {kinds} kinds from context {read.context} to {where}",
        highlight=False,
        markup=False,
    )
    unlisted = unlisted_kinds(read)
    if unlisted:
        err.print(
            f"error: the snapshot is incomplete: could not list {', '.join(unlisted)}",
            highlight=False,
            markup=False,
        )
    incomplete = bool(unlisted) or has_input_errors(read.loaded.errors)
    raise typer.Exit(EXIT_USAGE if incomplete else 0)


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the demo reports (markdown, JSON, SARIF).")
    ] = Path("out"),
) -> None:
    """Scan the bundled vulnerable demo app and write its reports."""
    run_demo(out)
