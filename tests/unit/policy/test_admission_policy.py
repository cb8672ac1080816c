"""The policy file's admission: block: every field parsed, defaults, and each mistake reported as
file:line."""

from __future__ import annotations

import pytest

from kposture.model import LabelSelector
from kposture.model.admission import AdmissionExemption, AdmissionMode, AdmissionPolicy, ModeSetting
from kposture.sources.policy_file import PolicyFileError, parse_policy

FULL = """\
apiVersion: kposture.io/v1
kind: Policy
admission:
  mode: dry-run
  rules:
    privileged-container: enforce
    "host-*": warn
    service-account-token-automount: "off"
  namespaces:
    - namespaces: ["prod-*"]
      mode: enforce
    - namespaces: [legacy]
      rules: [runs-as-root]
      mode: warn
  exemptions:
    - namespaces: [sandbox]
      reason: playground
    - selector: {matchLabels: {tier: legacy}}
      reason: legacy
    - users: [breakglass@example.com]
      groups: [sre-oncall]
      reason: break-glass
  ownNamespace: security
  systemNamespaces: [kube-system, kube-public]
  failurePolicy: Ignore
  timeoutSeconds: 3
  onError: deny
  controllerCreated: judge
  maxRequestBytes: 1048576
"""


def test_full_admission_block() -> None:
    parsed = parse_policy(FULL, "p.yaml")
    admission = parsed.admission
    assert admission.mode is AdmissionMode.DRY_RUN
    assert admission.rule_modes == (
        ModeSetting(AdmissionMode.ENFORCE, ("privileged-container",), (), 6),
        ModeSetting(AdmissionMode.WARN, ("host-*",), (), 7),
        ModeSetting(None, ("service-account-token-automount",), (), 8),
    )
    assert admission.namespace_modes == (
        ModeSetting(AdmissionMode.ENFORCE, ("*",), ("prod-*",), 10),
        ModeSetting(AdmissionMode.WARN, ("runs-as-root",), ("legacy",), 12),
    )
    assert admission.exemptions[1] == AdmissionExemption(
        "legacy", selector=LabelSelector((("tier", "legacy"),)), source="p.yaml", line=18
    )
    assert admission.exemptions[2].users == ("breakglass@example.com",)
    assert admission.exemptions[2].groups == ("sre-oncall",)
    assert admission.own_namespace == "security"
    assert admission.system_namespaces == ("kube-system", "kube-public")
    assert admission.failure_policy == "Ignore"
    assert admission.timeout_seconds == 3
    assert admission.fail_closed
    assert admission.controller_created == "judge"
    assert admission.max_request_bytes == 1048576
    referenced = {rule_id for rule_id, _ in parsed.rule_references}
    assert {"privileged-container", "host-*", "runs-as-root"} <= referenced


def test_defaults_without_admission_block() -> None:
    admission = parse_policy("rules: {disabled: [host-ports]}\n", "p.yaml").admission
    assert admission == AdmissionPolicy()
    assert admission.mode is AdmissionMode.WARN
    assert admission.own_namespace == "kposture"
    assert admission.system_namespaces == ("kube-system",)
    assert admission.failure_policy == "Fail"
    assert admission.timeout_seconds == 5
    assert not admission.fail_closed
    assert admission.max_request_bytes == 3 * 1024 * 1024


def test_precedence() -> None:
    admission = parse_policy(FULL, "p.yaml").admission
    assert admission.mode_for("privileged-container", "shop") is AdmissionMode.ENFORCE
    assert admission.mode_for("host-pid", "shop") is AdmissionMode.WARN
    assert admission.mode_for("runs-as-root", "shop") is AdmissionMode.DRY_RUN
    assert admission.mode_for("host-pid", "prod-eu") is AdmissionMode.ENFORCE  # namespace wins
    assert admission.mode_for("runs-as-root", "legacy") is AdmissionMode.WARN
    assert admission.mode_for("service-account-token-automount", "shop") is None
    assert admission.mode_for("workload-not-isolated", "shop", explicit_only=True) is None
    assert (
        admission.mode_for("privileged-container", "shop", explicit_only=True)
        is AdmissionMode.ENFORCE
    )
    # Cluster-scoped objects have no namespace: namespace entries never match them.
    assert admission.mode_for("host-pid", "") is AdmissionMode.WARN


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("admission:\n  mode: block\n", "p.yaml:2: unknown admission mode 'block'"),
        ("admission:\n  mode: 'off'\n", "p.yaml:2: the default admission mode cannot be off"),
        ("admission:\n  modes: warn\n", "p.yaml:2: unknown key 'modes' in admission"),
        ("admission:\n  rules: [a]\n", "p.yaml:2: admission.rules must be a mapping"),
        (
            "admission:\n  rules:\n    privileged-container: deny\n",
            "p.yaml:3: unknown admission mode 'deny'",
        ),
        (
            "admission:\n  namespaces:\n    - mode: warn\n",
            "p.yaml:3: an admission.namespaces entry needs namespaces and mode",
        ),
        (
            "admission:\n  exemptions:\n    - namespaces: [x]\n",
            "p.yaml:3: every admission exemption needs a reason",
        ),
        (
            "admission:\n  exemptions:\n    - reason: because\n",
            "p.yaml:3: an admission exemption needs namespaces, selector, users or groups",
        ),
        (
            "admission:\n  exemptions:\n    - {users: [a], reason: r, kinds: [Pod]}\n",
            "p.yaml:3: unknown key 'kinds' in admission exemption",
        ),
        ("admission:\n  failurePolicy: fail\n", "p.yaml:2: failurePolicy must be one of Fail"),
        ("admission:\n  timeoutSeconds: 31\n", "p.yaml:2: timeoutSeconds must be between 1 and 30"),
        ("admission:\n  timeoutSeconds: soon\n", "p.yaml:2: timeoutSeconds must be a whole number"),
        ("admission:\n  onError: ignore\n", "p.yaml:2: onError must be one of allow, deny"),
        ("admission:\n  maxRequestBytes: 10\n", "p.yaml:2: maxRequestBytes must be between"),
        ("admission: [1]\n", "p.yaml:1: admission must be a mapping"),
    ],
)
def test_mistakes_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(PolicyFileError) as raised:
        parse_policy(text, "p.yaml")
    assert str(raised.value).startswith(message)
