"""Loading custom rule files: every problem reported with file, line and rule id; bad rules never
stop good ones; ids unique across files and against built-ins; expressions compiled at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from kposture.model import Domain, Severity, Stage
from kposture.policy.rule_files import load_rule_files, parse_json_path, parse_rule_text
from kposture.rules import builtin_rules

BUILTIN_IDS = frozenset(rule.id for rule in builtin_rules())
FIXTURES = Path(__file__).parent / "custom_rules" / "rules"


def rule(name: str = "good-rule", *, spec_extra: str = "", validations: str = "") -> str:
    checks = (
        validations
        or """\
    - expression: "has(object.metadata.labels)"
      message: "no labels"
"""
    )
    return f"""\
apiVersion: kposture.io/v1
kind: Rule
metadata:
  name: {name}
spec:
  title: A rule
  severity: low
  domain: namespaces
  stage: crawl
  description: Why.
  remediation: Fix it.
  match:
    kinds:
      - apiGroups: [""]
        kinds: [Pod]
{spec_extra}  validations:
{checks}"""


def load(tmp_path: Path, text: str, name: str = "rules.yaml") -> tuple[list[str], list[str]]:
    (tmp_path / name).write_text(text)
    loaded = load_rule_files([tmp_path], taken_ids=BUILTIN_IDS)
    return [r.id for r in loaded.rules], [
        str(error).replace(tmp_path.as_posix() + "/", "") for error in loaded.errors
    ]


def test_the_shipped_fixture_rules_load() -> None:
    loaded = load_rule_files([FIXTURES], taken_ids=BUILTIN_IDS)
    assert loaded.errors == ()
    assert [r.id for r in loaded.rules] == [
        "require-team-label",
        "replica-ceiling",
        "team-label-immutable",
    ]
    spec = loaded.specs[1]
    assert (spec.severity, spec.domain, spec.stage) == (
        Severity.LOW,
        Domain.WORKLOAD_PRIVILEGES,
        Stage.WALK,
    )
    assert spec.params == {"maxReplicas": 10}
    assert spec.match.operations == ("CREATE", "UPDATE")
    assert loaded.rules[0].meta.kinds == ("Deployment", "StatefulSet")
    assert loaded.specs[0].references[0].id == "5.7.1"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  colour: red\n", "rules.yaml:16: rule bad: unknown field 'colour' in spec"),
        ("  severity: urgent\n", "rules.yaml:16: rule bad: severity must be one of"),
        ("  stage: sprint\n", "rules.yaml:16: rule bad: stage must be one of"),
        (
            "  references: [{framework: ISO, id: '1'}]\n",
            "rules.yaml:16: rule bad: framework must be one of",
        ),
    ],
)
def test_field_problems_name_file_line_and_rule(tmp_path: Path, extra: str, expected: str) -> None:
    # duplicate keys: the later value wins in YAML, so the extra line is what is read
    text = rule("bad", spec_extra=extra) + "---\n" + rule("fine")
    ids, errors = load(tmp_path, text)
    assert ids == ["fine"]
    assert len(errors) == 1
    assert errors[0].startswith(expected), errors


def test_missing_required_fields_and_ids(tmp_path: Path) -> None:
    text = rule("x").replace("  title: A rule\n", "").replace("  stage: crawl\n", "")
    text += "---\napiVersion: kposture.io/v1\nkind: Rule\nmetadata: {}\nspec: {}\n"
    text += "---\n" + rule("Not_Kebab")
    _, errors = load(tmp_path, text)
    assert errors[0] == "rules.yaml:5: rule x: spec needs title, stage"
    assert errors[1] == "rules.yaml:20: metadata needs name (the rule id)"
    assert errors[2].startswith("rules.yaml:21: spec needs title, severity, domain, stage")
    assert errors[3].startswith("rules.yaml:23: rule Not_Kebab: id 'Not_Kebab' is not kebab-case")


def test_every_problem_of_a_rule_is_reported_at_once(tmp_path: Path) -> None:
    extra = """\
  colour: red
  flavour: sweet
  references: [{framework: ISO, id: '1'}]
"""
    text = (
        rule("bad", spec_extra=extra)
        .replace("severity: low", "severity: urgent")
        .replace("stage: crawl", "stage: sprint")
        .replace('message: "no labels"', 'message: "no labels"\n      path: "a..b"')
    )
    text += """\
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    namespaceSelector:
      matchExpressions: [{key: team, operator: Has}]
    objectSelector:
      matchExpressions: [{key: team, operator: In}]
