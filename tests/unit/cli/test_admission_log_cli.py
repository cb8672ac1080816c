"""``kposture admission log`` over a seeded SQLite store: table and JSON output, filters, --since,
the --db option and KPOSTURE_DB, and errors for a missing or unusable store."""

from __future__ import annotations

import datetime as dt
import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kposture.cli.admission_log_commands import parse_since
from kposture.cli.app import app
from kposture.cli.scanning import UsageError
from kposture.model.admission import Outcome
from kposture.store.connecting import open_store
from kposture.store.decisions import write_decisions
from store_samples import T0, decision, sample_decisions


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'kposture.db'}"
    with open_store(url) as store:
        write_decisions(store, sample_decisions())
    return url


def test_table_lists_decisions_newest_first(runner: CliRunner, db: str) -> None:
    result = runner.invoke(app, ["admission", "log", "--db", db], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "OUTCOME" in line)
    for column in ("TIME", "OUTCOME", "OPERATION", "RESOURCE", "USER", "RULES", "LATENCY"):
        assert column in header
    rows = [line for line in lines if "2026-11-20T08:0" in line]
    assert [row.split()[1] for row in rows] == [
        "error",
        "exempt",
        "dry-run",
        "warned",
        "denied",
        "allowed",
    ]
    denied = rows[4]
    assert "2026-11-20T08:01:00Z" in denied
    assert "Pod/shop/web" in denied and "alice@example.com" in denied
    assert "privileged-container (enforce)" in denied
    # One rule per line of the RULES cell.
    after = lines[lines.index(denied) + 1]
    assert "host-path-volume (warn)" in after
    assert "0.3 ms" in denied
    assert "UPDATE (dry run)" in rows[2]  # a kubectl --dry-run=server request
    assert "namespace kube-system is exempt" in rows[1]  # the reason when no rule was judged


def test_json_document(runner: CliRunner, db: str) -> None:
    result = runner.invoke(app, ["admission", "log", "--db", db, "-o", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "kposture.admission-log/v1"
    assert doc["store"] == db
    assert [d["uid"] for d in doc["decisions"]] == [
        "uid-error",
        "uid-exempt",
        "uid-dry-run",
        "uid-warned",
        "uid-denied",
        "uid-allowed",
    ]
    denied = doc["decisions"][4]
    assert denied == {
        "uid": "uid-denied",
        "time": "2026-11-20T08:01:00.123Z",
        "operation": "CREATE",
        "user": "alice@example.com",
        "groups": ["system:authenticated", "devs"],
        "resource": {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web"},
        "outcome": "denied",
        "dry_run": False,
        "latency_ms": 0.26,
        "reason": "",
        "verdicts": [
            {
                "rule_id": "privileged-container",
                "severity": "critical",
                "mode": "enforce",
                "message": "container 'app' runs privileged; set securityContext.privileged: false",
            },
            {
                "rule_id": "host-path-volume",
                "severity": "high",
                "mode": "warn",
                "message": "volume 'logs' mounts /var/log",
            },
        ],
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-n", "blog"], ["uid-dry-run", "uid-warned"]),
        (["--outcome", "denied"], ["uid-denied"]),
        (["--outcome", "DRY-RUN"], ["uid-dry-run"]),
        (["--rule", "host-path-volume"], ["uid-warned", "uid-denied"]),
        (["--since", "2026-11-20T08:03:00Z"], ["uid-error", "uid-exempt", "uid-dry-run"]),
        (["--since", "2026-11-20T09:03:00+01:00"], ["uid-error", "uid-exempt", "uid-dry-run"]),
        (["--since", "2026-11-21"], []),
        (["--limit", "2"], ["uid-error", "uid-exempt"]),
        (["-n", "shop", "--outcome", "allowed"], ["uid-allowed"]),
    ],
)
def test_filters(runner: CliRunner, db: str, args: list[str], expected: list[str]) -> None:
    result = runner.invoke(app, ["admission", "log", "--db", db, "-o", "json", *args])
    assert result.exit_code == 0, result.output
    assert [d["uid"] for d in json.loads(result.stdout)["decisions"]] == expected


def test_since_a_duration_counts_back_from_now(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'recent.db'}"
    now = dt.datetime.now(dt.UTC)
    old = replace(decision("old", 0, Outcome.ALLOWED), time=now - dt.timedelta(hours=3))
    recent = replace(decision("recent", 0, Outcome.ALLOWED), time=now - dt.timedelta(minutes=5))
    with open_store(url) as store:
        write_decisions(store, [old, recent])
    result = runner.invoke(app, ["admission", "log", "--db", url, "--since", "1h", "-o", "json"])
    assert [d["uid"] for d in json.loads(result.stdout)["decisions"]] == ["recent"]


def test_db_from_the_environment(runner: CliRunner, db: str) -> None:
    result = runner.invoke(
        app, ["admission", "log", "-o", "json", "--limit", "1"], env={"KPOSTURE_DB": db}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decisions"][0]["uid"] == "uid-error"


def test_default_store_under_xdg_data_home(runner: CliRunner, tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path), "KPOSTURE_DB": ""}
    missing = runner.invoke(app, ["admission", "log"], env=env)
    assert missing.exit_code == 2
    assert f"no store at sqlite:///{tmp_path}/kposture/kposture.db" in missing.stderr
    assert not (tmp_path / "kposture").exists()  # reading never creates a store
    with open_store(str(tmp_path / "kposture" / "kposture.db")) as store:
        write_decisions(store, sample_decisions()[:1])
    found = runner.invoke(app, ["admission", "log", "-o", "json"], env=env)
    assert found.exit_code == 0, found.output
    assert [d["uid"] for d in json.loads(found.stdout)["decisions"]] == ["uid-allowed"]


def test_nothing_matches(runner: CliRunner, db: str) -> None:
    table = runner.invoke(app, ["admission", "log", "--db", db, "-n", "nowhere"])
    assert table.exit_code == 0
    assert table.stdout == ""
    assert f"no admission decisions match in {db}" in table.stderr
    doc = runner.invoke(app, ["admission", "log", "--db", db, "-n", "nowhere", "-o", "json"])
    assert json.loads(doc.stdout)["decisions"] == []


def test_bad_since_is_a_usage_error(runner: CliRunner, db: str) -> None:
    result = runner.invoke(app, ["admission", "log", "--db", db, "--since", "yesterday"])
    assert result.exit_code == 2
    assert "--since 'yesterday': give a duration" in result.stderr


def test_unreachable_postgresql_masks_the_password(runner: CliRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://kp:VerySecret1@127.0.0.1:{port}/kp"
    result = runner.invoke(app, ["admission", "log", "--db", url])
    assert result.exit_code == 2
    assert "VerySecret1" not in result.output
    assert f"error: cannot open the store at postgresql+psycopg://kp:***@127.0.0.1:{port}/kp" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", T0 - dt.timedelta(seconds=90)),
        ("15m", T0 - dt.timedelta(minutes=15)),
        ("1h", T0 - dt.timedelta(hours=1)),
        ("2d", T0 - dt.timedelta(days=2)),
        ("1w", T0 - dt.timedelta(weeks=1)),
        ("2026-11-01", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)),
        ("2026-11-01T08:30:00Z", dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)),
        ("2026-11-01 08:30", dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)),
    ],
)
def test_parse_since(text: str, expected: dt.datetime) -> None:
    assert parse_since(text, T0) == expected


@pytest.mark.parametrize("text", ["", "1y", "-1h", "h", "soon"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_since(text, T0)
