"""Which mode applies: an explicit per-rule "off" beats a namespace-wide mode; and globs that leave
out rules judging the same host access are warned about."""

from __future__ import annotations

import logging

import pytest
from tests.unit.server.admission_support import REGISTRY

from kposture.model import RunPolicy
from kposture.model.admission import AdmissionMode, AdmissionPolicy, ModeSetting
from kposture.server.app import create_app
from kposture.server.deciding import HOST_ACCESS_RULES, Decider, mode_gaps
from kposture.sources.policy_file import parse_policy


def _admission(text: str) -> AdmissionPolicy:
    return parse_policy(text, "policy.yaml").admission


def test_a_per_rule_off_wins_over_a_namespace_wide_mode() -> None:
    admission = _admission(
        """
admission:
  rules:
    image-not-pinned: "off"
  namespaces:
    - namespaces: ["prod-*"]
      mode: enforce
"""
    )
    assert admission.mode_for("image-not-pinned", "prod-eu") is None
    assert admission.mode_for("privileged-container", "prod-eu") is AdmissionMode.ENFORCE


def test_a_namespace_entry_naming_the_rule_still_switches_it_on() -> None:
    admission = _admission(
        """
admission:
  rules:
    image-not-pinned: "off"
  namespaces:
    - namespaces: ["prod-*"]
      rules: [image-not-pinned]
      mode: warn
"""
    )
    assert admission.mode_for("image-not-pinned", "prod-eu") is AdmissionMode.WARN
    assert admission.mode_for("image-not-pinned", "dev") is None


def test_a_glob_off_wins_too() -> None:
    policy = AdmissionPolicy(
        rule_modes=(ModeSetting(None, ("image-*",)),),
        namespace_modes=(ModeSetting(AdmissionMode.ENFORCE, ("*",), ("prod",)),),
    )
    assert policy.mode_for("image-not-pinned", "prod") is None


def test_a_host_glob_leaving_out_host_path_rules_is_warned_about() -> None:
    admission = _admission('admission:\n  rules:\n    "host-*": enforce\n')
    (warning,) = mode_gaps(admission)
    assert "policy.yaml:3" in warning
    assert "host-*" in warning
    assert "sensitive-host-path" in warning
    assert "container-runtime-socket" in warning


def test_no_warning_when_the_left_out_rules_are_named() -> None:
    text = (
        "admission:\n  rules:\n"
        '    "host-*": enforce\n'
        "    sensitive-host-path: enforce\n"
        "    container-runtime-socket: warn\n"
    )
    assert mode_gaps(_admission(text)) == []
    everything = "admission:\n  rules:\n" + "".join(
        f"    {rule}: enforce\n" for rule in HOST_ACCESS_RULES
    )
    assert mode_gaps(_admission(everything)) == []


def test_the_server_logs_the_gaps(caplog: pytest.LogCaptureFixture) -> None:
    decider = Decider(
        REGISTRY, RunPolicy(), _admission('admission:\n  rules:\n    "host-*": enforce\n')
    )
    with caplog.at_level(logging.WARNING, logger="kposture.admission"):
        create_app(decider)
    assert any("sensitive-host-path" in r.getMessage() for r in caplog.records)