"""
    ids, errors = load(tmp_path, text + "---\n" + rule("fine"))
    assert ids == ["fine"]
    expected = [
        "rules.yaml:7: rule bad: severity must be one of",
        "rules.yaml:9: rule bad: stage must be one of",
        "rules.yaml:16: rule bad: unknown field 'colour' in spec",
        "rules.yaml:17: rule bad: unknown field 'flavour' in spec",
        "rules.yaml:18: rule bad: framework must be one of",
        "rules.yaml:26: rule bad: operator must be one of In, NotIn, Exists, DoesNotExist, "
        "not 'Has'",
        "rules.yaml:28: rule bad: operator In needs a non-empty values list",
    ]
    assert len(errors) == len(expected) + 1, errors
    for prefix in expected:
        assert any(error.startswith(prefix) for error in errors), (prefix, errors)
    assert any("rule bad: path 'a..b'" in error for error in errors), errors


def test_duplicate_ids_across_files_and_with_builtins(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(rule("mine"))
    (tmp_path / "b.yaml").write_text(rule("mine") + "---\n" + rule("privileged-container"))
    loaded = load_rule_files([tmp_path], taken_ids=BUILTIN_IDS)
    assert [r.id for r in loaded.rules] == ["mine"]
    messages = sorted(str(e).replace(tmp_path.as_posix() + "/", "") for e in loaded.errors)
    assert messages == [
        "b.yaml:1: rule mine: duplicate rule id: this rule is dropped, the one defined first at "
        "a.yaml:1 is kept",
        "b.yaml:20: rule privileged-container: id is already a built-in rule",
    ]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("{matchExpressions: [{key: env, operator: Is, values: [x]}]}", "operator must be one of"),
        ("{matchExpressions: [{key: env, operator: In}]}", "operator In needs a non-empty values"),
        ("{matchExpressions: [{key: env, operator: Exists, values: [a]}]}", "takes no values"),
        ("{matchLabels: {env: [a]}}", "matchLabels values are strings"),
        ("{labels: {env: prod}}", "unknown field 'labels' in namespaceSelector"),
    ],
)
def test_invalid_selectors(tmp_path: Path, selector: str, message: str) -> None:
    text = rule("sel").replace(
        "        kinds: [Pod]\n", f"        kinds: [Pod]\n    namespaceSelector: {selector}\n"
    )
    ids, errors = load(tmp_path, text)
    assert ids == []
    assert errors[0].startswith("rules.yaml:16: rule sel:"), errors
    assert message in errors[0]


def test_match_needs_named_kinds(tmp_path: Path) -> None:
    text = rule("star").replace("kinds: [Pod]", 'kinds: ["*"]')
    _, errors = load(tmp_path, text)
    assert errors == ["rules.yaml:15: rule star: name every kind (no '*' or empty kinds)"]


def test_expression_problems_point_at_their_line(tmp_path: Path) -> None:
    validations = """\
    - expression: "object.metadata.name =="
    - expression: "'a string'"
    - expression: "objet.spec == 1"
    - expression: "variables.missing"
"""
    _, errors = load(tmp_path, rule("expr", validations=validations))
    assert errors[0].startswith("rules.yaml:17: rule expr: expression does not compile at column")
    assert errors[1] == (
        "rules.yaml:18: rule expr: expression must return a bool: it is a string literal, "
        "not a bool"
    )
    assert errors[2].startswith("rules.yaml:19: rule expr: expression reads unknown name(s) objet")
    assert errors[3] == (
        "rules.yaml:20: rule expr: expression reads variables.missing, which is not a variable "
        "declared before it"
    )


def test_unbounded_shapes_are_refused_at_load(tmp_path: Path) -> None:
    deep = "object.a.all(w, object.a.all(x, object.a.all(y, object.a.all(z, true))))"
    long = " && ".join(["true"] * 1300)
    validations = f'    - expression: "{deep}"\n    - expression: "{long}"\n'
    _, errors = load(tmp_path, rule("costly", validations=validations))
    assert "nests comprehensions (all, exists, exists_one, map, filter) 4 deep" in errors[0]
    assert errors[1].startswith("rules.yaml:18: rule costly: expression is 10396 characters long")


def test_broken_yaml_costs_only_its_document(tmp_path: Path) -> None:
    text = rule("first") + "---\nkind: [unclosed\n---\n" + rule("second")
    ids, errors = load(tmp_path, text)
    assert ids == ["first", "second"]
    assert len(errors) == 1
    assert errors[0].startswith("rules.yaml:")
    assert "invalid YAML" in errors[0]


def test_missing_paths_are_errors(tmp_path: Path) -> None:
    loaded = load_rule_files([tmp_path / "nope"])
    assert [e.message for e in loaded.errors] == ["no such rule file or directory"]


def test_json_paths() -> None:
    assert parse_json_path("spec.containers[0].image") == ("spec", "containers", 0, "image")
    assert parse_json_path('metadata.labels["app.kubernetes.io/name"]') == (
        "metadata",
        "labels",
        "app.kubernetes.io/name",
    )
    with pytest.raises(ValueError, match="dot/bracket"):
        parse_json_path("spec..x[")


def test_parse_rule_text_keeps_lines() -> None:
    specs, errors = parse_rule_text(rule("lined"), "r.yaml")
    assert errors == []
    assert specs[0].line == 1
    assert specs[0].validations[0].line == 17
