"""The policy file's ``alerts:`` block: read by the policy file parser as plain values with the line
of every path, parsed by the sinks, errors placed on the right line."""

from __future__ import annotations

import pytest

from kposture.model.rules import Severity
from kposture.sinks.specs import AlertSpecError, parse_alerts_block
from kposture.sources.policy_file import PolicyFileError, parse_policy

POLICY = """\
apiVersion: kposture.io/v1
kind: Policy
alerts:
  minSeverity: medium
  sinks:
    - type: stdout
    - type: webhook
      url: https://soc.example.com/hooks/kposture
      minSeverity: urgent
"""


def test_the_block_reaches_the_sinks_parser_with_its_lines() -> None:
    policy = parse_policy(POLICY.replace("urgent", "high"), "policy.yaml")
    assert policy.alerts is not None
    config = parse_alerts_block(policy.alerts)
    assert config.min_severity is Severity.MEDIUM
    assert [spec.kind for spec in config.sinks] == ["stdout", "webhook"]
    assert policy.alerts_lines["alerts"] == 4
    assert policy.alerts_lines["alerts.sinks[1].minSeverity"] == 9


def test_an_error_in_the_block_is_placed_on_its_line() -> None:
    policy = parse_policy(POLICY, "policy.yaml")
    assert policy.alerts is not None
    with pytest.raises(AlertSpecError) as caught:
        parse_alerts_block(policy.alerts)
    assert caught.value.path == "alerts.sinks[1].minSeverity"
    assert caught.value.line_in(policy.alerts_lines) == 9


def test_an_error_on_a_missing_key_points_at_the_enclosing_entry() -> None:
    policy = parse_policy(
        POLICY.replace("      url: https://soc.example.com/hooks/kposture\n", ""), "p"
    )
    assert policy.alerts is not None
    with pytest.raises(AlertSpecError) as caught:
        parse_alerts_block(policy.alerts)
    assert caught.value.path == "alerts.sinks[1]"
    assert caught.value.line_in(policy.alerts_lines) == 7


def test_a_policy_without_alerts_and_a_malformed_block() -> None:
    assert parse_policy("kind: Policy\n", "p").alerts is None
    with pytest.raises(PolicyFileError, match=r"^p:1: alerts must be a mapping"):
        parse_policy("alerts: [stdout]\n", "p")


def test_flag_errors_have_no_path() -> None:
    error = AlertSpecError("--alert foo: expected stdout")
    assert error.path == ""
    assert error.line_in({"alerts": 1}) is None
