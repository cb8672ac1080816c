"""``kposture watch``: argument parsing and wiring of the watcher (sources, store, sinks, metrics).

Builds the rules as ``scan --cluster`` does (built-in plus ``--rules`` and the policy file's
custom rules) and the alert sinks' configuration (the policy file's ``alerts:`` block and the
``--alert`` flags), checks the store's URL, connects and lists the cluster, and only then opens
the store and starts the sinks, so a bad argument or an unreadable cluster leaves no store file
behind. Runs the watcher until SIGINT or SIGTERM; then stops the streams and gives the sinks a
bounded time to deliver. Logs go to stderr (one line per transition at info), so stdout carries
only the JSON-lines alerts.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer

from kposture import __version__
from kposture.cli.admission_commands import RULES_OPTION
from kposture.cli.alert_setup import alerts_config
from kposture.cli.consoles import error_console
from kposture.cli.scanning import RuleSetup, UsageError, prepare_rules
from kposture.cli.store_options import DbOption, check_store_url, open_cli_store
from kposture.model import Finding, SourceLocation
from kposture.model.lifecycle import FindingAlert, Transition
from kposture.sinks.building import AlertSetupError, build_sinks
from kposture.sinks.specs import AlertsConfig
from kposture.sinks.summaries import counted
from kposture.sources.cluster import CLUSTER_ORIGIN, input_name
from kposture.sources.cluster_config import ClusterError, Connection
from kposture.sources.cluster_watch import ClusterWatch, cluster_facts, prepare_watch
from kposture.sources.objects import resource_ref
from kposture.store.alerts import write_alerts
from kposture.store.connecting import Store, StoreError
from kposture.store.findings import Scope, has_findings, reconcile, start_scan
from kposture.watcher.heap import Heap
from kposture.watcher.metrics import WatchMetrics
from kposture.watcher.state import ClusterState
from kposture.watcher.stream_reports import StreamReports
from kposture.watcher.watching import SHUTDOWN_DRAIN, Stats, Watcher

log = logging.getLogger("kposture.watch")

START_TIMEOUT = 120.0
"""Seconds the first list of every kind may take before the watch gives up."""

METRICS_PORT = 9465
"""The default port of /metrics: not Prometheus's own 9090 (a watcher beside a Prometheus server
would fail to start)."""

BASELINES = ("quiet", "alert")


WATCH_POLICY_OPTION = typer.Option(
    "--policy",
    help="Policy file (rules, exceptions, the alerts: block). Default: ./.kposture.yaml if present.",
)


def _fail(message: str) -> NoReturn:
    error_console().print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(2)


def watch_command(
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
        ),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option("-n", "--namespace", help="Only this namespace (repeatable)."),
    ] = None,
    db: DbOption = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            "--alert",
            help="Alert sink (repeatable): stdout, webhook=URL, slack=URL, with [min=...,dedup=...]; "
            "replaces the policy file's alerts.sinks.",
        ),
    ] = None,
    alert_min_severity: Annotated[
        str | None,
        typer.Option(
            "--alert-min-severity",
            help="Lowest severity alerted, for sinks without min= (default: the policy file's "
            "alerts.minSeverity, else info).",
            show_default=False,
        ),
    ] = None,
    alert_dedup: Annotated[
        str | None,
        typer.Option(
            "--alert-dedup",
            help="How long the same state of a finding is not alerted again (30s, 10m, 1h, "
            "250ms; a bare number is seconds; 0 turns it off; default: the policy file's "
            "alerts.dedup, else 10m). Each transition alerts.",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            help="quiet: the first watch of a cluster the store has never recorded stores what it "
            "finds without alerting (later starts alert on what changed); alert: alert on it too.",
        ),
    ] = "quiet",
    policy: Annotated[Path | None, WATCH_POLICY_OPTION] = None,
    rules: Annotated[list[str] | None, RULES_OPTION] = None,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="Port of /metrics (0: no metrics server).")
    ] = METRICS_PORT,
    metrics_address: Annotated[
        str, typer.Option("--metrics-address", help="Address /metrics listens on.")
    ] = "127.0.0.1",
    cluster_name: Annotated[
        str | None,
        typer.Option("--cluster-name", help="Name of the cluster in the store (default: context)."),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning, error.")
    ] = "info",
) -> None:
    """Watch a live cluster: every change is judged as it happens, finding transitions (opened,
    resolved, reopened, suppressed, unsuppressed) go to the store (--db) and to the alert sinks
    (--alert, or the policy file's alerts: block).

    Runs until SIGINT or SIGTERM (the sinks then get 5 s to deliver; a webhook's spool keeps the
    rest). Exit codes: 0 stopped; 2 bad arguments, policy file, store, alert sink, or a cluster
    that cannot be read at start (unreachable, or nothing it may list).
    """
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        _fail(f"unknown log level {log_level!r}")
    if not 0 <= metrics_port <= 65535:
        _fail(f"--metrics-port must be 0-65535, not {metrics_port}")
    if baseline not in BASELINES:
        _fail(f"--baseline must be quiet or alert, not {baseline!r}")
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        setup = prepare_rules(policy, rules or ())
        alerts = alerts_config(
            setup.policy_file, alert or (), min_severity=alert_min_severity, dedup=alert_dedup
        )
        check_store_url(db)
        watch_setup = prepare_watch(kubeconfig, context)
    except (UsageError, ClusterError) as exc:
        _fail(str(exc))
    for error in setup.rule_errors:
        log.warning("%s:%s: %s", error.file, error.line, error.message)
    conn = watch_setup.connection
    name = cluster_name or conn.context
    namespaces = tuple(dict.fromkeys(namespace)) if namespace else None
    for problem in watch_setup.problems:
        log.warning("%s", problem)
    metrics = WatchMetrics()
    if metrics_port:
        try:
            metrics.serve(metrics_port, metrics_address)
        except OSError as exc:
            _fail(f"cannot serve /metrics on {metrics_address}:{metrics_port}: {exc}")
    reports = StreamReports(conn.server, metrics)
    source = ClusterWatch(
        conn,
        watch_setup.served,
        namespaces,
        on_status=reports.status,
        on_connection=reports.connection,
    )
    running = _Running()
    running.install()
    source.start()
    try:
        if not _first_lists(source, running.stop, conn):
            return
        reports.started = True
        store = open_cli_store(db)
    except UsageError as exc:
        source.stop()
        _fail(str(exc))
    except BaseException:
        source.stop()
        raise
    try:
        _watch(store, source, setup, alerts, metrics, running, name, namespaces, baseline, conn)
    finally:
        store.close()


def _watch(
    store: Store,
    source: ClusterWatch,
    setup: RuleSetup,
    alerts: AlertsConfig,
    metrics: WatchMetrics,
    running: _Running,
    name: str,
    namespaces: tuple[str, ...] | None,
    baseline: str,
    conn: Connection,
) -> None:
    """With the cluster listed and the store open: start the sinks, reconcile, run."""
    try:
        quiet = baseline == "quiet" and not has_findings(store, name)
        session = start_scan(
            store,
            name,
            "watch",
            dt.datetime.now(dt.UTC),
            server=conn.server,
            tool_version=__version__,
        )
    except StoreError as exc:
        source.stop()
        _fail(str(exc))
    try:
        sinks = build_sinks(alerts)
    except AlertSetupError as exc:
        source.stop()
        _fail(str(exc))
    metrics.add_sinks(sinks)
    location = SourceLocation(input_name(conn.context), 0, 0, CLUSTER_ORIGIN)
    state = ClusterState(location, resource_ref)
    missing = source.forbidden()

    def facts(current: ClusterState, forbidden: Sequence[str]) -> dict[str, Any]:
        nodes = [key[2] for key in current.objects if key[0] == "Node"]
        raw, notes = cluster_facts(conn, nodes, namespaces, [*missing, *forbidden])
        for note in notes:
            log.info("%s", note)
        return raw

    def record(
        found: Sequence[Finding], scope: Scope, at: dt.datetime, changed_by: Any
    ) -> list[Transition]:
        return reconcile(
            store,
            name,
            found,
            scope,
            at,
            changed_by_of=changed_by,
            source="watch",
            server=conn.server,
            objects=len(state),
            scan_id=session,
        )

    def record_alerts(batch: Sequence[FindingAlert]) -> None:
        write_alerts(store, batch, cluster=name)

    watcher = Watcher(
        source,
        state,
        setup.registry,
        setup.policy,
        record,
        sinks,
        cluster=name,
        facts=facts,
        namespaces=namespaces,
        observer=metrics,
        heap=Heap(),
        quiet_start=quiet,
        record_alerts=record_alerts if len(sinks) else None,
    )
    running.watcher = watcher
    log.info(
        "watching %d kinds on %s (cluster %s), storing in %s",
        len({stream.served.kind for stream in source.streams}),
        conn.server,
        name,
        store.url,
    )
    try:
        if running.stop.is_set():
            return
        watcher.begin()
        _started(watcher, state, source, name, namespaces, quiet, len(sinks) > 0)
        if not running.stop.is_set():
            watcher.run()
    finally:
        watcher.close(SHUTDOWN_DRAIN)
        log.info("%s", stopped_line(watcher.stats))


def stopped_line(stats: Stats) -> str:
    """The shutdown log line: ``stopped after 1 batch, 3 events, 0 transitions``."""
    return (
        f"stopped after {counted(stats.batches, 'batch', 'batches')}, "
        f"{counted(stats.events, 'event')}, {counted(stats.transitions, 'transition')}"
    )


class _Running:
    """SIGINT and SIGTERM stop the watch: before the watcher exists (while the cluster is being
    listed) and after."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.watcher: Watcher | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.stop.set()
        if self.watcher is not None:
            self.watcher.stop()


def _first_lists(source: ClusterWatch, stop: threading.Event, conn: Connection) -> bool:
    """Wait for every kind's first list and say which kinds may not be listed; False when a
    signal stopped the watch meanwhile, exit 2 when the lists time out or nothing can be read."""
    deadline = time.monotonic() + START_TIMEOUT
    while not source.wait_listed(0.25):
        if stop.is_set():
            break
        if time.monotonic() > deadline:
            _fail(f"the first list of every kind did not finish within {START_TIMEOUT:.0f} s")
    if stop.is_set():
        source.stop()
        return False
    if source.nothing_readable():
        _fail(
            f"nothing kposture judges can be listed with the credentials of context "
            f"{conn.context} on {conn.server}: the lists of all {len(source.forbidden())} "
            "kinds were forbidden (403); grant list and watch on them (docs/watch.md)"
        )
    for problem in source.forbidden_problems():
        log.warning("%s", problem)
    return True


def _started(
    watcher: Watcher,
    state: ClusterState,
    source: ClusterWatch,
    name: str,
    namespaces: Sequence[str] | None,
    quiet: bool,
    alerting: bool,
) -> None:
    """The start's log lines: what is watched, the transitions at start, the namespaces asked for
    that do not exist."""
    transitions = watcher.stats.transitions
    note = ""
    if quiet and transitions:
        note = (
            f" (the baseline of cluster {name}, which the store had never recorded: stored "
            "without alerts; later changes alert; --baseline alert sends them too)"
        )
    elif not alerting:
        note = " (no alert sink: --alert or the policy file's alerts: block)"
    log.info("watching %d objects; %d transitions at start%s", len(state), transitions, note)
    if namespaces is None or "Namespace" in source.forbidden():
        return
    for wanted in namespaces:
        if ("Namespace", "", wanted) not in state.objects:
            log.warning(
                "namespace %s does not exist or cannot be read: no Namespace object of that name "
                "was listed; its objects are judged once it is created",
                wanted,
            )
