"""Engine behaviour: registry validation, findings, locations, suppression, policy and rule failures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from kposture.engine import Registry, RegistryError, evaluate, evaluate_one
from kposture.inventory import Inventory, containers
from kposture.model import (
    Domain,
    ExceptionEntry,
    Framework,
    JsonPath,
    K8sObject,
    LabelSelector,
    Reference,
    ResourceRef,
    RuleMeta,
    RunPolicy,
    Severity,
    SourceLocation,
    Stage,
    Violation,
)
from kposture.rules.base import Rule

TODAY = dt.date(2026, 11, 26)


class DictPositions:
    """A position index given as a table, for tests."""

    def __init__(self, table: Mapping[JsonPath, tuple[int, int]]) -> None:
        self.table = table

    def position(self, path: JsonPath) -> tuple[int, int] | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.table:
                return self.table[path[:end]]
        return None


def meta(rule_id: str = "demo-rule", **changes: Any) -> RuleMeta:
    base = RuleMeta(
        id=rule_id,
        title="Demo rule",
        severity=Severity.HIGH,
        domain=Domain.WORKLOAD_PRIVILEGES,
        stage=Stage.CRAWL,
        kinds=("Pod",),
        remediation="Fix it.",
        description="Why it matters.",
        references=(Reference(Framework.CIS, "5.2.2"),),
    )
    return replace(base, **changes)


def privileged_check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        context = ref.container.get("securityContext") or {}
        if context.get("privileged") is True:
            yield Violation(f"{ref.name} privileged", (*ref.path, "securityContext", "privileged"))


def pod(
    name: str = "web",
    namespace: str = "shop",
    privileged: bool = True,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> K8sObject:
    raw = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": {"containers": [{"name": "app", "securityContext": {"privileged": privileged}}]},
    }
    positions = DictPositions(
        {
            (): (3, 1),
            ("spec", "containers", 0): (10, 7),
            ("spec", "containers", 0, "securityContext", "privileged"): (12, 11),
        }
    )
    return K8sObject(
        ResourceRef("v1", "Pod", namespace, name),
        raw,
        SourceLocation("deploy/web.yaml", 3, 1),
        positions,
    )


RULE = Rule(meta("privileged-container"), privileged_check)


def run(*objects: K8sObject, policy: RunPolicy | None = None, rules: tuple[Rule, ...] = (RULE,)):
    return evaluate(Inventory(objects), Registry(rules), policy or RunPolicy(), TODAY)


def test_registry_rejects_duplicate_ids() -> None:
    with pytest.raises(RegistryError, match="duplicate rule id 'privileged-container'"):
        Registry([RULE, RULE])


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"id": "Bad_Id"}, "kebab-case"),
        ({"title": "x" * 90}, "title"),
        ({"remediation": "No period"}, "period"),
        ({"kinds": ()}, "kinds"),
        ({"description": " "}, "description"),
    ],
)
def test_registry_rejects_bad_metadata(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        Registry([Rule(meta(**changes), privileged_check)])


def test_finding_points_at_the_offending_line() -> None:
    result = run(pod())
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.rule_id == "privileged-container"
    assert finding.location is not None
    assert (finding.location.file, finding.location.line, finding.location.column) == (
        "deploy/web.yaml",
        12,
        11,
    )
    assert finding.location.path == "spec.containers[0].securityContext.privileged"
    assert finding.severity is Severity.HIGH
    assert finding.suppressed_by is None
    assert result.objects_scanned == 1
    assert result.rules_run == 1


def test_clean_object_has_no_finding() -> None:
    assert run(pod(privileged=False)).findings == ()


def test_fingerprint_is_stable_across_locations_and_distinct_across_resources() -> None:
    first = run(pod()).findings[0]
    moved = pod()
    moved = replace(moved, location=SourceLocation("elsewhere.yaml", 40))
    assert run(moved).findings[0].fingerprint == first.fingerprint
    assert run(pod(name="other")).findings[0].fingerprint != first.fingerprint


def test_annotation_with_reason_suppresses_and_is_kept() -> None:
    annotations = {
        "kposture.io/ignore": "privileged-container, host-pid",
        "kposture.io/ignore-reason": "GPU driver needs device access",
    }
    result = run(pod(annotations=annotations))
    (finding,) = result.findings
    assert finding.suppressed_by is not None
    assert finding.suppressed_by.kind == "annotation"
    assert finding.suppressed_by.reason == "GPU driver needs device access"
    assert result.active_findings == ()


def test_annotation_without_reason_is_not_honoured_and_warns() -> None:
    result = run(pod(annotations={"kposture.io/ignore": "privileged-container"}))
    assert result.findings[0].suppressed_by is None
    assert any("ignore-reason" in error.message for error in result.errors)
    assert all(error.level == "warning" for error in result.errors)


def test_policy_can_forbid_annotation_self_exemption() -> None:
    annotations = {"kposture.io/ignore": "privileged-container", "kposture.io/ignore-reason": "x"}
    result = run(pod(annotations=annotations), policy=RunPolicy(allow_annotation_exceptions=False))
    assert result.findings[0].suppressed_by is None
    assert [e.message for e in result.errors] == [
        "Pod/shop/web: kposture.io/ignore is not honoured: the policy forbids self-exemption"
    ]


def test_annotation_naming_unknown_rules_or_wildcards_warns() -> None:
    annotations = {
        "kposture.io/ignore": "privileged-container, host-pdi, *",
        "kposture.io/ignore-reason": "legacy",
    }
    result = run(pod(annotations=annotations))
    assert result.findings[0].suppressed
    (warning,) = result.errors
    assert warning.level == "warning"
    assert "unknown rule id(s) *, host-pdi" in warning.message


def test_policy_exception_scoped_by_namespace_kind_name_and_selector() -> None:
    entry = ExceptionEntry(
        reason="legacy agent",
        rules=("privileged-*",),
        namespaces=("mon*",),
        kinds=("Pod",),
        names=("agent-?",),
        selector=LabelSelector(match_labels=(("team", "ops"),)),
        expires="2026-12-31",
    )
    policy = RunPolicy(exceptions=(entry,))
    matching = pod(name="agent-1", namespace="monitoring", labels={"team": "ops"})
    wrong_label = pod(name="agent-2", namespace="monitoring", labels={"team": "web"})
    wrong_namespace = pod(name="agent-3", namespace="shop", labels={"team": "ops"})
    result = run(matching, wrong_label, wrong_namespace, policy=policy)
    suppressed = {f.resource.name: f.suppressed_by for f in result.findings}
    assert suppressed["agent-1"] is not None
    assert suppressed["agent-1"].kind == "policy"
    assert suppressed["agent-1"].expires == "2026-12-31"
    assert suppressed["agent-2"] is None
    assert suppressed["agent-3"] is None


def test_expired_exception_stops_suppressing_and_says_so() -> None:
    entry = ExceptionEntry(
        reason="temporary", rules=("*",), expires="2026-11-25", source="p.yaml", line=4
    )
    result = run(pod(), policy=RunPolicy(exceptions=(entry,)))
    assert result.findings[0].suppressed_by is None
    assert any(
        "expired on 2026-11-25" in e.message and (e.file, e.line) == ("p.yaml", 4)
        for e in result.errors
    )


def test_exception_valid_through_its_expiry_day() -> None:
    entry = ExceptionEntry(reason="until today", rules=("*",), expires=TODAY.isoformat())
    assert run(pod(), policy=RunPolicy(exceptions=(entry,))).findings[0].suppressed


def test_severity_override_and_disabled_rules() -> None:
    override = RunPolicy(severity_overrides={"privileged-container": Severity.LOW})
    assert run(pod(), policy=override).findings[0].severity is Severity.LOW
    disabled = RunPolicy(disabled=frozenset({"privileged-container"}))
    result = run(pod(), policy=disabled)
    assert result.findings == ()
    assert result.rules_run == 0


def test_enabled_list_limits_rules() -> None:
    other = Rule(meta("other-rule"), lambda obj, inv: [Violation("always")])
    policy = RunPolicy(enabled=frozenset({"other-rule"}))
    result = run(pod(), policy=policy, rules=(RULE, other))
    assert [f.rule_id for f in result.findings] == ["other-rule"]


def test_a_failing_rule_becomes_an_error_and_other_rules_still_run() -> None:
    def broken(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        raise KeyError("boom")

    result = run(pod(), rules=(Rule(meta("broken-rule"), broken), RULE))
    assert [f.rule_id for f in result.findings] == ["privileged-container"]
    (error,) = result.errors
    assert "rule broken-rule failed on Pod/shop/web" in error.message
    assert (error.file, error.line) == ("deploy/web.yaml", 3)


def test_rules_only_run_on_their_kinds() -> None:
    service = K8sObject(ResourceRef("v1", "Service", "shop", "web"), {"kind": "Service"})
    assert run(service).findings == ()


def test_evaluate_one_matches_evaluate_for_that_object() -> None:
    target = pod()
    inventory = Inventory([target, pod(name="other")])
    single = evaluate_one(target, inventory, Registry([RULE]), RunPolicy(), TODAY)
    full = evaluate(inventory, Registry([RULE]), RunPolicy(), TODAY)
    assert single.findings == tuple(f for f in full.findings if f.resource.name == "web")


def test_missing_field_resolves_to_deepest_existing_ancestor() -> None:
    def needs_field(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        yield Violation("missing", ("spec", "containers", 0, "securityContext", "runAsNonRoot"))

    (finding,) = run(pod(), rules=(Rule(meta("needs-field"), needs_field),)).findings
    assert finding.location is not None
    assert finding.location.line == 10
    assert finding.location.path == "spec.containers[0].securityContext.runAsNonRoot"


def test_configurable_rule_runs_with_policy_settings_or_says_it_is_off() -> None:
    from kposture.rules.base import Configured

    def configure(policy: RunPolicy) -> Configured:
        allowed = policy.settings.get("allowed")
        if not allowed:
            return Configured(None, "no allowlist configured")
        return Configured(lambda obj, inv: [Violation(f"not in {allowed}")])

    rule = Rule(meta("configurable"), privileged_check, configure)
    off = run(pod(), rules=(rule,))
    assert off.findings == ()
    assert off.rules_run == 0
    assert [(e.message, e.level) for e in off.errors] == [
        ("rule configurable is off: no allowlist configured", "warning")
    ]
    on = run(pod(), rules=(rule,), policy=RunPolicy(settings={"allowed": "x"}))
    assert [f.message for f in on.findings] == ["not in x"]


def test_namespace_rules_also_judge_namespaces_only_implied_by_objects() -> None:
    def flag(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        yield Violation(f"namespace {obj.ref.name}")

    rule = Rule(meta("namespace-rule", kinds=("Namespace",)), flag)
    declared = K8sObject(
        ResourceRef("v1", "Namespace", "", "declared"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "declared"}},
        SourceLocation("ns.yaml", 1),
    )
    result = run(pod(namespace="declared"), pod(namespace="shop"), declared, rules=(rule,))
    assert sorted(f.resource.name for f in result.findings) == ["declared", "shop"]
    implied = next(f for f in result.findings if f.resource.name == "shop")
    assert implied.location is not None
    assert (implied.location.file, implied.location.line) == ("deploy/web.yaml", 3)
    assert result.objects_scanned == 3


def test_namespace_scoped_exception_covers_the_namespace_object_itself() -> None:
    def flag(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        yield Violation("no policy")

    rule = Rule(meta("namespace-rule", kinds=("Namespace",)), flag)
    entry = ExceptionEntry(reason="sandbox", rules=("*",), namespaces=("shop",))
    result = run(pod(namespace="shop"), rules=(rule,), policy=RunPolicy(exceptions=(entry,)))
    (finding,) = result.findings
    assert finding.resource.name == "shop"
    assert finding.suppressed


def test_violation_severity_caps_the_finding_and_the_policy_override_wins_otherwise() -> None:
    def check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        yield Violation("a Kubernetes default", ("metadata",), (("n", "1"),), Severity.INFO)
        yield Violation("someone's own object", ("spec",), (("n", "2"),))

    rule = Rule(meta("capped-rule"), check)
    plain = {f.message: f.severity for f in run(pod(), rules=(rule,)).findings}
    assert plain == {"a Kubernetes default": Severity.INFO, "someone's own object": Severity.HIGH}
    policy = RunPolicy(severity_overrides={"capped-rule": Severity.LOW})
    overridden = {f.message: f.severity for f in run(pod(), policy=policy, rules=(rule,)).findings}
    assert overridden == {
        "a Kubernetes default": Severity.INFO,
        "someone's own object": Severity.LOW,
    }


def test_exception_for_default_covers_objects_without_a_namespace() -> None:
    entry = ExceptionEntry(reason="lab", rules=("*",), namespaces=("default",))
    no_namespace = replace(pod(), ref=ResourceRef("v1", "Pod", "", "web"))
    result = run(no_namespace, pod(namespace="shop"), policy=RunPolicy(exceptions=(entry,)))
    suppressed = {f.resource.namespace: f.suppressed for f in result.findings}
    assert suppressed == {"": True, "shop": False}


def test_unscoped_wildcard_exception_suppresses_but_warns() -> None:
    entry = ExceptionEntry(reason="silence", rules=("*",), source="p.yaml", line=7)
    result = run(pod(), policy=RunPolicy(exceptions=(entry,)))
    assert result.findings[0].suppressed
    (warning,) = result.errors
    assert (warning.file, warning.line, warning.level) == ("p.yaml", 7, "warning")
    assert "suppresses every rule on every object" in warning.message
