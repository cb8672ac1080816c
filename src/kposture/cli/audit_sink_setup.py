"""Wiring of ``kposture serve``'s audit webhook sink (``POST /audit``): its options, the detector
(policy file allowlist and custom detections, as ``detect``), the alert sinks of ``--alert`` and the
policy file's ``alerts:`` block (``alert_setup``) with their counters on serve's ``/metrics``, and
the store the alerts are written to. Wiring only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from kposture.cli.alert_setup import alerts_config
from kposture.cli.detect_setup import prepare_detections
from kposture.cli.scanning import UsageError
from kposture.model.lifecycle import Alert
from kposture.sinks import AlertSetupError, Sinks, build_sinks
from kposture.sinks.metrics import SinkCollector
from kposture.store.alerts import write_alerts
from kposture.store.connecting import Store

AuditTokenOption = Annotated[
    Path | None,
    typer.Option(
        "--audit-token-file",
        help="Enable POST /audit (the audit webhook sink) for callers with this bearer token "
        "(the file is read again when it changes).",
    ),
]
AuditClientCaOption = Annotated[
    Path | None,
    typer.Option(
        "--audit-client-ca",
        help="Enable POST /audit for callers with a client certificate signed by this CA.",
    ),
]
AuditMaxBytesOption = Annotated[
    int,
    typer.Option("--audit-max-batch-bytes", help="Audit batches over this size are refused."),
]
AuditQueueOption = Annotated[
    int, typer.Option("--audit-queue", help="Audit batches waiting to be judged before 429.")
]
AlertOption = Annotated[
    list[str] | None,
    typer.Option("--alert", help="Alert sink for audit detections (repeatable, as detect)."),
]
AuditClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster-name",
        help="Name of the cluster in the audit alerts (orchestrator.cluster.name; default: none).",
    ),
]
DetectionsOption = Annotated[
    list[str] | None,
    typer.Option("--detections", help="Custom detection file or directory (repeatable)."),
]


@dataclass(slots=True)
class AuditSink:
    """The running sink's parts, to close in order."""

    processor: Any
    sinks: Sinks | None

    def close(self) -> None:
        self.processor.close()
        if self.sinks is not None:
            self.sinks.close()


def start_audit_sink(
    app: Any,
    metrics_registry: Any,
    *,
    policy: Path | None,
    detections: Sequence[str],
    alerts: Sequence[str],
    store: Store,
    token_file: Path | None,
    client_ca: Path | None,
    max_batch_bytes: int,
    queue_batches: int,
    cluster_name: str = "",
) -> AuditSink:
    """Mount ``POST /audit`` on ``app`` and start its worker; ``UsageError`` for bad settings."""
    from kposture.server.audit_sink import (  # noqa: PLC0415 - FastAPI only when serving
        AuditProcessor,
        AuditSinkMetrics,
        mount_audit_sink,
    )

    if client_ca is not None and not client_ca.is_file():
        raise UsageError(f"--audit-client-ca {client_ca}: no such file")
    if token_file is not None and not token_file.is_file():
        raise UsageError(f"--audit-token-file {token_file}: no such file")
    if max_batch_bytes < 1024 or queue_batches < 1:
        raise UsageError("--audit-max-batch-bytes must be at least 1024 and --audit-queue 1")
    setup = prepare_detections(policy, detections)
    config = alerts_config(setup.policy_file, alerts)
    try:
        sinks = build_sinks(config) if config.sinks else None
    except AlertSetupError as exc:
        raise UsageError(str(exc)) from None
    if sinks is not None:
        metrics_registry.register(SinkCollector(sinks))

    def record(batch: Sequence[Alert]) -> None:
        write_alerts(store, batch)

    processor = AuditProcessor(
        setup.detector(),
        AuditSinkMetrics(metrics_registry),
        send=sinks.send if sinks is not None else None,
        record=record,
        capacity=queue_batches,
        cluster=cluster_name,
    )
    mount_audit_sink(
        app,
        processor,
        token_file=token_file,
        client_certificates=client_ca is not None,
        max_batch_bytes=max_batch_bytes,
    )
    return AuditSink(processor, sinks)
