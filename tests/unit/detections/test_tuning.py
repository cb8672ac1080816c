"""The detection allowlist (policy file ``detections.allowlist``) as the detector applies it, and the
dispatch by interest and gates: a reader that passes over the events no detection wants gives
exactly the alerts of a reader that builds every event."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from audit_samples import audit_event, raw_event
from kposture.detections import Detector
from kposture.detections.tuning import Allowlist
from kposture.model.audit import AuditEvent, EventOrigin
from kposture.model.detection_tuning import REASON_PLACEHOLDER, AllowEntry
from kposture.sources.audit_logs import AuditLogReader, event_from_k8s
from kposture.sources.policy_file import PolicyFileError, parse_policy

TODAY = dt.date(2026, 1, 10)


def _secret_read(**kwargs: Any) -> AuditEvent:
    return audit_event(verb="get", resource="secrets", namespace="shop", name="db", **kwargs)


def event(raw: dict[str, Any]) -> AuditEvent:
    return event_from_k8s(raw, EventOrigin("test.jsonl", 1))


def _detector(*entries: AllowEntry) -> Detector:
    return Detector(allowlist=Allowlist(entries), today=TODAY)


def test_allowlisted_hits_are_counted_not_alerted() -> None:
    entry = AllowEntry(
        ("secret-read-by-person",), "backup job", users=("alice",), line=7, source="p.yaml"
    )
    detector = _detector(entry)
    assert detector.process(_secret_read()) == []
    assert detector.stats.allowlisted == 1
    assert detector.stats.allowlisted_by_detection == {"secret-read-by-person": 1}
    assert detector.stats.allowlisted_by_entry == {"p.yaml:7": 1}
    alerts = detector.process(_secret_read(user="bob"))
    assert [a.detection_id for a in alerts] == ["secret-read-by-person"]
    assert detector.stats.alerts_by_detection == {"secret-read-by-person": 1}


def test_an_expired_entry_is_not_applied_and_named_once_in_the_notices() -> None:
    expired = AllowEntry(
        ("secret-read-by-person",),
        "backup job",
        users=("alice",),
        expires="2026-01-09",
        source="p.yaml",
        line=7,
    )
    current = AllowEntry(
        ("*",), "ci", users=("ci",), expires="2026-01-10", source="p.yaml", line=12
    )
    detector = _detector(expired, current)
    assert [a.detection_id for a in detector.process(_secret_read())] == ["secret-read-by-person"]
    assert detector.process(_secret_read(user="ci")) == []
    detector.process(_secret_read())
    assert detector.notices() == [
        "p.yaml:7: allowlist entry for secret-read-by-person expired on 2026-01-09; it is no longer "
        "applied (backup job)"
    ]


def test_entry_for_another_detection_does_not_apply() -> None:
    detector = _detector(AllowEntry(("pod-exec",), "r", users=("alice",)))
    assert len(detector.process(_secret_read())) == 1


@pytest.mark.parametrize(
    ("entry", "covered"),
    [
        (AllowEntry(("*",), "r", users=("ali*",)), True),
        (AllowEntry(("*",), "r", groups=("devs",)), False),
        (AllowEntry(("*",), "r", groups=("system:auth*",)), True),
        (AllowEntry(("*",), "r", namespaces=("shop",)), True),
        (AllowEntry(("*",), "r", namespaces=("prod-*",)), False),
        (AllowEntry(("*",), "r", user_agents=("kubectl/*",)), True),
        (AllowEntry(("*",), "r", user_agents=("helm/*",)), False),
        (AllowEntry(("*",), "r", source_ranges=("10.0.0.0/24",)), True),
        (AllowEntry(("*",), "r", source_ranges=("192.168.0.0/16",)), False),
        (AllowEntry(("*",), "r", users=("alice",), namespaces=("other",)), False),  # all fields
        (AllowEntry(("*",), "r", users=("alice",), expires="2026-01-10"), True),  # last day
        (AllowEntry(("*",), "r", users=("alice",), expires="2026-01-09"), False),  # expired
        (AllowEntry(("*",), "r", service_accounts=("shop/*",)), False),
    ],
)
def test_entry_fields(entry: AllowEntry, covered: bool) -> None:
    detector = _detector(entry)
    alerts = detector.process(_secret_read())
    assert (alerts == []) is covered


def test_source_ranges_match_the_peer_only() -> None:
    account = "system:serviceaccount:ci:deployer"
    entry = AllowEntry(("*",), "r", service_accounts=("ci/deploy*",), source_ranges=("10.0.0.0/8",))
    detector = _detector(entry)
    assert detector.process(_secret_read(user=account)) == []
    forwarded = raw_event("get", "secrets", namespace="shop", name="db", user=account)
    forwarded["sourceIPs"] = ["203.0.113.9", "10.0.0.1"]  # a claimed address, then the peer
    assert detector.process(event(forwarded)) == []
    forged = raw_event("get", "secrets", namespace="shop", name="db", user=account)
    forged["sourceIPs"] = ["10.0.0.1", "203.0.113.9"]  # X-Forwarded-For claims an inside address
    assert len(detector.process(event(forged))) == 1
    unknown = raw_event("get", "secrets", namespace="shop", name="db", user=account)
    unknown["sourceIPs"] = []
    assert len(detector.process(event(unknown))) == 1


POLICY = """\
apiVersion: kposture.io/v1
kind: Policy
detections:
  allowlist:
    secret-read-cross-namespace:
      - serviceAccounts: [argocd/argocd-server]
        reason: Argo CD reads repository credentials
        expires: 2027-01-31
    "*":
      - userAgents: ["velero/*"]
        sourceRanges: [10.0.0.0/8]
        reason: backups
  custom: [detections/]
