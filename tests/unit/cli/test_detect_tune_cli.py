"""kposture detect tune, the policy file's detection allowlist and --detections through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from audit_samples import raw_event
from kposture.cli import app

EXAMPLES = Path(__file__).parents[3] / "examples" / "detections"


def _log(tmp_path: Path) -> Path:
    lines = [
        raw_event("get", "secrets", namespace="shop", name="db", user="ci-bot", ip="10.1.2.3")
        for _ in range(4)
    ]
    lines.append(
        raw_event("get", "secrets", namespace="shop", name="db", user="mallory", ip="203.0.113.5")
    )
    lines.append(raw_event("get", "pods"))
    path = tmp_path / "audit.log"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_tune_names_the_noisy_identity_and_its_entry_silences_it(tmp_path: Path) -> None:
    log = _log(tmp_path)
    runner = CliRunner()
    tuned = runner.invoke(app, ["detect", "tune", str(log)], env={"COLUMNS": "200"})
    assert tuned.exit_code == 0, tuned.output
    assert "secret-read-by-person" in tuned.stdout and "ci-bot (4)" in tuned.stdout
    snippet = tuned.stdout[tuned.stdout.index("detections:") :]
    entries = yaml.safe_load(snippet)["detections"]["allowlist"]["secret-read-by-person"]
    assert entries[0] == {
        "users": ["ci-bot"],
        "namespaces": ["shop"],
        "userAgents": ["kubectl/*"],
        "sourceRanges": ["10.1.2.3/32"],
        "reason": "FILL IN: why this is expected",
        "expires": entries[0]["expires"],
    }
    entries[0]["reason"] = "the CI pipeline reads the deploy key"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        yaml.safe_dump({"detections": {"allowlist": {"secret-read-by-person": [entries[0]]}}})
    )
    detected = runner.invoke(app, ["detect", str(log), "--policy", str(policy), "-o", "json"])
    assert detected.exit_code == 1
    alerts = [json.loads(line) for line in detected.stdout.splitlines()]
    assert [a["user"]["name"] for a in alerts] == ["mallory"]
    assert "6 events read, 1 alert, 4 allowlisted" in detected.stderr
    again = runner.invoke(app, ["detect", "tune", str(log), "--policy", str(policy)])
    assert "ci-bot" not in again.stdout and "4 already allowlisted" in again.stderr


def test_policy_naming_an_unknown_detection_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "detections:\n  allowlist:\n    secret-reed:\n      - {users: [a], reason: r}\n"
    )
    result = CliRunner().invoke(app, ["detect", str(_log(tmp_path)), "--policy", str(policy)])
    assert result.exit_code == 2
    assert "policy.yaml:3: unknown detection 'secret-reed'" in result.stderr


def test_custom_detections_from_flag_and_policy(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(
        json.dumps(raw_event("delete", "configmaps", namespace="prod-eu", name="app")) + "\n"
    )
    runner = CliRunner()
    flagged = runner.invoke(app, ["detect", str(log), "--detections", str(EXAMPLES), "-o", "json"])
    assert flagged.exit_code == 1, flagged.output
    assert json.loads(flagged.stdout)["rule"]["id"] == "prod-configmap-deleted"
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"detections:\n  custom: [{EXAMPLES}]\n")
    assert runner.invoke(app, ["detect", str(log), "--policy", str(policy)]).exit_code == 1
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        (EXAMPLES / "sensitive-configmaps.yaml")
        .read_text()
        .replace("variables.person", "variables.persn")
    )
    failed = runner.invoke(app, ["detect", str(log), "--detections", str(broken)])
    assert failed.exit_code == 2
    assert f"{broken.as_posix()}:20: detection" not in failed.stderr  # rule files say "rule ID"
    assert "broken.yaml:20:" in failed.stderr and "variables.persn" in failed.stderr


def test_tune_suggests_no_entry_for_a_controller_creating_privileged_pods(tmp_path: Path) -> None:
    controller = "system:serviceaccount:kube-system:replicaset-controller"
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-6886ccc7df-", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
    }
    lines = [
        raw_event("create", "pods", name="", user=controller, code=201, request=privileged)
        for _ in range(3)
    ]
    lines.append(raw_event("get", "secrets", namespace="shop", name="db", user="ci-bot"))
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    tuned = CliRunner().invoke(app, ["detect", "tune", str(log)], env={"COLUMNS": "200"})
    assert tuned.exit_code == 0, tuned.output
    assert (
        f"# privileged-pod-created, 3 alerts by {controller}: no safe allowlist entry"
        in tuned.stdout
    )
    snippet = tuned.stdout[tuned.stdout.index("detections:") :]
    allowlist = yaml.safe_load(snippet)["detections"]["allowlist"]
    assert list(allowlist) == ["secret-read-by-person"]  # no entry naming the controller
    assert "replicaset-controller" not in snippet


def test_event_text_in_the_tune_table_is_shown_not_run(tmp_path: Path) -> None:
    agent = "kubectl/v1.30\n  benign\x1b[2K\x1b[1A\x1b[31mFAKE"
    lines = [
        raw_event("get", "secrets", namespace="shop", name="db", user=user, agent=agent)
        for user in ("[red]eve[/red]\x1b[31m", "bob\r\x9b1")
    ]
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    tuned = CliRunner().invoke(app, ["detect", "tune", str(log)], env={"COLUMNS": "400"})
    assert tuned.exit_code == 0, tuned.output
    assert not {"\x1b", "\r", "\x9b"} & set(tuned.stdout)
    assert "[red]eve[/red]\\x1b[31m (1)" in tuned.stdout and "bob\\r\\x9b1 (1)" in tuned.stdout
    assert "kubectl/v1.30\\n  benign\\x1b[2K\\x1b[1A\\x1b[31mFAKE (2)" in tuned.stdout
    snippet = tuned.stdout[tuned.stdout.index("detections:") :]
    entries = yaml.safe_load(snippet)["detections"]["allowlist"]["secret-read-by-person"]
    assert [entry["users"] for entry in entries] == [["[red]eve[/red]\x1b[31m"], ["bob\r\x9b1"]]


def test_tune_suggests_the_peer_address_not_a_forwarded_one(tmp_path: Path) -> None:
    read = raw_event("get", "secrets", namespace="shop", name="db", user="ci-bot")
    read["sourceIPs"] = ["10.1.4.7", "127.0.0.1"]  # X-Forwarded-For, then the peer
    log = tmp_path / "audit.log"
    log.write_text(json.dumps(read) + "\n")
    tuned = CliRunner().invoke(app, ["detect", "tune", str(log)], env={"COLUMNS": "200"})
    assert tuned.exit_code == 0, tuned.output
    snippet = tuned.stdout[tuned.stdout.index("detections:") :]
    (entry,) = yaml.safe_load(snippet)["detections"]["allowlist"]["secret-read-by-person"]
    assert entry["sourceRanges"] == ["127.0.0.1/32"]


def test_tune_reads_several_files_in_order_as_detect_does(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    for path, user in ((first, "ci-bot"), (second, "mallory")):
        read = raw_event("get", "secrets", namespace="shop", name="db", user=user)
        path.write_text(json.dumps(read) + "\n")
    runner = CliRunner()
    tuned = runner.invoke(app, ["detect", "tune", str(first), str(second)], env={"COLUMNS": "200"})
    assert tuned.exit_code == 0, tuned.output
    assert "ci-bot (1)" in tuned.stdout and "mallory (1)" in tuned.stdout
    assert "2 events read, 2 alerts" in tuned.stderr
    missing = runner.invoke(app, ["detect", "tune", str(first), str(tmp_path / "none.log")])
    assert missing.exit_code == 2 and "none.log: no such file" in missing.stderr


def test_tune_exits_2_on_an_input_it_cannot_read_as_detect_does(tmp_path: Path) -> None:
    binary = tmp_path / "binary.log"
    binary.write_bytes(bytes(range(256)) * 4)
    runner = CliRunner()
    for command in (["detect", "tune"], ["detect"]):
        unreadable = runner.invoke(app, [*command, str(binary)])
        assert unreadable.exit_code == 2, (command, unreadable.output)
        assert f"no audit event could be read from {binary}" in unreadable.stderr
        missing = runner.invoke(app, [*command, str(tmp_path / "gone.log")])
        assert missing.exit_code == 2 and "gone.log: no such file" in missing.stderr
    healthy = runner.invoke(app, ["detect", "tune", str(_log(tmp_path)), str(binary)])
    assert healthy.exit_code == 2  # one unreadable input among readable ones, as detect
    assert "secret-read-by-person" in healthy.stdout  # reported before the error


def test_tune_is_a_report_not_a_gate_and_its_exit_codes_are_documented(tmp_path: Path) -> None:
    runner = CliRunner()
    alerting = runner.invoke(app, ["detect", "tune", str(_log(tmp_path))])
    assert alerting.exit_code == 0 and "Noisiest detections" in alerting.stdout
    quiet = tmp_path / "quiet.log"
    quiet.write_text(json.dumps(raw_event("get", "pods")) + "\n")
    calm = runner.invoke(app, ["detect", "tune", str(quiet)])
    assert calm.exit_code == 0 and "No alerts: nothing to tune." in calm.stdout
    assert runner.invoke(app, ["detect", "tune", str(quiet), "--top", "0"]).exit_code == 2
    assert runner.invoke(app, ["detect", "tune", str(tmp_path / "missing.log")]).exit_code == 2
    docs = (Path(__file__).parents[3] / "docs" / "detections.md").read_text()
    flat = " ".join(docs.split())
    assert (
        "Exit codes of `detect tune`: it is a report, not a gate, so **0** once the report is "
        "printed, whether or not there were alerts" in flat
    )
    assert "exit code set as `detect`'s" not in flat
