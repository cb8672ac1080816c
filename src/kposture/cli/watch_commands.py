"""``kposture watch``: argument parsing and wiring of the watcher (sources, store, sinks, metrics).

Builds the rules as ``scan --cluster`` does (built-in plus ``--rules`` and the policy file's
custom rules), opens the store and the alert sinks, starts the cluster watch and the metrics
server, and runs the watcher until SIGINT or SIGTERM; then stops the streams and flushes the sinks.
Logs go to stderr (one line per transition at info), so stdout carries only the JSON-lines alerts.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer

from kposture.cli.admission_commands import POLICY_OPTION, RULES_OPTION
from kposture.cli.consoles import error_console
from kposture.cli.scanning import UsageError, prepare_rules
from kposture.cli.store_options import DbOption, open_cli_store
from kposture.model import Finding, SourceLocation
from kposture.model.lifecycle import Transition
from kposture.sinks.building import AlertSetupError, build_sinks
from kposture.sinks.specs import AlertSpecError, parse_alert_flags
from kposture.sources.cluster import CLUSTER_ORIGIN, input_name
from kposture.sources.cluster_config import ClusterError
from kposture.sources.cluster_watch import ClusterWatch, cluster_facts, prepare_watch
from kposture.sources.objects import resource_ref
from kposture.store.findings import Scope, reconcile
from kposture.watcher.heap import Heap
from kposture.watcher.metrics import WatchMetrics
from kposture.watcher.state import ClusterState
from kposture.watcher.watching import Watcher

log = logging.getLogger("kposture.watch")

START_TIMEOUT = 120.0
"""Seconds the first list of every kind may take before the watch gives up."""


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
            help="Alert sink (repeatable): stdout, webhook=URL, slack=URL, with [min=...,dedup=...].",
        ),
    ] = None,
    alert_min_severity: Annotated[
        str | None, typer.Option("--alert-min-severity", help="Lowest severity alerted.")
    ] = None,
    alert_dedup: Annotated[
        str | None,
        typer.Option("--alert-dedup", help="De-duplication window (e.g. 10m; 0 turns it off)."),
    ] = None,
    policy: Annotated[Path | None, POLICY_OPTION] = None,
    rules: Annotated[list[str] | None, RULES_OPTION] = None,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="Port of /metrics (0: no metrics server).")
    ] = 9090,
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
    resolved, reopened, suppressed) go to the store (--db) and to the alert sinks (--alert).

    Runs until SIGINT or SIGTERM. Exit codes: 0 stopped; 2 bad arguments, policy file, custom rule,
    store, alert sink or a cluster that cannot be read.
    """
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        _fail(f"unknown log level {log_level!r}")
    if not 0 <= metrics_port <= 65535:
        _fail(f"--metrics-port must be 0-65535, not {metrics_port}")
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        setup = prepare_rules(policy, rules or ())
        for error in setup.rule_errors:
            log.warning("%s:%s: %s", error.file, error.line, error.message)
        alerts = parse_alert_flags(alert or (), min_severity=alert_min_severity, dedup=alert_dedup)
        store = open_cli_store(db)
        watch_setup = prepare_watch(kubeconfig, context)
    except (UsageError, AlertSpecError) as exc:
        _fail(str(exc))
    except ClusterError as exc:
        _fail(str(exc))
    try:
        sinks = build_sinks(alerts)
    except AlertSetupError as exc:
        _fail(str(exc))
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
    source = ClusterWatch(conn, watch_setup.served, namespaces, on_status=metrics.stream_status)
    location = SourceLocation(input_name(conn.context), 0, 0, CLUSTER_ORIGIN)
    state = ClusterState(location, resource_ref)

    def facts(current: ClusterState, forbidden: Sequence[str]) -> dict[str, Any]:
        nodes = [key[2] for key in current.objects if key[0] == "Node"]
        raw, notes = cluster_facts(conn, nodes, namespaces, [*watch_setup.missing, *forbidden])
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
        )

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
    )
    log.info(
        "watching %d kinds on %s (cluster %s), storing in %s",
        len(watch_setup.served),
        conn.server,
        name,
        store.url,
    )
    try:
        _run_until_signalled(watcher, state)
    finally:
        watcher.close()
        store.close()
        log.info(
            "stopped after %d batches, %d events, %d transitions",
            watcher.stats.batches,
            watcher.stats.events,
            watcher.stats.transitions,
        )


def _run_until_signalled(watcher: Watcher, state: ClusterState) -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()
        watcher.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if not watcher.start(START_TIMEOUT) and not stop.is_set():
        _fail(f"the first list of every kind did not finish within {START_TIMEOUT:.0f} s")
    if not stop.is_set():
        log.info(
            "watching %d objects; %d transitions at start", len(state), watcher.stats.transitions
        )
        watcher.run()
