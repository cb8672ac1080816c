"""The webhook's HTTP surface over the ASGI app (no sockets): responses in both review versions,
every malformed or oversized input answered with a 4xx naming the problem, the decision sink, logs
and metrics."""

from __future__ import annotations

import json
import logging

import pytest
from tests.unit.server.admission_support import (
    SECRET_VALUE,
    AsgiClient,
    body,
    decider,
    pod,
    review,
    secret,
)

from kposture.model.admission import AdmissionDecision, AdmissionMode, AdmissionPolicy, ModeSetting
from kposture.server.app import create_app

JSON = {"content-type": "application/json"}


def client(admission: AdmissionPolicy | None = None, record: object = None) -> AsgiClient:
    return AsgiClient(create_app(decider(admission), record=record))  # type: ignore[arg-type]


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_validate_denies_in_the_request_version(api_version: str) -> None:
    data = review(pod(privileged=True), api_version=api_version, uid="abc-123")
    reply = client(AdmissionPolicy(mode=AdmissionMode.ENFORCE)).post(
        "/validate", content=body(data), headers=JSON
    )
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["apiVersion"] == api_version
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == "abc-123"
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert "[privileged-container]" in response["status"]["message"]


def test_validate_warns() -> None:
    reply = client().post("/validate", content=body(review(pod(privileged=True))), headers=JSON)
    response = reply.json()["response"]
    assert response["allowed"] is True
    assert "[privileged-container] container 'app' runs privileged" in response["warnings"]
    assert "status" not in response


def test_validate_allows_clean_object_plainly() -> None:
    reply = client().post("/validate", content=body(review(pod())), headers=JSON)
    assert reply.json()["response"] == {"uid": "0f6e5f4a-1", "allowed": True}


def test_noop_parses_and_allows_without_judging() -> None:
    records: list[AdmissionDecision] = []
    reply = client(AdmissionPolicy(mode=AdmissionMode.ENFORCE), records.append).post(
        "/noop", content=body(review(pod(privileged=True))), headers=JSON
    )
    assert reply.json()["response"] == {"uid": "0f6e5f4a-1", "allowed": True}
    assert records == []
    bad = client().post("/noop", content=b"{", headers=JSON)
    assert bad.status_code == 400


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"kind": "Admiss', 400, "not JSON: Unterminated string starting at line 1 column 10"),
        (b"", 400, "empty"),
        (b'{"a": "\x80"}', 400, "UTF-8"),
        (b"[1, 2]", 400, "JSON object, not a list"),
        (_deep(100_000), 400, "nested too deeply"),
        (body({"apiVersion": "v1", "kind": "Pod"}), 400, "apiVersion must be one of"),
        (body({"apiVersion": "admission.k8s.io/v1", "kind": "Review"}), 400, "kind must be"),
        (body({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}), 400, "request"),
    ],
)
def test_malformed_bodies_get_400(content: bytes, status: int, words: str) -> None:
    reply = client().post("/validate", content=content, headers=JSON)
    assert reply.status_code == status
    assert words in reply.json()["error"]


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda r: r["request"].pop("uid"), "request.uid is missing"),
        (lambda r: r["request"].update(uid=7), "request.uid must be a string"),
        (lambda r: r["request"].update(operation="PATCH"), "request.operation must be one of"),
        (lambda r: r["request"].update(object=[1]), "request.object must be a mapping"),
        (lambda r: r["request"].update(kind="Pod"), "request.kind must be a mapping"),
        (lambda r: r["request"]["userInfo"].update(groups=[1]), "groups must be a list of strings"),
        (lambda r: r["request"].update(dryRun="yes"), "request.dryRun must be a boolean"),
    ],
)
def test_wrong_shapes_get_400_naming_the_field(mutate: object, words: str) -> None:
    data = review(pod())
    mutate(data)  # type: ignore[operator]
    reply = client().post("/validate", content=body(data), headers=JSON)
    assert reply.status_code == 400
    assert words in reply.json()["error"]


def test_oversized_review_gets_400() -> None:
    limited = AdmissionPolicy(max_request_bytes=2048)
    big = pod()
    big["metadata"]["annotations"] = {"filler": "x" * 4096}
    test_client = client(limited)
    reply = test_client.post("/validate", content=body(review(big)), headers=JSON)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert "2048-byte limit" in error
    assert "maxRequestBytes" in error
    assert "xxxx" not in error
    assert test_client.post("/noop", content=body(review(big)), headers=JSON).status_code == 400
    metrics = test_client.get("/metrics").text
    assert (
        'kposture_admission_request_errors_total{endpoint="validate",status="400"} 1.0' in metrics
    )


def test_oversized_review_far_over_the_limit_gets_400_without_being_read() -> None:
    limited = AdmissionPolicy(max_request_bytes=1024)
    content = b'{"filler": "' + b"x" * 20_000 + b'"}'
    reply = client(limited).post("/validate", content=content, headers=JSON)
    assert reply.status_code == 400
    assert f"({len(content)} bytes) is over the 1024-byte limit" in reply.json()["error"]


def test_oversized_review_without_content_length_gets_400() -> None:
    limited = AdmissionPolicy(max_request_bytes=2048)

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"apiVersion": "admission.k8s.io/v1", "filler": "'
        for _ in range(10):
            yield b"x" * 1024
        yield b'"}'

    reply = client(limited).post("/validate", content=chunks(), headers=JSON)
    assert reply.status_code == 400
    assert "over the 2048-byte limit" in reply.json()["error"]


