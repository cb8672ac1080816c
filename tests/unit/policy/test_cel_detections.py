"""Custom audit-log detections in CEL (``kind: Detection``): loading with file:line errors, matching,
conditions, messages, the shared event map (Secret values absent), and runtime errors counted per
detection and event by the detector."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit_samples import audit_event
from kposture.detections import Detector, builtin_detections
from kposture.policy.detection_files import load_detection_files

BUILTIN = {d.id for d in builtin_detections()}
EXAMPLES = Path(__file__).parents[3] / "examples" / "detections"

HEAD = """\
apiVersion: kposture.io/v1
kind: Detection
metadata:
  name: {name}
spec:
  title: A test detection
  severity: high
  mitre: {{technique: T1552, title: Unsecured Credentials, tactic: credential-access}}
  description: Test.
  response: Respond.
"""


def _write(tmp_path: Path, body: str, name: str = "test-detection") -> Path:
    path = tmp_path / "detections.yaml"
    path.write_text(HEAD.format(name=name) + body)
    return path


def _load(path: Path) -> Detector:
    loaded = load_detection_files([path], taken_ids=BUILTIN)
    assert loaded.errors == ()
    return Detector(detections=(), extra=loaded.detections)


def test_examples_load_and_fire() -> None:
    loaded = load_detection_files([EXAMPLES], taken_ids=BUILTIN)
    assert loaded.errors == ()
    detector = Detector(extra=loaded.detections)
    deleted = audit_event(verb="delete", resource="configmaps", namespace="prod-eu", name="app")
    assert [a.message for a in detector.process(deleted) if a.detection_id.startswith("prod")] == [
        "alice deleted ConfigMap prod-eu/app from 10.0.0.1"
    ]
    by_controller = audit_event(
        verb="delete",
        resource="configmaps",
        namespace="prod-eu",
        user="system:kube-controller-manager",
    )
    other_namespace = audit_event(verb="delete", resource="configmaps", namespace="dev")
    assert detector.process(by_controller) == [] and detector.process(other_namespace) == []


def test_match_conditions_and_secret_values_absent(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
  match: {verbs: [create, update], resources: [secrets], outcome: any}
  variables:
    - name: body
      expression: "event.requestObject != null ? event.requestObject : {}"
  conditions:
    - expression: "!('data' in variables.body) && !('stringData' in variables.body)"
    - expression: "event.objectRef.namespace == 'shop'"
  messageExpression: >-
    'secret ' + event.objectRef.name + ' written (code '
    + string(event.responseStatus.code) + ')'
""",
    )
    detector = _load(path)
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}
    hit = audit_event(
        verb="create", resource="secrets", namespace="shop", name="db", request=secret, code=403
    )
    assert [a.message for a in detector.process(hit)] == ["secret db written (code 403)"]
    assert detector.process(audit_event(verb="create", resource="secrets", namespace="web")) == []
    assert detector.process(audit_event(verb="get", resource="secrets", namespace="shop")) == []


def test_outcome_allowed_by_default(tmp_path: Path) -> None:
    detector = _load(
        _write(tmp_path, "  match: {verbs: [delete]}\n  conditions: [{expression: 'true'}]\n")
    )
    assert len(detector.process(audit_event(verb="delete", resource="pods"))) == 1
    assert detector.process(audit_event(verb="delete", resource="pods", code=403)) == []


def test_containment_is_the_response_when_absent_else_its_own(tmp_path: Path) -> None:
    body = "  match: {verbs: [delete]}\n  conditions: [{expression: 'true'}]\n"
    (alert,) = _load(_write(tmp_path, body)).process(audit_event(verb="delete", resource="pods"))
    assert alert.containment == "Respond."
    body += "  containment: Isolate the pod.\n"
    (alert,) = _load(_write(tmp_path, body)).process(audit_event(verb="delete", resource="pods"))
    assert alert.containment == "Isolate the pod."


def test_runtime_errors_are_counted_per_detection_never_raised(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  match: {verbs: [get]}\n  conditions:\n    - expression: event.requestObject.spec.replicas > 1\n",
    )
    detector = _load(path)
    assert detector.process(audit_event(verb="get", resource="pods")) == []
    assert detector.stats.errors_by_detection == {"test-detection": 1}
    message = detector.stats.error_messages[0]
    assert f"{path.as_posix()}:13: condition failed" in message


