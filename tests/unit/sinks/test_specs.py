"""The --alert flag syntax, the policy file's alerts: block, and building sinks from them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from tests.unit.sinks.alert_samples import finding_alert
from tests.unit.sinks.receivers import Receiver

from kposture.model.rules import Severity
from kposture.sinks.building import AlertSetupError, build_sinks, default_spool_root
from kposture.sinks.json_lines import JsonLinesSink
from kposture.sinks.specs import (
    AlertsConfig,
    AlertSpecError,
    parse_alert_flag,
    parse_alert_flags,
    parse_alerts_block,
    parse_duration,
    parse_size,
)
from kposture.sinks.webhooks import WebhookSink


def test_stdout_and_its_options() -> None:
    assert parse_alert_flag("stdout").kind == "stdout"
    spec = parse_alert_flag("stdout[min=high,dedup=30s,name=siem]")
    assert (spec.min_severity, spec.dedup_window, spec.name) == (Severity.HIGH, 30.0, "siem")


def test_webhook_with_every_option() -> None:
    spec = parse_alert_flag(
        "webhook[min=critical,dedup=0,name=soc,header=X-Team:secops,bearer=env:SOC_TOKEN,"
        "timeout=2s,spool=/var/spool/k,queue=500,queue-bytes=8Mi,backoff=250ms,backoff-max=2m,"
        "ca=/etc/ca.pem]=https://soc.example.com/hooks/kposture?tenant=a"
    )
    assert spec.kind == "webhook"
    assert spec.target is not None
    assert spec.target.ref == "https://soc.example.com/hooks/kposture?tenant=a"
    assert spec.min_severity is Severity.CRITICAL
    assert spec.dedup_window == 0.0
    assert [(name, value.kind, value.ref, value.prefix) for name, value in spec.headers] == [
        ("X-Team", "literal", "secops", ""),
        ("Authorization", "env", "SOC_TOKEN", "Bearer "),
    ]
    assert (spec.timeout, spec.spool, spec.queue_max, spec.queue_bytes) == (
        2.0,
        "/var/spool/k",
        500,
        8 * 1024 * 1024,
    )
    assert (spec.backoff_initial, spec.backoff_max, spec.ca_file) == (0.25, 120.0, "/etc/ca.pem")


def test_a_url_with_its_own_query_and_equals_signs_is_kept_whole() -> None:
    spec = parse_alert_flag("webhook=https://h.example.com/p?a=b&c=d")
    assert spec.target is not None
    assert spec.target.ref == "https://h.example.com/p?a=b&c=d"


def test_slack_url_from_the_environment_or_a_file() -> None:
    from_env = parse_alert_flag("slack[min=high]=env:SLACK_WEBHOOK_URL")
    assert from_env.target is not None
    assert (from_env.target.kind, from_env.target.ref) == ("env", "SLACK_WEBHOOK_URL")
    from_file = parse_alert_flag("slack=file:/run/secrets/slack")
    assert from_file.target is not None
    assert from_file.target.kind == "file"


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("email=me@example.com", "expected stdout, webhook=URL or slack=URL"),
        ("webhook", "webhook needs a URL"),
        ("stdout=https://x.example.com", "stdout takes no URL"),
        ("webhook=ftp://files.example.com/x", "http:// or https:// URL with a host"),
        ("webhook=https://", "http:// or https:// URL with a host"),
        ("webhook[min=severe]=https://a.example.com", "unknown severity 'severe'"),
        ("webhook[dedup=soon]=https://a.example.com", "invalid duration 'soon'"),
        ("webhook[queue=0]=https://a.example.com", "queue must be a whole number"),
        ("webhook[queue-bytes=lots]=https://a.example.com", "invalid size 'lots'"),
        ("webhook[timeout=0]=https://a.example.com", "timeout must be more than 0"),
        ("webhook[retries=3]=https://a.example.com", "unknown option 'retries'"),
        ("stdout[bearer=env:X]", "unknown option 'bearer' for stdout"),
        ("webhook[header=NoColon]=https://a.example.com", "a header is NAME:VALUE"),
        ("webhook[bearer=abc123]=https://a.example.com", "bearer takes env:VAR or file:PATH"),
        ("webhook[name=has space]=https://a.example.com", "invalid sink name"),
        ("webhook=env:", "env: needs a name"),
    ],
)
def test_flag_errors_are_clear(flag: str, message: str) -> None:
    with pytest.raises(AlertSpecError, match="^--alert .*" + _escape(message)):
        parse_alert_flag(flag)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_flag_errors_never_show_the_url_path_or_query() -> None:
    with pytest.raises(AlertSpecError) as caught:
        parse_alert_flag("slack[min=nope]=https://hooks.slack.com/services/T00/B00/XyZsecret")
    assert "XyZsecret" not in str(caught.value)
    assert "https://hooks.slack.com/…" in str(caught.value)


def test_flags_with_defaults() -> None:
    config = parse_alert_flags(
        ["stdout", "webhook=https://a.example.com/x"], min_severity="High", dedup="1h"
    )
    assert config.min_severity is Severity.HIGH
    assert config.dedup_window == 3600.0
    assert len(config.sinks) == 2
    with pytest.raises(AlertSpecError, match=r"^--alert-min-severity: unknown severity"):
        parse_alert_flags([], min_severity="urgent")
    with pytest.raises(AlertSpecError, match=r"^--alert-dedup: invalid duration"):
        parse_alert_flags([], dedup="-1m")
    with pytest.raises(AlertSpecError, match="two sinks are named 'a'"):
        parse_alert_flags(["stdout[name=a]", "stdout[name=a]"])


def test_durations_and_sizes() -> None:
    assert parse_duration("250ms") == pytest.approx(0.25)
    assert parse_duration("90") == 90.0
    with pytest.raises(AlertSpecError, match="a bare number is seconds"):
        parse_duration("10 min")
    assert parse_duration("1.5m") == 90.0
    assert parse_size("64Mi") == 64 * 1024 * 1024
    assert parse_size("100MB") == 100_000_000
    assert parse_size("2048") == 2048


BLOCK = """
alerts:
  minSeverity: medium
  dedup: 5m
  spoolDir: /var/lib/kposture/spool
  sinks:
    - type: stdout
      minSeverity: low
    - type: webhook
      name: soc
      url: https://soc.example.com/hooks/kposture
      minSeverity: high
      dedup: 0s
      headers:
        X-Team: secops
        X-Api-Key: {env: SOC_API_KEY}
      bearer: {file: /var/run/secrets/soc/token}
      timeout: 3s
      queue: {dir: /data/soc-queue, maxCount: 2000, maxBytes: 16Mi}
      backoff: {initial: 1s, max: 5m}
      ca: /etc/ssl/soc-ca.pem
    - type: slack
      url: {env: SLACK_WEBHOOK_URL}
      minSeverity: critical