def test_review_at_the_limit_is_judged() -> None:
    data = body(review(pod()))
    exact = AdmissionPolicy(max_request_bytes=len(data))
    reply = client(exact).post("/validate", content=data, headers=JSON)
    assert reply.status_code == 200
    assert reply.json()["response"]["allowed"] is True


@pytest.mark.parametrize("content_type", ["text/plain", "application/yaml", ""])
def test_wrong_content_type_gets_415(content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    reply = client().post("/validate", content=body(review(pod())), headers=headers)
    assert reply.status_code == 415
    assert "application/json" in reply.json()["error"]


def test_json_content_type_with_charset_is_accepted() -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    assert (
        client().post("/validate", content=body(review(pod())), headers=headers).status_code == 200
    )


def test_every_decision_is_recorded_with_latency() -> None:
    records: list[AdmissionDecision] = []
    test_client = client(record=records.append)
    test_client.post("/validate", content=body(review(pod(privileged=True))), headers=JSON)
    test_client.post(
        "/validate", content=body(review(None, old=pod(), operation="DELETE")), headers=JSON
    )
    assert [d.outcome.value for d in records] == ["warned", "allowed"]
    assert records[0].latency_ms > 0
    assert records[0].user == "alice"


def test_a_failing_sink_never_fails_the_request(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_decision: AdmissionDecision) -> None:
        raise RuntimeError("database is down")

    with caplog.at_level(logging.ERROR, logger="kposture.admission"):
        reply = client(record=broken).post("/validate", content=body(review(pod())), headers=JSON)
    assert reply.status_code == 200
    assert "could not record decision" in caplog.text


def test_decisions_are_logged_one_line_without_secret_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = AdmissionPolicy(
        mode=AdmissionMode.ENFORCE,
        rule_modes=(ModeSetting(AdmissionMode.ENFORCE, ("secret-in-manifest",)),),
    )
    with caplog.at_level(logging.INFO, logger="kposture.admission"):
        reply = client(policy).post("/validate", content=body(review(secret())), headers=JSON)
    assert reply.json()["response"]["allowed"] is False
    lines = [r.getMessage() for r in caplog.records if r.name == "kposture.admission"]
    assert len(lines) == 1
    assert "outcome=denied" in lines[0]
    assert "secret-in-manifest(enforce)" in lines[0]
    for text in (caplog.text, reply.text):
        assert SECRET_VALUE not in text
        assert "aHVudGVyMi12ZXJ5LXNlY3JldC12YWx1ZQ==" not in text


def test_malformed_body_is_never_echoed(caplog: pytest.LogCaptureFixture) -> None:
    data = json.dumps({"apiVersion": SECRET_VALUE, "kind": "AdmissionReview"}).encode()
    with caplog.at_level(logging.WARNING):
        reply = client().post("/validate", content=data, headers=JSON)
    assert reply.status_code == 400
    assert SECRET_VALUE[:20] not in reply.text
    assert "hunter2" not in caplog.text


def test_exemptions_are_logged_with_their_reason(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kposture.admission"):
        client().post("/validate", content=body(review(pod(namespace="kube-system"))), headers=JSON)
    assert "outcome=exempt" in caplog.text
    assert "system namespace" in caplog.text


def test_health_readiness_and_metrics() -> None:
    test_client = client(AdmissionPolicy(mode=AdmissionMode.ENFORCE))
    assert test_client.get("/healthz").json() == {"status": "ok"}
    assert test_client.get("/readyz").json()["status"] == "ready"
    test_client.post("/validate", content=body(review(pod(privileged=True))), headers=JSON)
    test_client.post("/validate", content=b"{", headers=JSON)
    metrics = test_client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'kposture_admission_decisions_total{dry_run="false",outcome="denied"} 1.0' in text
    assert (
        'kposture_admission_violations_total{mode="enforce",rule="privileged-container"} 1.0'
        in text
    )
    assert 'kposture_admission_request_errors_total{endpoint="validate",status="400"} 1.0' in text
    assert 'kposture_admission_request_duration_seconds_count{endpoint="validate"} 1.0' in text


def test_unexpected_failure_while_judging_allows_with_warning() -> None:
    d = decider()

    class Broken(type(d)):  # type: ignore[misc]
        def decide(self, request, now):  # type: ignore[no-untyped-def]
            raise RuntimeError("bug")

    app = create_app(Broken(d.registry, d.policy, d.admission))
    reply = AsgiClient(app).post("/validate", content=body(review(pod())), headers=JSON)
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response["allowed"] is True
    assert "internal error" in response["warnings"][0]


def test_newlines_in_fields_cannot_split_or_forge_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forged = "\n2026-11-27 INFO kposture.admission: uid=x outcome=allowed"
    obj = pod(name="web" + forged, privileged=True)
    data = review(obj, uid="u1" + forged, user='mallory" outcome="allowed')
    with caplog.at_level(logging.INFO, logger="kposture.admission"):
        client(AdmissionPolicy(mode=AdmissionMode.ENFORCE)).post(
            "/validate", content=body(data), headers=JSON
        )
    (line,) = [r.getMessage() for r in caplog.records if r.name == "kposture.admission"]
    assert "\n" not in line and "\r" not in line
    assert " outcome=denied " in line
    assert 'uid="u1\\n2026-11-27 INFO kposture.admission: uid=x outcome=allowed"' in line
    assert 'user="mallory\\" outcome=\\"allowed"' in line
