"""Reading audit logs: Kubernetes events and batches, the EKS, GKE and AKS envelopes, and the records
that are skipped (malformed, truncated, not events, over the size limit) with file:line messages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from audit_samples import raw_event
from kposture.model.audit import REDACTED, AuditEvent
from kposture.sources.audit_logs import (
    AuditLogReader,
    Envelope,
    IssueKind,
    parse_time,
)


def read(text: str | bytes, **kwargs: object) -> tuple[list[AuditEvent], AuditLogReader]:
    reader = AuditLogReader(**kwargs)  # type: ignore[arg-type]
    data = text.encode() if isinstance(text, str) else text
    return list(reader.read_stream(io.BytesIO(data), "audit.log")), reader


def lines(*records: object) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def test_reads_v1_event_fields() -> None:
    raw = raw_event(
        "create",
        "pods",
        subresource="exec",
        user="bob",
        groups=("dev", "system:authenticated"),
        code=101,
        impersonated={"username": "carol", "groups": ["ops"]},
    )
    raw["user"]["extra"] = {"token-claim": ["secret-looking"]}
    events, reader = read(lines(raw))
    (event,) = events
    assert event.verb == "create"
    assert event.user.username == "bob"
    assert event.user.groups == ("dev", "system:authenticated")
    assert event.user.extra_keys == ("token-claim",)
    assert "secret-looking" not in repr(event)
    assert event.impersonated_user is not None and event.impersonated_user.username == "carol"
    assert event.ref.resource_path == "pods/exec"
    assert event.response_code == 101 and event.allowed
    assert event.received_at is not None and event.received_at.year == 2024
    assert event.decision == "allow"
    assert event.origin.file == "audit.log" and event.origin.line == 1
    assert reader.stats.events == 1 and reader.stats.skipped_total == 0


def test_the_source_ip_is_the_peer_the_api_server_saw_and_the_rest_is_claimed() -> None:
    record = raw_event()
    record["sourceIPs"] = ["198.51.100.7", "10.9.9.9", "203.0.113.4"]  # X-Forwarded-For, peer
    ((event,), _) = read(lines(record))
    assert event.source_ip == "203.0.113.4"
    assert event.claimed_source_ips == ("198.51.100.7", "10.9.9.9")
    record["sourceIPs"] = ["203.0.113.4"]
    ((alone,), _) = read(lines(record))
    assert alone.source_ip == "203.0.113.4" and alone.claimed_source_ips == ()


def test_v1beta1_and_eventlist_batches() -> None:
    first = raw_event(user="a")
    first["apiVersion"] = "audit.k8s.io/v1beta1"
    batch = {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [first, raw_event(user="b")],
    }
    events, reader = read(lines(batch, raw_event(user="c")))
    assert [e.user.username for e in events] == ["a", "b", "c"]
    assert reader.stats.events == 3


def test_pretty_printed_eventlist_is_read_whole() -> None:
    batch = {"kind": "EventList", "items": [raw_event(user="a"), raw_event(user="b")]}
    events, _ = read(json.dumps(batch, indent=2))
    assert [e.user.username for e in events] == ["a", "b"]


def test_secret_values_are_never_kept() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"pw":"aHVudGVyMg=="}}'
            },
        },
        "data": {"pw": "aHVudGVyMg=="},
        "stringData": {"pw": "hunter2"},
    }
    listed = {"kind": "SecretList", "items": [secret]}
    patch = {"data": {"pw": "aHVudGVyMg=="}, "metadata": {"labels": {"a": "b"}}}
    events, _ = read(
        lines(
            raw_event("create", "secrets", request=secret, response=secret),
            raw_event("list", "secrets", response=listed),
            raw_event("patch", "secrets", request=patch),
            raw_event("create", "configmaps", request={"kind": "List", "items": [secret]}),
        )
    )
    text = repr(events)
    assert "aHVudGVyMg" not in text and "hunter2" not in text
    assert events[0].request_object is not None
    assert events[0].request_object["metadata"]["name"] == "db"
    assert events[2].request_object == {"metadata": {"labels": {"a": "b"}}}
    with pytest.raises(TypeError):
        events[0].request_object["data"] = {}  # type: ignore[index]
    assert REDACTED  # the marker exists for renderers


def test_eks_cloudwatch_lines_and_subscription_batches() -> None:
    inner = raw_event(user="eks-user")
    export = {
        "timestamp": 1714557600000,
        "message": json.dumps(inner),
        "logStreamName": "kube-apiserver-audit",
    }
    subscription = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": "1", "timestamp": 1, "message": json.dumps(raw_event(user="x"))}],
    }
    events, reader = read(lines(export, subscription), envelope=Envelope.EKS)
    assert [e.user.username for e in events] == ["eks-user", "x"]
    assert {e.origin.envelope for e in events} == {"eks"}
    assert reader.stats.skipped_total == 0


def test_aks_diagnostic_logs_and_event_hub_records() -> None:
    inner = raw_event(user="aks-user")
    record = {
        "category": "kube-audit",
        "properties": {"log": json.dumps(inner), "stream": "stdout"},
    }
    hub = {"records": [record, record]}
    events, _ = read(lines(record, hub))
    assert [e.user.username for e in events] == ["aks-user"] * 3
    assert events[0].origin.envelope == "aks"


def gke_entry(**payload: object) -> dict[str, object]:
    base: dict[str, object] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "methodName": "io.k8s.core.v1.pods.exec.create",
        "authenticationInfo": {"principalEmail": "dev@example.com"},
        "requestMetadata": {"callerIp": "203.0.113.9", "callerSuppliedUserAgent": "kubectl/v1.29"},
        "resourceName": "core/v1/namespaces/shop/pods/web-1/exec",
        "status": {"code": 0},
    }
    base.update(payload)
    return {
        "protoPayload": base,
        "insertId": "abc",
        "timestamp": "2024-05-01T10:00:00.123456789Z",
        "labels": {"authorization.k8s.io/decision": "allow"},
        "resource": {"type": "k8s_cluster"},
    }


def test_gke_cloud_audit_log_entry_maps_its_fields() -> None:
    denied = gke_entry(
        methodName="io.k8s.authorization.rbac.v1.clusterrolebindings.create",
        resourceName="rbac.authorization.k8s.io/v1/clusterrolebindings/admin-all",
        status={"code": 7, "message": "forbidden"},
    )
    events, _ = read(
        lines(
            gke_entry(),
            denied,
            gke_entry(
                resourceName="core/v1/namespaces/foo", methodName="io.k8s.core.v1.namespaces.delete"
            ),
        )
    )
    exec_event, rbac_event, namespace_event = events
    assert exec_event.verb == "create"
    assert exec_event.user.username == "dev@example.com"
    assert exec_event.source_ips == ("203.0.113.9",)
    assert exec_event.user_agent == "kubectl/v1.29"
    assert exec_event.ref.resource_path == "pods/exec"
    assert (exec_event.ref.namespace, exec_event.ref.name) == ("shop", "web-1")
    assert exec_event.response_code == 200 and exec_event.allowed
    assert exec_event.received_at is not None and exec_event.received_at.microsecond == 123456
    assert exec_event.origin.envelope == "gke"
    assert rbac_event.ref.api_group == "rbac.authorization.k8s.io"
    assert rbac_event.ref.name == "admin-all" and rbac_event.ref.namespace == ""
    assert rbac_event.response_code == 403 and rbac_event.forbidden
    assert (namespace_event.ref.resource, namespace_event.ref.name) == ("namespaces", "foo")


def test_the_cluster_is_taken_from_envelopes_that_name_it() -> None:
    inner = json.dumps(raw_event())
    subscription = {
        "messageType": "DATA_MESSAGE",
        "logGroup": "/aws/eks/prod-eu/cluster",
        "logEvents": [{"id": "1", "timestamp": 1, "message": inner}],
    }
    aks = {
        "category": "kube-audit",
        "resourceId": "/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/"
        "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-SHOP",
        "properties": {"log": inner},
    }
    gke = gke_entry()
    gke["resource"] = {"type": "k8s_cluster", "labels": {"cluster_name": "gke-web"}}
    events, _ = read(lines(subscription, {"records": [aks]}, gke, raw_event()))
    assert [e.origin.cluster for e in events] == ["prod-eu", "AKS-SHOP", "gke-web", ""]
    pretty, _ = read(json.dumps(subscription, indent=2) + "\n")
    assert [e.origin.cluster for e in pretty] == ["prod-eu"]


def test_gke_array_export_read_whole() -> None:
    events, _ = read(json.dumps([gke_entry(), gke_entry()], indent=1))
    assert len(events) == 2


def test_malformed_truncated_and_foreign_records_are_counted_and_skipped() -> None:
    good = json.dumps(raw_event(user="ok"))
    text = "\n".join(
        [
            good,
            "this is not json",
            good[: len(good) // 2],
            json.dumps({"kind": 0}),
            json.dumps({"kind": "EventList", "items": [raw_event(user="kept"), 5]}),
            "",
            good,
        ]
    )
    messages: list[str] = []
    events, reader = read(text, on_issue=lambda issue: messages.append(issue.display()))
    assert [e.user.username for e in events] == ["ok", "kept", "ok"]
    skipped = reader.stats.skipped
    assert skipped[IssueKind.MALFORMED] == 1
    assert skipped[IssueKind.TRUNCATED] == 1
    assert skipped[IssueKind.NOT_AN_EVENT] == 2
    assert messages[0].startswith("audit.log:2: skipped (malformed)")
    assert messages[1].startswith("audit.log:3: skipped (truncated)")
    assert "audit.log:4:" in messages[2]
    assert "audit.log:5:" in messages[3] and "EventList item 1:" in messages[3]


def test_an_empty_array_line_is_counted_and_named_like_other_records_without_an_event() -> None:
    good = json.dumps(raw_event(user="ok"))
    messages: list[str] = []
    events, reader = read(f"{good}\n[]\n", on_issue=lambda issue: messages.append(issue.display()))
    assert [e.user.username for e in events] == ["ok"]
    assert reader.stats.skipped[IssueKind.NOT_AN_EVENT] == 1
    assert messages == [
        "audit.log:2: skipped (not-an-event): an empty JSON array carries no audit record"
    ]


def test_an_input_of_only_empty_event_lists_or_nothing_is_named_as_empty() -> None:
    empty_list = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []}
    pretty = json.dumps(empty_list, indent=2) + "\n"
    for text in ("", "\n\n", lines(empty_list, empty_list), pretty):
        events, reader = read(text)
        assert events == [] and reader.stats.empty == ["audit.log"], text
        assert reader.stats.unreadable == [] and reader.stats.issues == []
    healthy = lines(empty_list, raw_event(user="ok"), empty_list)
    events, reader = read(healthy)
    assert [e.user.username for e in events] == ["ok"] and reader.stats.empty == []
    passed_over = read(lines(raw_event(user="ok")), keep=lambda raw: False)[1]
    assert passed_over.stats.read == 1 and passed_over.stats.empty == []
    binary = read(b"\x00\x01\xfe\xff garbage\n")[1]
    assert binary.stats.empty == [] and binary.stats.unreadable == [("audit.log", 1)]


def test_empty_event_lists_in_a_webhook_stream_are_passed_over_silently() -> None:
    reader = AuditLogReader()
    assert list(reader.parse_batch([], "webhook", 0)) == []
    batch = [raw_event(user="ok")]
    assert [e.user.username for e in reader.parse_batch(batch, "webhook", 0)] == ["ok"]
    assert reader.stats.issues == [] and reader.stats.empty == []


def test_truncated_first_line_does_not_lose_the_rest() -> None:
    good = json.dumps(raw_event(user="ok"))
    events, reader = read(good[:40] + "\n" + good + "\n")
    assert [e.user.username for e in events] == ["ok"]
    assert reader.stats.skipped[IssueKind.TRUNCATED] == 1


def test_huge_events_are_skipped_without_reading_them_whole() -> None:
    small = json.dumps(raw_event(user="small"))
    big = json.dumps(
        raw_event(user="big", request={"kind": "ConfigMap", "data": {"x": "y" * 5000}})
    )
    events, reader = read(
        lines(json.loads(small), json.loads(big), json.loads(small)), max_event_bytes=2000
    )
    assert [e.user.username for e in events] == ["small", "small"]
    assert reader.stats.skipped[IssueKind.HUGE] == 1
    assert reader.stats.issues[0].line == 2


def test_format_option_refuses_other_envelopes() -> None:
    events, reader = read(lines(raw_event(), gke_entry()), envelope=Envelope.GKE)
    assert len(events) == 1 and events[0].origin.envelope == "gke"
    assert "not gke" in reader.stats.issues[0].message


def test_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(lines(raw_event(), raw_event()))
    assert len(list(AuditLogReader().read_file(path))) == 2


def test_parse_time() -> None:
    assert parse_time("2024-05-01T10:00:00Z") is not None
    assert parse_time("2024-05-01T10:00:00.123456789+02:00") is not None
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


def test_a_bad_batch_item_is_skipped_alone_and_the_items_after_it_are_read() -> None:
    no_user = raw_event(user="x")
    del no_user["user"]
    batch = {
        "kind": "EventList",
        "items": [raw_event(user="a"), 5, {"kind": "Event"}, raw_event(user="b"), no_user],
    }
    batch["items"].append(raw_event(user="c"))
    messages: list[str] = []
    events, reader = read(
        lines(raw_event(user="first"), batch),
        on_issue=lambda issue: messages.append(issue.display()),
    )
    assert [e.user.username for e in events] == ["first", "a", "b", "c"]
    assert reader.stats.skipped[IssueKind.NOT_AN_EVENT] == 3 and reader.stats.events == 4
    assert [m.split(": ", 2)[1:] for m in messages] == [
        ["skipped (not-an-event)", "EventList item 1: a JSON int is not an event"],
        [
            "skipped (not-an-event)",
            "EventList item 2: kind 'Event' with no verb is not an audit event",
        ],
        ["skipped (not-an-event)", "EventList item 4: event has no user"],
    ]
    assert all(m.startswith("audit.log:2:") for m in messages)


def test_bad_items_of_cloud_batches_are_skipped_alone() -> None:
    subscription = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [
            {"id": "1", "message": json.dumps(raw_event(user="e1"))},
            {"id": "2", "message": "I0501 10:00:00 not an event"},
            {"id": "3", "message": json.dumps(raw_event(user="e2"))},
        ],
    }
    record = {"category": "kube-audit", "properties": {"log": json.dumps(raw_event(user="h1"))}}
    hub = {"records": [record, {"category": "kube-audit", "properties": {}}, "x", record]}
    events, reader = read(lines(subscription, hub))
    assert [e.user.username for e in events] == ["e1", "e2", "h1", "h1"]
    messages = [issue.message for issue in reader.stats.issues]
    assert messages[0].startswith("logEvents item 1: message is not JSON")
    assert messages[1] == "records item 1: an AKS record without properties.log"
    assert messages[2] == "records item 2: a JSON str is not an AKS record"
    assert [issue.line for issue in reader.stats.issues] == [1, 2, 2]


def test_aks_records_of_other_categories_are_only_counted() -> None:
    audit = {"category": "kube-audit", "properties": {"log": json.dumps(raw_event(user="a"))}}
    admin = {
        "category": "kube-audit-admin",
        "properties": {"log": json.dumps(raw_event("create", user="b"))},
    }
    apiserver = {
        "category": "kube-apiserver",
        "properties": {"log": "I0501 10:00:00.000000 1 trace.go:236] Trace...", "pod": "x"},
    }
    guard = {"category": "guard", "properties": {"log": "{not json"}}
    autoscaler = {"category": "cluster-autoscaler", "properties": {"stream": "stderr"}}
    hub = {"records": [apiserver, audit, guard, autoscaler, admin]}
    messages: list[str] = []
    events, reader = read(
        lines(apiserver, hub, guard, audit), on_issue=lambda issue: messages.append(str(issue))
    )
    assert [e.user.username for e in events] == ["a", "b", "a"]
    assert messages == [] and reader.stats.issues == []
    assert reader.stats.skipped[IssueKind.OTHER_CATEGORY] == 5
    assert reader.stats.skipped_total == 5


def test_parse_batch_skips_bad_items_as_detect_does() -> None:
    reader = AuditLogReader()
    events = list(reader.parse_batch([raw_event(user="a"), [], raw_event(user="b")], "webhook", 0))
    assert [e.user.username for e in events] == ["a", "b"]
    assert reader.stats.events == 2 and reader.stats.skipped[IssueKind.NOT_AN_EVENT] == 1
    assert reader.stats.issues[0].message == "EventList item 1: a JSON list is not an event"
    assert events[0].origin.envelope == "k8s"
