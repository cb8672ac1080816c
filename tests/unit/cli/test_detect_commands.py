"""kposture detect through the CLI: outputs, exit codes, skipped records and the sinks' summary on
stderr, the alert flags and the usage line."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from tests.unit.sinks.receivers import Receiver
from typer.testing import CliRunner

from audit_samples import audit_event, raw_event
from kposture.cli import app
from kposture.cli.detect_commands import Output, _emit_line
from kposture.detections import Detector
from kposture.model.incidents import sink_alert


def write_log(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "audit.log"
    path.write_text("".join(line + "\n" for line in lines))
    return path


EXEC = json.dumps(raw_event("create", "pods", subresource="exec", code=101, name="web-1"))
EXEC_2 = json.dumps(raw_event("create", "pods", subresource="attach", code=101, name="web-2"))
QUIET = json.dumps(raw_event("get", "pods"))


def test_detect_table_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    log = str(write_log(tmp_path, QUIET, EXEC))
    result = runner.invoke(app, ["detect", log], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    assert "pod-exec" in result.stdout
    assert "kposture respond isolate web-1 -n default" in result.stdout
    assert "2 events read, 1 alert\n" in result.stderr
    clean = runner.invoke(app, ["detect", str(write_log(tmp_path, QUIET))])
    assert clean.exit_code == 0 and clean.stdout == ""


def test_detect_json_lines_use_ecs_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["detect", "-o", "json", str(write_log(tmp_path, EXEC, EXEC, EXEC_2))]
    )
    assert result.exit_code == 1
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 2  # the repeated audit ID is judged once
    doc = docs[0]
    assert doc["rule"]["id"] == "pod-exec"
    assert doc["user"]["name"] == "alice" and doc["source"]["ip"] == "10.0.0.1"
    assert doc["user_agent"]["original"].startswith("kubectl/")
    assert doc["kubernetes"]["audit"]["objectRef"]["subresource"] == "exec"
    assert doc["event"]["severity"] == 73 and doc["threat"]["technique"]["id"] == ["T1609"]
    assert doc["schema"] == "kposture.alert/v4"
    assert doc["kposture"]["event"]["audit_id"] == doc["event"]["id"]
    assert doc["kposture"]["resource"]["kind"] == "Pod"
    assert doc["http"]["response"]["status_code"] == 101
    assert doc["@timestamp"] == "2024-05-01T10:00:00.000Z"


def test_detect_stdin_min_severity_and_skipped_records(tmp_path: Path) -> None:
    runner = CliRunner()
    text = "not json\n" + EXEC + "\n" + EXEC[:30] + "\n"
    result = runner.invoke(app, ["detect", "-", "--min-severity", "critical"], input=text)
    assert result.exit_code == 0, result.output
    assert "-:1: skipped (malformed)" in result.stderr
    assert "-:3: skipped (truncated)" in result.stderr
    assert "1 event read, 0 alerts; skipped 1 malformed, 1 truncated" in result.stderr


def test_detect_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["detect"]).exit_code == 2
    assert runner.invoke(app, ["detect", str(tmp_path / "missing.log")]).exit_code == 2
    log = str(write_log(tmp_path, EXEC))
    assert runner.invoke(app, ["detect", log, "--follow", log]).exit_code == 2
    assert runner.invoke(app, ["detect", log, "--alert", "carrier-pigeon=x"]).exit_code == 2


def test_json_output_and_the_stdout_sink_print_the_same_document(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["detect", "-o", "json", "--alert", "stdout", str(write_log(tmp_path, EXEC))]
    )
    assert result.exit_code == 1, result.output
    sink_line, report_line = result.stdout.splitlines()
    assert sink_line == report_line
    assert json.loads(sink_line)["kposture"]["source"] == "detection"


def test_alert_dedup_sends_the_same_alert_once_per_window(tmp_path: Path) -> None:
    again = [
        json.dumps(raw_event("get", "secrets", name="db", user="mallory", audit_id=f"a-{i}"))
        for i in range(3)
    ]
    log = str(write_log(tmp_path, *again))
    runner = CliRunner()
    every = runner.invoke(app, ["detect", log, "--alert", "stdout"])
    assert len(_sink_lines(every.stdout)) == 3  # reading files: no window by default
    once = runner.invoke(app, ["detect", log, "--alert", "stdout", "--alert-dedup", "10m"])
    assert len(_sink_lines(once.stdout)) == 1
    assert "2 duplicates not sent" in once.stderr
    per_sink = runner.invoke(app, ["detect", log, "--alert", "stdout[dedup=1h]"])
    assert len(_sink_lines(per_sink.stdout)) == 1


def test_detect_help_reads_as_the_command_people_type() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["detect", "--help"])
    assert shown.exit_code == 0
    assert "Usage: kposture detect [OPTIONS] [SOURCE]..." in shown.stdout
    assert "detect run" not in shown.stdout
    assert "kposture detect tune FILE" in shown.stdout
    assert "--alert-min-severity" in shown.stdout and "--alert-dedup" in shown.stdout
    wrong = runner.invoke(app, ["detect", "--no-such-flag"])
    assert wrong.exit_code == 2
    assert "kposture detect [OPTIONS] [SOURCE]..." in wrong.stderr
    assert "detect run" not in wrong.stderr
    assert "Usage: kposture detect tune" in runner.invoke(app, ["detect", "tune", "--help"]).stdout
    assert "detect run" not in runner.invoke(app, ["--help"]).stdout


def test_detect_reads_several_files_in_order(tmp_path: Path) -> None:
    first = tmp_path / "audit.log.1"
    first.write_text(EXEC + "\n")
    second = write_log(tmp_path, QUIET, EXEC_2)
    result = CliRunner().invoke(app, ["detect", "-o", "json", str(first), str(second)])
    assert result.exit_code == 1, result.output
    names = [json.loads(line)["kposture"]["event"]["name"] for line in result.stdout.splitlines()]
    assert names == ["web-1", "web-2"]
    assert "3 events read, 2 alerts" in result.stderr
    missing = CliRunner().invoke(app, ["detect", str(first), str(tmp_path / "gone.log")])
    assert missing.exit_code == 2 and "gone.log: no such file" in missing.stderr


def _sink_lines(stdout: str) -> list[dict[str, object]]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return [doc for doc in map(json.loads, lines) if "schema" in doc]


def test_alert_min_severity_is_the_sinks_threshold(tmp_path: Path) -> None:
    runner = CliRunner()
    log = str(write_log(tmp_path, EXEC))  # an exec session: high
    quiet = runner.invoke(
        app, ["detect", log, "--alert", "stdout", "--alert-min-severity", "critical"]
    )
    assert quiet.exit_code == 1  # reported in the table ...
    assert _sink_lines(quiet.stdout) == []  # ... but not sent
    assert "alert sink stdout: 0 alerts queued, 0 sent; 1 below its minimum severity" in (
        quiet.stderr
    )
    flags = ["--min-severity", "critical", "--alert", "stdout", "--alert-min-severity", "high"]
    sinks_only = runner.invoke(app, ["detect", log, *flags])
    assert sinks_only.exit_code == 0, sinks_only.output  # nothing at or above critical
    assert [doc["kposture"]["severity"] for doc in _sink_lines(sinks_only.stdout)] == ["high"]
    assert "1 event read, 0 alerts, 1 below critical sent to the alert sinks only" in (
        sinks_only.stderr
    )
    bad = runner.invoke(app, ["detect", log, "--alert", "stdout", "--alert-min-severity", "x"])
    assert bad.exit_code == 2 and "--alert-min-severity" in bad.stderr


def test_detect_reports_what_a_webhook_sink_delivered(tmp_path: Path) -> None:
    receiver = Receiver().start()
    sink = f"webhook[spool={tmp_path / 'spool'}]={receiver.url}"
    try:
        result = CliRunner().invoke(
            app, ["detect", str(write_log(tmp_path, EXEC)), "--alert", sink]
        )
    finally:
        receiver.stop()
    assert result.exit_code == 1, result.output
    assert len(receiver.requests) == 1
    assert "alert sink webhook-1: 1 alert queued, 1 sent\n" in result.stderr


def test_a_request_under_a_reused_audit_id_is_judged_and_reported(tmp_path: Path) -> None:
    decoy = json.dumps(raw_event("get", "pods", audit_id="same-id"))
    hidden = json.dumps(
        raw_event("create", "pods", subresource="exec", code=101, name="web-1", audit_id="same-id")
    )
    result = CliRunner().invoke(app, ["detect", str(write_log(tmp_path, decoy, hidden))])
    assert result.exit_code == 1, result.output
    assert "pod-exec" in result.stdout
    notice = " ".join(result.stderr.split())
    assert "1 request came under the audit ID of a different request, it under " in notice
    assert f"audit ID 'same-id' at {tmp_path / 'audit.log'}:2 (clients set" in notice
    assert "2 events read, 1 alert, 1 reused audit ID\n" in result.stderr


def test_the_alert_source_ip_is_the_peer_and_forwarded_addresses_are_marked_claimed(
    tmp_path: Path,
) -> None:
    record = raw_event("create", "pods", subresource="exec", code=101, name="web-1")
    record["sourceIPs"] = ["198.51.100.7", "203.0.113.4"]
    result = CliRunner().invoke(
        app, ["detect", "-o", "json", str(write_log(tmp_path, json.dumps(record)))]
    )
    assert result.exit_code == 1, result.output
    (doc,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert doc["source"] == {"ip": "203.0.113.4"}
    assert doc["kposture"]["event"]["source_ip"] == "203.0.113.4"
    assert doc["kposture"]["event"]["claimed_source_ips"] == "198.51.100.7"
    assert doc["kubernetes"]["audit"]["sourceIPs"] == ["198.51.100.7", "203.0.113.4"]


def test_gzip_logs_are_read_by_their_magic_bytes(tmp_path: Path) -> None:
    packed = gzip.compress(f"{QUIET}\n{EXEC}\n".encode())
    for name in ("audit-2024-05-01.log.gz", "audit-backup.log"):
        (tmp_path / name).write_bytes(packed)
        result = CliRunner().invoke(app, ["detect", str(tmp_path / name)])
        assert result.exit_code == 1, result.output
        assert "2 events read, 1 alert\n" in result.stderr


def test_gzip_data_cut_short_is_a_read_error(tmp_path: Path) -> None:
    packed = gzip.compress((f"{QUIET}\n" * 200).encode())
    cut = tmp_path / "audit.log.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    result = CliRunner().invoke(app, ["detect", str(cut)])
    assert result.exit_code == 2
    assert "the gzip data is corrupt or cut short" in result.stderr


def test_following_a_gzip_file_is_refused(tmp_path: Path) -> None:
    packed = tmp_path / "audit.log.gz"
    packed.write_bytes(gzip.compress(f"{QUIET}\n".encode()))
    result = CliRunner().invoke(app, ["detect", "--follow", str(packed)])
    assert result.exit_code == 2
    assert "is gzip-compressed" in result.stderr and "cannot be followed" in result.stderr


def test_an_input_with_no_event_and_only_unreadable_records_exits_2(tmp_path: Path) -> None:
    binary = tmp_path / "audit.bin"
    binary.write_bytes(b"\x00\x01\xfe\xff garbage\n\x89PNG\r\n")
    result = CliRunner().invoke(app, ["detect", str(binary)])
    assert result.exit_code == 2, result.output
    assert f"no audit event could be read from {binary} (2 unreadable records)" in result.stderr
    event_list = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []}
    event_list["items"] = [raw_event("create", "pods", subresource="exec", code=101)]
    cut = write_log(tmp_path, json.dumps(event_list)[:-40])
    result = CliRunner().invoke(app, ["detect", str(cut)])
    assert result.exit_code == 2, result.output
    assert f"no audit event could be read from {cut} (1 unreadable record)" in result.stderr
    mixed = write_log(tmp_path, "not json", QUIET)
    assert CliRunner().invoke(app, ["detect", str(mixed)]).exit_code == 0


def test_an_input_of_only_empty_event_lists_is_named_and_exits_2_as_an_empty_file(
    tmp_path: Path,
) -> None:
    empty_list = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []})
    lists = write_log(tmp_path, empty_list, empty_list)
    nothing = tmp_path / "nothing.log"
    nothing.write_text("")
    runner = CliRunner()
    for path in (lists, nothing):
        for command in (["detect"], ["detect", "tune"]):
            result = runner.invoke(app, [*command, str(path)])
            assert result.exit_code == 2, (command, result.output)
            assert f"no audit events in {path}" in result.stderr
    healthy = write_log(tmp_path, empty_list, EXEC, empty_list)
    result = runner.invoke(app, ["detect", str(healthy)])
    assert result.exit_code == 1 and "no audit events" not in result.stderr


def test_alerts_name_the_cluster_from_the_flag_or_the_envelope(tmp_path: Path) -> None:
    eks = {
        "logGroup": "/aws/eks/prod-eu/cluster",
        "logEvents": [{"id": "1", "timestamp": 1, "message": EXEC}],
    }
    log = str(write_log(tmp_path, json.dumps(eks)))
    for flags, name in (([], "prod-eu"), (["--cluster-name", "shop"], "shop")):
        result = CliRunner().invoke(app, ["detect", "-o", "json", *flags, log])
        (doc,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert doc["orchestrator"]["cluster"]["name"] == name
        assert doc["kposture"]["cluster"] == name


def test_event_text_cannot_forge_lines_move_the_cursor_or_style_the_table(tmp_path: Path) -> None:
    agent = "kubectl/v1.30\n  → benign: approved maintenance\x1b[2K\x1b[1A\x1b[31mFAKE"
    event = raw_event(
        "create",
        "pods",
        subresource="exec",
        code=101,
        name="web\r\x9b1",
        user="[red]mallory[/red]\x1b[31m\x7f",
        agent=agent,
    )
    log = str(write_log(tmp_path, json.dumps(event)))
    result = CliRunner().invoke(app, ["detect", log], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    assert not {"\x1b", "\r", "\x7f", "\x9b"} & set(result.stdout)
    assert "with kubectl/v1.30\\n  → benign: approved maintenance\\x1b[2K\\x1b[1A" in result.stdout
    assert "who [red]mallory[/red]\\x1b[31m\\x7f from" in result.stdout
    assert "pod default/web\\r\\x9b1" in result.stdout
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.lstrip().startswith("→")] == [
        line for line in lines if line.startswith("  → ")
    ]
    assert sum(line.startswith("  → ") for line in lines) == 1


def test_a_followed_alert_line_shows_event_text_and_does_not_run_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    event = audit_event(
        verb="create",
        resource="pods",
        subresource="exec",
        code=101,
        name="web",
        user="[red]eve[/red]\x1b[31m",
        agent="kubectl\n  → benign",
    )
    (alert,) = Detector().process(event)
    _emit_line(alert, sink_alert(alert, dt.datetime.now(dt.UTC)), Output.TABLE)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "[red]eve[/red]\\x1b[31m from 10.0.0.1 opened" in out
    assert sum(line.lstrip().startswith("→") for line in out.splitlines()) == 1


def test_an_input_of_records_that_are_no_audit_event_exits_2_naming_it(tmp_path: Path) -> None:
    """The wrong --format, a kubectl List or [] gave 0 events read and exit 0."""
    runner = CliRunner()
    wrong_format = write_log(tmp_path, EXEC)
    kubectl_list = tmp_path / "pods.json"
    kubectl_list.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": []}))
    empty_array = tmp_path / "array.json"
    empty_array.write_text("[]\n")
    for path, flags in ((wrong_format, ["--format", "gke"]), (kubectl_list, []), (empty_array, [])):
        for command in (["detect"], ["detect", "tune"]):
            result = runner.invoke(app, [*command, *flags, str(path)])
            assert result.exit_code == 2, (path, command, result.output)
            error = " ".join(result.stderr.split())
            assert (
                f"error: no audit events in {path}: 1 record is not an audit event; wrong --format?"
            ) in error
    two = write_log(tmp_path, EXEC, "not json", EXEC)
    result = runner.invoke(app, ["detect", "--format", "gke", str(two)])
    assert result.exit_code == 2
    assert "2 records are not audit events, 1 unreadable record; wrong" in " ".join(
        result.stderr.split()
    )
    assert runner.invoke(app, ["detect", str(two)]).exit_code == 1  # events among them


def test_a_cut_pretty_event_list_shows_the_alerts_read_before_the_error(tmp_path: Path) -> None:
    """Table mode printed only the error: the alert of the complete first item was lost."""
    items = [
        raw_event("create", "pods", subresource="exec", code=101, name="web-1"),
        raw_event("get", "pods", name="web-2"),
    ]
    text = json.dumps(
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}, indent=2
    )
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index('"web-2"')])
    runner = CliRunner()
    for command in (["detect"], ["detect", "tune"]):
        result = runner.invoke(app, [*command, str(cut)])
        assert result.exit_code == 2, (command, result.output)
        assert "pod-exec" in result.stdout
        assert "1 event read, 1 alert" in result.stderr
        error = " ".join(result.stderr.split())
        assert f"error: cannot read the audit log: {cut}:" in error and "cut short" in error
        assert result.stderr.index("1 event read") < result.stderr.index("error:")
