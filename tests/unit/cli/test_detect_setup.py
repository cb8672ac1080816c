"""The custom detections a detect verb loads: every problem is reported, each on its own line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kposture.cli import app

BAD = """\
apiVersion: kposture.io/v1
kind: Detection
metadata:
  name: secret-enumeration
spec:
  title: A test detection
  severity: urgent
  mitre: {technique: T1552, title: Unsecured Credentials, tactic: credential-access}
  description: Test.
  response: Respond.
  match: {verbs: [get]}
  conditions: [{expression: 'true'}]
"""


def test_detections_that_do_not_load_are_each_on_their_own_line(tmp_path: Path) -> None:
    detections = tmp_path / "dets.yaml"
    detections.write_text(BAD)
    log = tmp_path / "audit.log"
    log.write_text("")
    result = CliRunner().invoke(
        app, ["detect", str(log), "--detections", str(detections)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 2
    name = detections.as_posix()
    assert result.stderr.splitlines() == [
        "error: detections that do not load:",
        f"{name}:4: rule secret-enumeration: id is already a built-in detection",
        f"{name}:7: rule secret-enumeration: severity must be one of info, low, medium, high, "
        "critical, not 'urgent'",
    ]
    assert result.stderr.endswith("\n")