"""


def test_policy_file_block() -> None:
    parsed = parse_policy(POLICY, "p.yaml")
    first, second = parsed.detection_allowlist
    assert first.detections == ("secret-read-cross-namespace",) and first.line == 6
    assert first.service_accounts == ("argocd/argocd-server",) and first.expires == "2027-01-31"
    assert second.detections == ("*",) and second.source_ranges == ("10.0.0.0/8",)
    assert parsed.detection_references == (("secret-read-cross-namespace", 5),)
    assert parsed.custom_detections == (("detections/", 13),)


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("      - users: [a]", 6, "needs a reason"),
        ("      - reason: r", 6, "needs users, groups"),
        ("      - {reason: r, sourceRanges: [10.0.0.0/33]}", 6, "is not an address or CIDR"),
        ("      - {reason: r, serviceAccounts: [argocd]}", 6, "must be namespace/name"),
        ("      - {reason: r, users: [a], expires: soon}", 6, "expires must be a date"),
        ("      - {reason: r, user: [a]}", 6, "unknown key 'user'"),
        ("      - {reason: r, userAgents: [argocd-repo-server/*]}", 6, "who sends them"),
        ("      - {reason: r, userAgents: [velero/*], namespaces: [velero]}", 6, "who sends them"),
    ],
)
def test_policy_file_errors_name_the_line(entry: str, line: int, message: str) -> None:
    head = "apiVersion: kposture.io/v1\nkind: Policy\ndetections:\n  allowlist:\n"
    text = f"{head}    secret-read-by-person:\n{entry}\n"
    with pytest.raises(PolicyFileError) as error:
        parse_policy(text, "p.yaml")
    assert str(error.value).startswith(f"p.yaml:{line}:")
    assert message in str(error.value)


@pytest.mark.parametrize(
    "entry",
    [
        "{users: [], reason: z}",
        "{namespaces: [], reason: z}",
        "{groups: ~, reason: z}",
        "{serviceAccounts: null, reason: z}",
        "{sourceRanges: [], users: [a], reason: z}",
    ],
)
def test_an_empty_condition_is_refused_at_its_line(entry: str) -> None:
    """The matcher skips a condition that holds nothing, so an empty one would cover everyone."""
    text = f"""\
apiVersion: kposture.io/v1
kind: Policy
detections:
  allowlist:
    pod-exec:
      - {entry}
"""
    with pytest.raises(PolicyFileError) as error:
        parse_policy(text, "p.yaml")
    assert str(error.value).startswith("p.yaml:6: ")
    message = "an empty list matches nothing to allow (remove the field or name at least one)"
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{users: [minikube-user], reason: null}", "every allowlist entry needs a reason"),
        ("{users: [minikube-user], reason: ~}", "every allowlist entry needs a reason"),
        ("{groups: {}, users: [a], reason: z}", "groups must be a list of strings"),
        ("{groups: [[]], users: [a], reason: z}", "groups must be a single value"),
        ("{users: [''], reason: z}", "users: an empty value matches nothing"),
        ("{users: [null], reason: z}", "users: an empty value matches nothing"),
        ("{users: [a], namespaces: [shop, ''], reason: z}", "namespaces: an empty value"),
    ],
)
def test_a_null_reason_or_a_wrongly_typed_or_empty_value_is_refused(
    entry: str, message: str
) -> None:
    """Each used to load: a null reason read as the text 'null', and the conditions were read
    after the entry's problems were raised, so a mapping where a list belongs dropped the
    condition (the entry covered more than was written) and an empty name matched nothing."""
    text = f"""\
apiVersion: kposture.io/v1
kind: Policy
detections:
  allowlist:
    pod-exec:
      - {entry}
"""
    with pytest.raises(PolicyFileError) as error:
        parse_policy(text, "p.yaml")
    assert str(error.value).startswith("p.yaml:6: ")
    assert message in str(error.value)


def test_an_empty_who_does_not_pass_the_user_agents_check() -> None:
    text = """\
apiVersion: kposture.io/v1
kind: Policy
detections:
  allowlist:
    pod-exec:
      - userAgents: ["*"]
        users: []
        reason: z
