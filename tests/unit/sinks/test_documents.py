"""The kposture.alert/v4 document on stdout (one JSON object per line, stable field names), a
detection's fields in it (the Kind and the plural resource apart, numbers as numbers) and the Slack
payload (text fallback, blocks, escaping, Slack's length limits)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from tests.unit.sinks.alert_samples import detection_alert, finding_alert, transition_alert

from audit_samples import audit_event
from kposture.detections import Detector
from kposture.detections.registry import builtin_detections
from kposture.model.audit import AuditEvent
from kposture.model.incidents import sink_alert
from kposture.model.lifecycle import Change
from kposture.model.rules import Severity
from kposture.sinks.detection_fields import DETECTION_CATEGORIES
from kposture.sinks.documents import ALERT_SCHEMA, alert_document, timestamp
from kposture.sinks.json_lines import JsonLinesSink
from kposture.sinks.slack_payloads import HEADER_LIMIT, SECTION_LIMIT, slack_payload


def test_finding_document_has_every_stable_field() -> None:
    document = alert_document(finding_alert(dedup_key="fp1|opened"))
    assert document == {
        "@timestamp": "2026-03-04T05:06:07.890Z",
        "schema": ALERT_SCHEMA,
        "ecs": {"version": "8.11.0"},
        "message": "container web is privileged",
        "event": {
            "kind": "alert",
            "category": ["configuration"],
            "type": ["creation"],
            "action": "opened",
            "dataset": "kposture.finding",
            "provider": "kposture",
            "severity": 73,
        },
        "rule": {"id": "privileged-container", "ruleset": "kposture-findings"},
        "orchestrator": {
            "type": "kubernetes",
            "cluster": {"name": "prod-eu"},
            "namespace": "shop",
            "api_version": "apps/v1",
            "resource": {"type": "Deployment", "name": "web"},
        },
        "kposture": {
            "source": "finding",
            "rule_id": "privileged-container",
            "severity": "high",
            "change": "opened",
            "cluster": "prod-eu",
            "resource": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "namespace": "shop",
                "name": "web",
            },
            "dedup_key": "fp1|opened",
        },
    }


@pytest.mark.parametrize(
    ("change", "event_type"),
    [("resolved", "deletion"), ("reopened", "creation"), ("suppressed", "change")],
)
def test_event_type_follows_the_change(change: str, event_type: str) -> None:
    assert alert_document(finding_alert(change=change))["event"]["type"] == [event_type]


def test_detection_document_maps_the_audit_event_to_ecs() -> None:
    document = alert_document(detection_alert())
    assert document["event"]["category"] == ["intrusion_detection"]
    assert document["event"]["action"] == "create"
    assert document["event"]["id"] == "5d2c6a55-8f0e-4c1d-9d5a-2b6f1c3e0a11"
    assert document["event"]["severity"] == 99
    assert document["user"] == {"name": "alice@example.com"}
    assert document["source"] == {"ip": "203.0.113.7"}
    assert document["user_agent"] == {"original": "kubectl/v1.30.0"}
    assert document["kposture"]["event"]["resource"] == "pods/exec"
    assert document["rule"]["ruleset"] == "kposture-detections"


def test_a_detection_alert_names_the_kind_and_keeps_the_resource_apart() -> None:
    event = audit_event(
        verb="get", resource="secrets", namespace="shop", name="db", user="mallory", code=200
    )
    (incident,) = Detector().process(event)
    document = alert_document(sink_alert(incident, dt.datetime.now(dt.UTC)))
    assert document["schema"] == "kposture.alert/v4"
    assert document["kposture"]["resource"]["kind"] == "Secret"
    assert document["orchestrator"]["resource"] == {"type": "Secret", "name": "db"}
    assert document["kubernetes"]["audit"]["objectRef"]["resource"] == "secrets"
    assert document["kposture"]["event"]["resource"] == "secrets"
    assert document["http"]["response"]["status_code"] == 200
    assert document["kposture"]["event"]["response_code"] == 200
    assert document["event"]["outcome"] == "success"
    assert document["event"]["category"] == ["intrusion_detection"]  # a read changes no identity
    assert document["rule"]["name"] == incident.meta.title
    technique = incident.meta.technique.id
    assert document["threat"]["technique"]["id"] == [technique]
    assert document["threat"]["technique"]["reference"] == [
        f"https://attack.mitre.org/techniques/{technique.replace('.', '/')}/"
    ]
    assert document["threat"]["tactic"] == {
        "id": ["TA0006"],
        "name": ["Credential Access"],
        "reference": ["https://attack.mitre.org/tactics/TA0006/"],
    }
    assert document["user"] == {"name": "mallory", "group": {"name": ["system:authenticated"]}}
    audit = document["kubernetes"]["audit"]
    assert audit["requestURI"] == "/api/v1/namespaces/shop/secrets/db"
    assert audit["responseStatus"] == {"code": 200}
    assert audit["requestReceivedTimestamp"] == "2024-05-01T10:00:00.000000Z"
    assert "cluster" not in document["orchestrator"]  # unknown: left out, not ""
    assert document["kposture"]["containment"] == incident.containment
    assert document["kposture"]["fingerprint"] == incident.fingerprint
    assert document["kposture"]["references"][0]["id"] == incident.meta.technique.id


def test_a_group_resource_takes_its_group_into_the_api_version() -> None:
    event = audit_event(
        verb="create",
        resource="clusterrolebindings",
        namespace="",
        name="everyone-admin",
        api_group="rbac.authorization.k8s.io",
        code=201,
        request={
            "kind": "ClusterRoleBinding",
            "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "Group", "name": "system:authenticated"}],
        },
    )
    alerts = Detector().process(event)
    assert alerts
    resource = alert_document(sink_alert(alerts[0], dt.datetime.now(dt.UTC)))["kposture"][
        "resource"
    ]
    assert resource["kind"] == "ClusterRoleBinding"
    assert resource["apiVersion"].startswith("rbac.authorization.k8s.io/")


def test_a_custom_resource_without_a_body_has_no_kind_rather_than_a_wrong_one() -> None:
    from kposture.model.incidents import object_kind

    widget = audit_event(verb="delete", resource="widgets", api_group="example.com")
    assert object_kind(widget) == ""
    created = audit_event(
        verb="create", resource="widgets", api_group="example.com", request={"kind": "Widget"}
    )
    assert object_kind(created) == "Widget"
    exec_session = audit_event(verb="create", resource="pods", subresource="exec")
    assert object_kind(exec_session) == "Pod"


def test_the_same_alert_on_another_audit_id_shares_its_dedup_key() -> None:
    def alert(audit_id: str) -> str:
        event = audit_event(
            verb="get", resource="secrets", name="db", user="mallory", audit_id=audit_id
        )
        (incident,) = Detector().process(event)
        return sink_alert(incident, dt.datetime.now(dt.UTC)).dedup_key

    assert alert("a-1") == alert("a-2")


def test_the_same_alert_from_another_client_has_another_dedup_key() -> None:
    def key(agent: str = "kubectl/v1.30.0", ip: str = "10.0.0.1") -> str:
        event = audit_event(
            verb="get", resource="secrets", name="db", user="mallory", agent=agent, ip=ip
        )
        (incident,) = Detector().process(event)
        return sink_alert(incident, dt.datetime.now(dt.UTC)).dedup_key

    assert key() == key()
    assert key(agent="curl/8.5.0") != key()
    assert key(ip="10.0.0.2") != key()


def test_an_alert_without_a_resource_keeps_the_keys() -> None:
    document = alert_document(finding_alert(resource=None))
    assert document["orchestrator"]["resource"] == {"type": "", "name": ""}
    assert document["kposture"]["resource"] is None
    assert "user" not in document


def test_timestamps_are_utc_with_z() -> None:
    import datetime as dt

    naive = dt.datetime(2026, 1, 1, 12, 0, 0)
    assert timestamp(naive) == "2026-01-01T12:00:00.000Z"
    plus_two = dt.datetime(2026, 1, 1, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert timestamp(plus_two) == "2026-01-01T12:00:00.000Z"


def test_stdout_sink_writes_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    sink = JsonLinesSink()
    sink.send(finding_alert("line one\nwith a newline"))
    sink.send(detection_alert())
    sink.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "line one\nwith a newline"
    assert second["kposture"]["source"] == "detection"
    assert list(first)[:5] == ["@timestamp", "schema", "ecs", "message", "event"]
    assert sink.stats.sent == 2
    with pytest.raises(RuntimeError, match="closed"):
        sink.send(finding_alert())


def test_stdout_sink_to_a_given_stream() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out, name="siem")
    sink.send(finding_alert("é unicode stays readable"))
    assert out.getvalue().endswith("\n")
    assert "é unicode" in out.getvalue()
    assert sink.name == "siem"


def test_slack_payload_shape_for_a_finding() -> None:
    payload = slack_payload(finding_alert(severity=Severity.CRITICAL))
    assert payload["text"] == (
        "[CRITICAL] privileged-container opened on Deployment/shop/web in prod-eu: "
        "container web is privileged"
    )
    header, fields, message, context = payload["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert header["text"]["text"] == ":rotating_light: CRITICAL · privileged-container"
    assert [field["text"] for field in fields["fields"]] == [
        "*Severity*\ncritical",
        "*Rule*\nprivileged-container",
        "*Resource*\nDeployment/shop/web",
        "*Change*\nopened",
        "*Cluster*\nprod-eu",
    ]
    assert message == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "container web is privileged"},
    }
    assert context["elements"][0]["text"] == "2026-03-04T05:06:07.890Z"


def test_a_transition_says_why_and_who_as_the_store_does() -> None:
    resolved = alert_document(
        transition_alert(Change.RESOLVED, reason="deleted", changed_by="kubectl-client-side-apply")
    )
    assert resolved["event"]["reason"] == "deleted"
    assert resolved["kposture"] | {"resource": None} == {
        "source": "finding",
        "rule_id": "privileged-container",
        "severity": "critical",
        "change": "resolved",
        "cluster": "prod-eu",
        "resource": None,
        "dedup_key": "af8236b72c2cb2388332:resolved",
        "fingerprint": "af8236b72c2cb2388332",
        "path": "spec.template.spec.containers[0].securityContext.privileged",
        "reason": "deleted",
        "changed_by": "kubectl-client-side-apply",
        "suppressed_by": "",
    }
    exception = "annotation: accepted until the rewrite (until 2026-12-31)"
    suppressed = alert_document(transition_alert(Change.SUPPRESSED, reason=exception))
    assert suppressed["kposture"]["suppressed_by"] == exception
    assert suppressed["kposture"]["reason"] == exception
    assert suppressed["event"]["type"] == ["change"]
    opened = alert_document(transition_alert(Change.OPENED))
    assert "reason" not in opened["event"]
    assert opened["kposture"]["reason"] == opened["kposture"]["suppressed_by"] == ""
    assert opened["kposture"]["changed_by"] == "kubectl-patch"


def test_slack_payload_of_a_transition_says_why_and_who() -> None:
    payload = slack_payload(
        transition_alert(Change.RESOLVED, reason="fixed", changed_by="kubectl-patch")
    )
    assert payload["text"] == (
        "[CRITICAL] privileged-container resolved (fixed) on Deployment/shop/web in prod-eu "
        "by kubectl-patch: container web is privileged"
    )
    texts = [field["text"] for field in payload["blocks"][1]["fields"]]
    assert texts[-2:] == ["*Reason*\nfixed", "*Changed by*\nkubectl-patch"]


def test_slack_payload_for_a_detection_names_who_and_from_where() -> None:
    payload = slack_payload(detection_alert())
    texts = [field["text"] for field in payload["blocks"][1]["fields"]]
    assert "*User*\nalice@example.com" in texts
    assert "*Source IP*\n203.0.113.7" in texts
    assert "*Change*\ndetected" in texts
    assert "audit ID 5d2c6a55" in payload["blocks"][3]["elements"][0]["text"]


def test_slack_escapes_markup_and_respects_limits() -> None:
    long_rule = "r" * 400
    payload = slack_payload(finding_alert("<!channel> & " + "x" * 5000, rule_id=long_rule))
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == HEADER_LIMIT
    assert header.endswith("…")
    section = payload["blocks"][2]["text"]["text"]
    assert section.startswith("&lt;!channel&gt; &amp; ")
    assert len(section) == SECTION_LIMIT
    assert len(payload["text"]) <= SECTION_LIMIT
    assert "<!channel>" not in json.dumps(payload)
    assert len(payload["blocks"][1]["fields"]) <= 10


def test_the_impersonated_identity_is_the_effective_user() -> None:
    """ECS puts the identity a request acts as under user.effective (user.target is the user a
    request acts upon, such as the account it creates)."""
    event = audit_event(impersonated={"username": "bob", "groups": ["dev", "ops"]})
    (incident,) = Detector().process(event)
    user = alert_document(sink_alert(incident, dt.datetime.now(dt.UTC)))["user"]
    assert user["name"] == "alice"
    assert user["effective"] == {"name": "bob", "group": {"name": ["dev", "ops"]}}
    assert "target" not in user


def test_the_audit_block_never_holds_a_body() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}
    event = audit_event(
        verb="create",
        resource="secrets",
        namespace="kube-system",
        name="db",
        code=201,
        request=secret,
        response=secret,
    )
    (incident,) = Detector().process(event)
    document = alert_document(sink_alert(incident, dt.datetime.now(dt.UTC)))
    assert "aHVudGVyMg==" not in json.dumps(document)
    assert not {"requestObject", "responseObject"} & set(document["kubernetes"]["audit"])


def _categories(event: AuditEvent, detection_id: str) -> list[str]:
    (incident,) = [a for a in Detector().process(event) if a.detection_id == detection_id]
    return list(alert_document(sink_alert(incident, dt.datetime.now(dt.UTC)))["event"]["category"])


def test_each_detection_has_the_categories_of_what_it_is_about() -> None:
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
    }
    created = audit_event(verb="create", namespace="shop", name="p", request=privileged, code=201)
    assert _categories(created, "privileged-pod-created") == [
        "intrusion_detection",
        "host",
        "configuration",
    ]
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "User", "name": "mallory"}],
    }
    granted = audit_event(
        verb="create",
        resource="clusterrolebindings",
        api_group="rbac.authorization.k8s.io",
        namespace="",
        name="b",
        request=binding,
        code=201,
    )
    assert _categories(granted, "cluster-admin-granted") == ["intrusion_detection", "iam"]


def test_iam_is_only_for_the_detections_of_identities_and_their_rights() -> None:
    identity = {
        "cluster-admin-granted",
        "sensitive-role-created",
        "system-role-modified",
        "serviceaccount-in-system-namespace",
        "sa-token-created",
        "client-certificate-created",
        "impersonation-used",
    }
    builtin = {detection.meta.id for detection in builtin_detections()}
    assert set(DETECTION_CATEGORIES) == builtin  # a new detection is classified when added
    assert {d for d, categories in DETECTION_CATEGORIES.items() if "iam" in categories} == identity