@pytest.mark.parametrize(
    ("variable", "condition", "reason"),
    [
        (
            "event.verb",
            "string(event.requestObject) != ''",
            "string() of null: event.requestObject is absent (the audit level did not log the body)",
        ),
        (
            "event.impersonatedUser",
            "size(variables.who) > 0",
            "size() of null: variables.who is null",
        ),
        (
            "event.verb",
            "size(event.responseStatus.code) > 0",
            "size() does not take the type of value",
        ),
    ],
)
def test_a_call_on_null_is_named_not_reported_as_an_undefined_function(
    tmp_path: Path, variable: str, condition: str, reason: str
) -> None:
    body = (
        f"  match: {{verbs: [get]}}\n  variables: [{{name: who, expression: '{variable}'}}]\n"
        f'  conditions: [{{expression: "{condition}"}}]\n'
    )
    detector = _load(_write(tmp_path, body))
    assert detector.process(audit_event(verb="get", resource="pods")) == []
    (message,) = detector.stats.error_messages
    assert "Undefined" not in message and f"condition failed: {reason}" in message


def test_cost_over_the_budget_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
  match: {verbs: [create]}
  conditions:
    - expression: >-
        event.requestObject.items.all(a, event.requestObject.items.all(b,
        event.requestObject.items.all(c, a != b || b != c)))
""",
    )
    detector = _load(path)
    body = {"kind": "List", "items": list(range(200))}
    assert detector.process(audit_event(verb="create", resource="pods", request=body)) == []
    assert "over the budget" in detector.stats.error_messages[0]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("  match: {verbs: [get]}\n", 5, "spec needs conditions"),
        (
            "  match: {verbs: [get]}\n  conditions: [{expression: 'object.x == 1'}]\n",
            12,
            "reads unknown name(s) object",
        ),
        (
            "  match: {verbs: [get]}\n  conditions: [{expression: 'event.verb =='}]\n",
            12,
            "does not compile",
        ),
        (
            "  match: {verbs: [get]}\n  conditions: [{expression: '1 + 2'}]\n",
            12,
            "must return a bool",
        ),
        (
            "  match: {verb: [get]}\n  conditions: [{expression: 'true'}]\n",
            11,
            "unknown field 'verb'",
        ),
        (
            "  match: {outcome: maybe}\n  conditions: [{expression: 'true'}]\n",
            11,
            "outcome must be one of",
        ),
    ],
)
def test_load_errors_name_file_and_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = _write(tmp_path, body)
    loaded = load_detection_files([path], taken_ids=BUILTIN)
    assert loaded.detections == ()
    (error,) = loaded.errors
    assert str(error).startswith(f"{path.as_posix()}:{line}: ")
    assert error.line == line and message in error.message


def test_builtin_and_duplicate_ids_are_refused(tmp_path: Path) -> None:
    body = "  match: {verbs: [get]}\n  conditions: [{expression: 'true'}]\n"
    taken = _write(tmp_path, body, name="secret-enumeration")
    assert (
        "already a built-in detection"
        in load_detection_files([taken], taken_ids=BUILTIN).errors[0].message
    )
    twice = tmp_path / "twice.yaml"
    twice.write_text(HEAD.format(name="mine") + body + "---\n" + HEAD.format(name="mine") + body)
    loaded = load_detection_files([twice], taken_ids=BUILTIN)
    assert len(loaded.detections) == 1
    assert "duplicate detection id (first defined at" in loaded.errors[0].message


def test_a_builtin_id_is_reported_with_the_documents_other_problems(tmp_path: Path) -> None:
    body = "  match: {verbs: [get], colour: red}\n  conditions: [{expression: 'true'}]\n"
    path = _write(tmp_path, body, name="secret-enumeration")
    errors = load_detection_files([path], taken_ids=BUILTIN).errors
    assert [(e.line, "built-in" in e.message) for e in errors] == [(4, True), (11, False)]


def test_a_failing_message_expression_keeps_the_alert_with_a_note_and_warns_once(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        """\
  match: {verbs: [delete]}
  conditions: [{expression: 'true'}]
  messageExpression: "'deleted ' + event.requestObject.metadata.name"