"""
    with pytest.raises(PolicyFileError) as error:
        parse_policy(text, "p.yaml")
    problems = str(error.value).split("; ")
    assert problems[0].startswith("p.yaml:7: users: an empty list matches nothing")
    assert problems[1].startswith("p.yaml:6: an allowlist entry with userAgents must also say who")


def test_the_matcher_refuses_an_entry_with_no_condition() -> None:
    with pytest.raises(ValueError, match=r"p\.yaml:3: an allowlist entry with no condition"):
        Allowlist([AllowEntry(("pod-exec",), "z", users=(), source="p.yaml", line=3)])


def test_every_mistake_of_the_detections_block_is_reported_at_once() -> None:
    text = """\
apiVersion: kposture.io/v1
kind: Policy
detections:
  allowlist:
    secret-read-by-person:
      - {users: [a], sourceRanges: [10.0.0.0/33, 300.1.1.1], expires: soon}
      - {reason: r, users: [b]}
      - {reason: ok, serviceAccounts: [argocd]}
    pod-exec: not-a-list
  custom: [detections/, ""]
"""
    with pytest.raises(PolicyFileError) as error:
        parse_policy(text, "p.yaml")
    problems = str(error.value).split("; ")
    expected = [
        "p.yaml:6: every allowlist entry needs a reason",
        "p.yaml:6: source range '10.0.0.0/33' is not an address or CIDR",
        "p.yaml:6: source range '300.1.1.1' is not an address or CIDR",
        "p.yaml:6: expires must be a date",
        "p.yaml:8: service account 'argocd' must be namespace/name",
        "p.yaml:9: detections.allowlist.pod-exec must be a list",
        "p.yaml:10: a detections.custom entry must be a path",
    ]
    assert len(problems) == len(expected), problems
    for problem, wanted in zip(problems, expected, strict=True):
        assert problem.startswith(wanted), (problem, wanted)


def _alerts(path: Path, prefilter: bool) -> list[tuple[str, str, str]]:
    detector = Detector()
    reader = AuditLogReader(keep=detector.wants if prefilter else None)
    found = detector.process_all(reader.read_file(path))
    return [(a.detection_id, a.event.audit_id, a.message) for a in found]


def test_prefilter_gives_the_same_alerts(tmp_path: Path, corpus: Path) -> None:
    """Passing over the events no detection wants changes no alert: on a generated mix (the
    benchmark's, with many identities and origins) and on every Falco corpus file."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
    from audit_benchmark import Generator

    log = tmp_path / "audit.log"
    generator = Generator(3)
    generator.random = random.Random(3)
    with log.open("w") as out:
        for item in generator.events(20_000):
            out.write(json.dumps(item) + "\n")
    full = _alerts(log, prefilter=False)
    assert full and _alerts(log, prefilter=True) == full
    traces = sorted((corpus / "auditlogs" / "falco" / "trace_files").glob("*.json*"))
    assert len(traces) > 40, "the Falco trace files are where the corpus keeps them"
    alerting = 0
    for path in traces:
        unfiltered = _alerts(path, False)
        assert _alerts(path, True) == unfiltered, path.name
        alerting += bool(unfiltered)
    assert alerting >= 20, "most suspicious trace files alert, so the comparison compares alerts"


def test_a_reason_still_holding_detect_tunes_placeholder_is_rejected_with_its_line() -> None:
    text = f"""\
apiVersion: kposture.io/v1
kind: Policy
detections:
  allowlist:
    secret-read-by-person:
      - users: [ci-bot]
        reason: "{REASON_PLACEHOLDER}"
"""
    with pytest.raises(PolicyFileError) as error:
        parse_policy(text, "p.yaml")
    assert str(error.value).startswith("p.yaml:7: the reason still holds detect tune's placeholder")
    filled = text.replace(REASON_PLACEHOLDER, "the CI pipeline reads the deploy key")
    assert parse_policy(filled, "p.yaml").detection_allowlist[0].users == ("ci-bot",)


@pytest.mark.parametrize(
    "who",
    [
        "users: [ci-bot]",
        "groups: [ci]",
        "serviceAccounts: [velero/velero]",
        "sourceRanges: [10.0.0.0/8]",
    ],
)
def test_user_agents_are_accepted_with_who_sends_them(who: str) -> None:
    head = "apiVersion: kposture.io/v1\nkind: Policy\ndetections:\n  allowlist:\n"
    text = f"{head}    '*':\n      - {{reason: r, userAgents: [velero/*], {who}}}\n"
    assert parse_policy(text, "p.yaml").detection_allowlist[0].user_agents == ("velero/*",)


def test_namespaces_alone_stay_allowed() -> None:
    head = "apiVersion: kposture.io/v1\nkind: Policy\ndetections:\n  allowlist:\n"
    text = f"{head}    pod-exec:\n      - {{reason: debugging sandbox, namespaces: [sandbox]}}\n"
    assert parse_policy(text, "p.yaml").detection_allowlist[0].namespaces == ("sandbox",)
