"""What the detector notices once per run reaches the user: detect and detect tune print an expired
allowlist entry as a warning, and every detection problem of a run comes in one error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.sinks.receivers import Receiver
from typer.testing import CliRunner

from audit_samples import raw_event
from kposture.cli import app

EXPIRED_POLICY = (
    "detections:\n"
    "  allowlist:\n"
    '    "*":\n'
    "      - users: [alice]\n"
    "        reason: old migration\n"
    "        expires: 2020-01-31\n"
)


def _log(tmp_path: Path) -> Path:
    log = tmp_path / "audit.log"
    log.write_text(json.dumps(raw_event("get", "pods")) + "\n")
    return log


def test_an_expired_allowlist_entry_is_warned_by_detect_and_tune(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(EXPIRED_POLICY)
    runner = CliRunner()
    for command in (["detect"], ["detect", "tune"]):
        result = runner.invoke(app, [*command, str(_log(tmp_path)), "--policy", str(policy)])
        assert result.exit_code == 0, result.output
        [warning] = [line for line in result.stderr.splitlines() if "policy.yaml:4" in line]
        assert warning.startswith("warning:") and "expired" in warning


def test_unknown_ids_and_broken_custom_detections_come_in_one_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: kposture.io/v1\nkind: Detection\nmetadata: {}\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"detections:\n  custom: [{broken.name}]\n  allowlist:\n"
        "    no-such-detection:\n      - {users: [a], reason: r}\n"
    )
    result = CliRunner().invoke(app, ["detect", str(_log(tmp_path)), "--policy", str(policy)])
    assert result.exit_code == 2
    assert "broken.yaml:" in result.stderr
    assert "policy.yaml:4: unknown detection 'no-such-detection'" in result.stderr


def test_detect_sends_to_the_sinks_of_the_policy_alerts_block(tmp_path: Path) -> None:
    receiver = Receiver().start()
    sink = (
        f"    - type: webhook\n      url: {receiver.url}\n      queue: {{dir: {tmp_path / 'q'}}}\n"
    )
    policy = tmp_path / "policy.yaml"
    log = tmp_path / "exec.log"
    exec_event = raw_event("create", "pods", subresource="exec", code=101, name="web-1")
    log.write_text(json.dumps(exec_event) + "\n")
    try:
        policy.write_text(f"alerts:\n  sinks:\n{sink}      minSeverity: urgent\n")
        bad = CliRunner().invoke(app, ["detect", str(log), "--policy", str(policy)])
        policy.write_text(f"alerts:\n  sinks:\n{sink}")
        result = CliRunner().invoke(app, ["detect", str(log), "--policy", str(policy)])
    finally:
        receiver.stop()
    assert bad.exit_code == 2 and "policy.yaml:6:" in bad.stderr and "urgent" in bad.stderr
    assert result.exit_code == 1, result.output
    assert len(receiver.requests) == 1


def test_sources_that_are_not_logs_are_named_for_what_they_are(tmp_path: Path) -> None:
    runner = CliRunner()
    log = _log(tmp_path)
    directory = runner.invoke(app, ["detect", str(tmp_path)])
    assert directory.exit_code == 2 and "is a directory" in directory.stderr
    both = runner.invoke(app, ["detect", "--follow", str(log), str(log)])
    assert both.exit_code == 2 and "would not be read" in both.stderr


def test_json_errors_read_cleanly_and_envelopes_are_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text('{"kind": "Event", "verb": "get\n' + json.dumps(raw_event("get", "pods")) + "\n")
    result = CliRunner().invoke(app, ["detect", str(log)])
    assert "Unterminated string starting at character" in result.stderr
    assert " at at " not in result.stderr
    gke = CliRunner().invoke(app, ["detect", "--format", "eks", str(_log(tmp_path))])
    assert "a Kubernetes audit record, not eks (--format)" in gke.stderr


def test_the_blocks_own_defaults_win_over_detects(tmp_path: Path) -> None:
    receiver = Receiver().start()
    sink = (
        f"    - type: webhook\n      url: {receiver.url}\n      queue: {{dir: {tmp_path / 'q'}}}\n"
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"alerts:\n  minSeverity: critical\n  sinks:\n{sink}")
    log = tmp_path / "exec.log"
    exec_event = raw_event("create", "pods", subresource="exec", code=101, name="web-1")
    log.write_text(json.dumps(exec_event) + "\n")
    try:
        quiet = CliRunner().invoke(app, ["detect", str(log), "--policy", str(policy)])
        flagged = CliRunner().invoke(
            app, ["detect", str(log), "--policy", str(policy), "--alert-min-severity", "high"]
        )
    finally:
        receiver.stop()
    assert quiet.exit_code == 1 and flagged.exit_code == 1, quiet.output + flagged.output
    assert len(receiver.requests) == 1  # the high pod-exec alert: sent only with the flag