""",
    )
    detector = _load(path)
    first = detector.process(audit_event(verb="delete", resource="pods", audit_id="a-1"))
    second = detector.process(audit_event(verb="delete", resource="pods", audit_id="a-2"))
    where = f"{path.as_posix()}:13"
    for (alert,) in (first, second):
        assert alert.message.startswith("A test detection (note: the messageExpression at ")
        assert where in alert.message and "failed:" in alert.message
        assert len(alert.message) < 250  # the first sentence of the reason; all of it below
        assert dict(alert.hit.evidence)["message_expression_error"].startswith(where)
    assert detector.stats.errors == 0
    (notice,) = detector.notices()
    assert notice.startswith(f"{where}: detection test-detection: messageExpression failed on ")
    assert "audit event a-1" in notice and "carry the title with a note" in notice


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("event.verb == 'delete' ? 7 : 'x'", "it returned int, not a string"),
        ("event.objectRef.namespace", "it returned an empty string"),
    ],
)
def test_a_message_expression_without_a_message_is_noted(
    tmp_path: Path, expression: str, why: str
) -> None:
    body = (
        "  match: {verbs: [delete]}\n  conditions: [{expression: 'true'}]\n"
        f'  message: fallback text\n  messageExpression: "{expression}"\n'
    )
    detector = _load(_write(tmp_path, body))
    (alert,) = detector.process(audit_event(verb="delete", resource="pods", namespace=""))
    assert alert.message.startswith("fallback text (note: the messageExpression at ")
    assert alert.message.endswith(f"failed: {why})")
    assert "carry the message with a note" in detector.notices()[0]


@pytest.mark.parametrize(
    ("conditions", "variables", "message"),
    [
        (["event.verb"], [], "condition must return a bool, not str"),
        (["event.user.groups"], [], "condition must return a bool, not list"),
        (["event.impersonatedUser"], [], "condition must return a bool, not null"),
        (["event.verb == 'get' ? true : event.objectRef.name"], [], "not str"),
        (["variables.who"], [("who", "event.user.username")], "not str"),
    ],
)
def test_a_condition_that_is_not_a_bool_is_refused_at_load(
    tmp_path: Path, conditions: list[str], variables: list[tuple[str, str]], message: str
) -> None:
    declared = "".join(
        f"    - {{name: {name}, expression: '{source}'}}\n" for name, source in variables
    )
    body = "  match: {verbs: [get]}\n"
    body += f"  variables:\n{declared}" if variables else ""
    body += "  conditions:\n" + "".join(f'    - expression: "{c}"\n' for c in conditions)
    path = _write(tmp_path, body)
    loaded = load_detection_files([path], taken_ids=BUILTIN)
    assert loaded.detections == ()
    (error,) = loaded.errors
    condition_line = 12 + (1 + len(variables) if variables else 0) + 1
    assert str(error).startswith(f"{path.as_posix()}:{condition_line}: rule test-detection: ")
    assert message in error.message and "on an event with every field empty" in error.message


def test_expressions_that_read_an_absent_body_are_judged_at_run_time_not_refused(
    tmp_path: Path,
) -> None:
    body = """\
  match: {verbs: [create]}
  variables:
    - {name: spec, expression: "event.requestObject.spec"}
  conditions:
    - expression: "variables.spec.hostNetwork"
    - expression: "event.requestObject != null && event.requestObject.kind == 'Pod'"
  messageExpression: "'host network pod ' + event.requestObject.metadata.name"
"""
    detector = _load(_write(tmp_path, body))
    pod = {"kind": "Pod", "metadata": {"name": "web"}, "spec": {"hostNetwork": True}}
    (alert,) = detector.process(audit_event(verb="create", resource="pods", request=pod))
    assert alert.message == "host network pod web"


def test_a_message_expression_that_is_not_a_string_is_refused_at_load(tmp_path: Path) -> None:
    body = (
        "  match: {verbs: [get]}\n  conditions: [{expression: 'true'}]\n"
        "  messageExpression: event.responseStatus.code\n"
    )
    path = _write(tmp_path, body)
    (error,) = load_detection_files([path], taken_ids=BUILTIN).errors
    assert error.line == 13 and "messageExpression must return a string, not int" in error.message


def test_every_problem_of_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "detections.yaml"
    path.write_text(
        """\
apiVersion: kposture.io/v1
kind: Detection
metadata:
  name: Bad_Name
spec:
  title: A test detection
  severity: urgent
  mitre: {technique: T1552, tactic: credentials}
  description: No period
  match: {verbs: [get], colour: red}
  variables:
    - {name: who, expression: "event.user.username +"}
  conditions:
    - expression: "event.verb"
    - expression: "object.spec"
    - {expresion: "true"}
---
apiVersion: kposture.io/v1
kind: Detection
metadata:
  name: secret-enumeration
spec:
  title: Taken
  severity: low
  mitre: {technique: T1552, tactic: credential-access}
  description: Taken.
  response: Taken.
  match: {verbs: [get]}
  conditions: [{expression: "1 + 1"}]
"""
    )
    loaded = load_detection_files([path], taken_ids=BUILTIN)
    assert loaded.detections == ()
    found = [(error.line, error.message) for error in loaded.errors]
    expected = [
        (5, "spec needs response"),
        (7, "severity must be one of"),
        (10, "unknown field 'colour' in match"),
        (16, "unknown field 'expresion' in a condition"),
        (16, "a condition needs expression"),
        (12, "variable who does not compile"),
        (15, "condition reads unknown name(s) object"),
        (14, "condition must return a bool, not str"),
        (4, "id is not kebab-case"),
        (8, "unknown tactic 'credentials'"),
        (9, "description does not end with a period"),
        (21, "id is already a built-in detection"),
        (29, "condition must return a bool"),
    ]
    for line, message in expected:
        assert any(at == line and message in text for at, text in found), (line, message, found)
    assert len(found) == len(expected), found
