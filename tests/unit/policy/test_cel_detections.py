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
    taken = _write(tmp_path, body, name="secret-read")
    assert (
        "already a built-in detection"
        in load_detection_files([taken], taken_ids=BUILTIN).errors[0].message
    )
    twice = tmp_path / "twice.yaml"
    twice.write_text(HEAD.format(name="mine") + body + "---\n" + HEAD.format(name="mine") + body)
    loaded = load_detection_files([twice], taken_ids=BUILTIN)
    assert len(loaded.detections) == 1
    assert "duplicate detection id (first defined at" in loaded.errors[0].message
