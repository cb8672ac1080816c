"""kposture watch without a cluster: its arguments, the policy file's alerts: block (and serve's
audit sink reading it too, with the sinks' counters on its /metrics), nothing created before the
cluster is known, and the help text."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from kposture.cli import app
from kposture.cli.alert_setup import alerts_config
from kposture.cli.audit_sink_setup import start_audit_sink
from kposture.cli.scanning import UsageError
from kposture.cli.watch_commands import stopped_line
from kposture.model.rules import Severity
from kposture.sources.policy_file import parse_policy
from kposture.store.connecting import open_store
from kposture.watcher.watching import Stats

POLICY = """\
apiVersion: kposture.io/v1
kind: Policy
alerts:
  minSeverity: medium
  dedup: 5m
  sinks:
    - type: stdout
      minSeverity: urgent
"""

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: someone
  user: {token: not-a-real-token}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: someone}
current-context: nowhere
"""


def _policy(tmp_path: Path, text: str = POLICY) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_a_bad_alerts_block_is_refused_at_its_file_and_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    db = tmp_path / "store" / "k.db"
    result = runner.invoke(
        app,
        ["watch", f"--policy={_policy(tmp_path)}", f"--db={db}", "--metrics-port=0"],
        env={"KUBECONFIG": str(tmp_path / "absent")},
    )
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'policy.yaml'}:8: alerts.sinks[0].minSeverity: unknown severity" in (
        result.stderr.replace("\n", "")
    )
    assert not db.parent.exists()


def test_the_policy_files_sinks_unless_flags_replace_them(tmp_path: Path) -> None:
    policy = parse_policy(POLICY.replace("urgent", "high"), "policy.yaml")
    config = alerts_config(policy)
    assert [(s.kind, s.min_severity) for s in config.sinks] == [("stdout", Severity.HIGH)]
    assert (config.min_severity, config.dedup_window) == (Severity.MEDIUM, 300.0)
    flagged = alerts_config(policy, ["webhook=https://soc.example.com/x"], dedup="0")
    assert [s.kind for s in flagged.sinks] == ["webhook"]
    assert (flagged.min_severity, flagged.dedup_window) == (Severity.MEDIUM, 0.0)
    with pytest.raises(UsageError, match=r"^--alert-min-severity: unknown severity 'urgent'"):
        alerts_config(policy, min_severity="urgent")
    assert alerts_config(None).sinks == ()


@pytest.mark.parametrize(
    "args",
    [
        ["--context", "nope"],  # not in the kubeconfig
        [],  # a server that cannot be reached
    ],
)
def test_nothing_is_created_before_the_cluster_is_read(
    runner: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    db = tmp_path / "x" / "y.db"
    result = runner.invoke(
        app,
        ["watch", f"--kubeconfig={kubeconfig}", f"--db={db}", "--metrics-port=0", *args],
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert not db.exists() and not db.parent.exists()


def test_bad_arguments_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    for args, message in (
        (["--baseline", "loud"], "--baseline must be quiet or alert"),
        (["--metrics-port", "70000"], "--metrics-port must be 0-65535"),
        (["--db", "sqlite://relative.db"], "sqlite:///relative.db"),
    ):
        result = runner.invoke(app, ["watch", *args], env={"KUBECONFIG": str(tmp_path / "absent")})
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr.replace("\n", " "), (args, result.stderr)


def test_the_help_names_every_transition_and_the_defaults(runner: CliRunner) -> None:
    result = runner.invoke(app, ["watch", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "opened, resolved, reopened, suppressed, unsuppressed" in text
    assert "alerts.minSeverity, else info" in text
    assert "alerts.dedup, else 10m" in text
    assert "a bare number is seconds" in text  # --alert-dedup 10 is 10s, not 10m
    assert "--baseline" in text and "[default: quiet]" in text
    assert "[default: 9465]" in text
    assert "Policy file (rules, exceptions, the alerts: block)" in text


def test_the_stop_line_counts_in_the_singular_and_the_plural() -> None:
    assert stopped_line(Stats(batches=1, events=1, transitions=0)) == (
        "stopped after 1 batch, 1 event, 0 transitions"
    )
    assert stopped_line(Stats(batches=2, events=5, transitions=1)) == (
        "stopped after 2 batches, 5 events, 1 transition"
    )


def test_serve_reads_the_alerts_block_and_publishes_its_sinks(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken")
    registry = CollectorRegistry()
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    audit = start_audit_sink(
        FastAPI(),
        registry,
        policy=_policy(tmp_path, POLICY.replace("urgent", "high")),
        detections=(),
        alerts=(),
        store=store,
        token_file=token,
        client_ca=None,
        max_batch_bytes=1024 * 1024,
        queue_batches=4,
    )
    try:
        assert audit.sinks is not None and [s.name for s in audit.sinks] == ["stdout"]
        scraped = generate_latest(registry).decode()
        assert 'kposture_alerts_total{outcome="queued",sink="stdout"} 0.0' in scraped
        assert 'kposture_alert_queue_pending{sink="stdout"} 0.0' in scraped
    finally:
        audit.close()
        store.close()
    with pytest.raises(UsageError, match=r"policy\.yaml:8: alerts\.sinks\[0\]\.minSeverity"):
        start_audit_sink(
            FastAPI(),
            CollectorRegistry(),
            policy=_policy(tmp_path),
            detections=(),
            alerts=(),
            store=store,
            token_file=token,
            client_ca=None,
            max_batch_bytes=1024 * 1024,
            queue_batches=4,
        )