"""


def test_policy_file_block() -> None:
    config = parse_alerts_block(yaml.safe_load(BLOCK)["alerts"])
    assert config.min_severity is Severity.MEDIUM
    assert config.dedup_window == 300.0
    assert config.spool_root == "/var/lib/kposture/spool"
    stdout, soc, slack = config.sinks
    assert (stdout.kind, stdout.min_severity) == ("stdout", Severity.LOW)
    assert soc.name == "soc"
    assert soc.dedup_window == 0.0
    assert [(name, value.kind, value.ref, value.prefix) for name, value in soc.headers] == [
        ("X-Team", "literal", "secops", ""),
        ("X-Api-Key", "env", "SOC_API_KEY", ""),
        ("Authorization", "file", "/var/run/secrets/soc/token", "Bearer "),
    ]
    assert (soc.spool, soc.queue_max, soc.queue_bytes) == ("/data/soc-queue", 2000, 16 * 1024**2)
    assert (soc.timeout, soc.backoff_initial, soc.backoff_max) == (3.0, 1.0, 300.0)
    assert slack.target is not None
    assert (slack.target.kind, slack.target.ref) == ("env", "SLACK_WEBHOOK_URL")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"sink": []}, "alerts: unknown key 'sink'"),
        ({"sinks": {"type": "stdout"}}, "alerts.sinks: expected a list"),
        (
            {"sinks": [{"type": "pager"}]},
            "alerts.sinks[0].type: expected one of stdout, webhook, slack",
        ),
        ({"sinks": [{"type": "webhook"}]}, "alerts.sinks[0]: webhook needs a url"),
        (
            {"sinks": [{"type": "stdout", "url": "https://a.example.com"}]},
            "alerts.sinks[0]: stdout takes no url",
        ),
        (
            {
                "sinks": [
                    {"type": "stdout"},
                    {"type": "webhook", "url": "https://a.example.com", "minSeverity": "hi"},
                ]
            },
            "alerts.sinks[1].minSeverity: unknown severity 'hi'",
        ),
        (
            {"sinks": [{"type": "webhook", "url": {"env": "A", "file": "b"}}]},
            "alerts.sinks[0].url: give exactly one",
        ),
        (
            {"sinks": [{"type": "webhook", "url": {"path": "b"}}]},
            "alerts.sinks[0].url: unknown key 'path'",
        ),
        (
            {"sinks": [{"type": "webhook", "url": {}}]},
            "alerts.sinks[0].url: give exactly one of env or file",
        ),
        (
            {"sinks": [{"type": "webhook", "url": "https://a.example.com", "bearer": "tok"}]},
            "alerts.sinks[0].bearer: ",
        ),
        (
            {
                "sinks": [
                    {"type": "webhook", "url": "https://a.example.com", "queue": {"maxCount": 0}}
                ]
            },
            "alerts.sinks[0].queue.maxCount: ",
        ),
        ({"dedup": True}, "alerts.dedup: expected a string"),
        (
            {"sinks": [{"type": "stdout", "name": "x"}, {"type": "stdout", "name": "x"}]},
            "two sinks are named 'x'",
        ),
    ],
)
def test_block_errors_name_the_path(block: object, message: str) -> None:
    with pytest.raises(AlertSpecError, match=_escape(message)):
        parse_alerts_block(block)


def test_flags_replace_the_file_sinks_and_named_defaults() -> None:
    from_file = parse_alerts_block({"minSeverity": "high", "sinks": [{"type": "stdout"}]})
    from_flags = parse_alert_flags(["stdout[name=cli]"], min_severity="low")
    merged = from_file.merged(from_flags, flags_given={"min_severity"})
    assert [spec.name for spec in merged.sinks] == ["cli"]
    assert merged.min_severity is Severity.LOW
    kept = from_file.merged(AlertsConfig())
    assert kept.sinks == from_file.sinks
    assert kept.min_severity is Severity.HIGH


def test_build_sinks_end_to_end(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        out = io.StringIO()
        config = parse_alert_flags(
            [
                "stdout",
                f"webhook[min=high,bearer=env:TOKEN,backoff=10ms]={receiver.url}",
                f"slack[min=critical,spool=memory]={receiver.url}",
            ],
            min_severity="medium",
        )
        sinks = build_sinks(config, stdout=out, environ={"TOKEN": "tkn"}, spool_root=tmp_path)
        names = [sink.name for sink in sinks]
        assert names == ["stdout", "webhook-2", "slack-3"]
        assert sinks.routes()["stdout"].min_severity is Severity.MEDIUM
        assert sinks.routes()["webhook-2"].dedup_window == 600.0
        sinks.send(finding_alert("med", severity=Severity.MEDIUM))
        sinks.send(finding_alert("high", severity=Severity.HIGH))
        assert sinks.flush(5)
        sinks.close(5)
        assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == [
            "med",
            "high",
        ]
        (request,) = receiver.requests
        assert request.json()["message"] == "high"
        assert request.headers["Authorization"] == "Bearer tkn"
        spools = list(tmp_path.iterdir())
        assert [path.name[:8] for path in spools] == ["webhook-"]
    finally:
        receiver.stop()


def test_build_errors_name_the_sink_and_close_what_started(tmp_path: Path) -> None:
    config = parse_alert_flags(
        ["webhook=https://a.example.com/x", "webhook[bearer=env:MISSING]=https://b.example.com/y"]
    )
    with pytest.raises(
        AlertSetupError, match=r"webhook-2 .*environment variable MISSING is not set"
    ):
        build_sinks(config, environ={}, spool_root=tmp_path)
    # The first sink was closed: its spool directory is free again.
    again = build_sinks(
        parse_alert_flags(["webhook=https://a.example.com/x"]), environ={}, spool_root=tmp_path
    )
    again.close(0)
    with pytest.raises(AlertSetupError, match="environment variable HOOK is not set"):
        build_sinks(parse_alert_flags(["slack=env:HOOK"]), environ={}, spool_root=tmp_path)
    with pytest.raises(AlertSetupError, match="http:// or https:// URL"):
        build_sinks(
            parse_alert_flags(["slack=env:HOOK"]),
            environ={"HOOK": "not a url"},
            spool_root=tmp_path,
        )
    with pytest.raises(AlertSetupError, match="cannot read"):
        build_sinks(
            parse_alert_flags([f"slack=file:{tmp_path / 'absent'}"]),
            environ={},
            spool_root=tmp_path,
        )


def test_two_receivers_get_their_own_spools_and_one_receiver_cannot_be_opened_twice(
    tmp_path: Path,
) -> None:
    first = build_sinks(
        parse_alert_flags(["webhook=https://a.example.com/x", "webhook=https://a.example.com/y"]),
        spool_root=tmp_path,
    )
    assert len(list(tmp_path.iterdir())) == 2
    with pytest.raises(AlertSetupError, match="in use by another process"):
        build_sinks(parse_alert_flags(["webhook=https://a.example.com/x"]), spool_root=tmp_path)
    first.close(0)


def test_default_spool_root_follows_xdg(tmp_path: Path) -> None:
    assert default_spool_root({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "kposture" / "spool"
    assert default_spool_root({}).parts[-3:] == ("share", "kposture", "spool")


def test_built_sinks_are_the_documented_types(tmp_path: Path) -> None:
    sinks = build_sinks(
        parse_alert_flags(["stdout", "webhook=https://a.example.com"]), spool_root=tmp_path
    )
    kinds = [type(sink) for sink in sinks]
    sinks.close(0)
    assert kinds == [JsonLinesSink, WebhookSink]
