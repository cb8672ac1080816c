"""What the detector notices once per run reaches the user: detect and detect tune print an expired
allowlist entry as a warning, and every detection problem of a run comes in one error."""

from __future__ import annotations

import json
from pathlib import Path

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
