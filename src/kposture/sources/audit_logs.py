"""Kubernetes audit logs read into ``AuditEvent``s: JSON lines from a file or stdin, ``EventList``
batches, and the managed-cloud envelopes that carry an event (EKS CloudWatch exports, GKE Cloud Audit
Logs entries, AKS diagnostic logs).

Every record is one line (the log backend of kube-apiserver and every cloud export write one JSON
document per line); a file that is a single pretty-printed document (an ``EventList``, a JSON array
of entries from ``gcloud logging read``) is read whole when its first line is not a document on its
own. Malformed lines, truncated batches, records that carry no event and lines over the size limit
are counted and skipped, each with a message naming the file and line; reading goes on.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from kposture.model.audit import (
    AuditEvent,
    AuditObjectRef,
    AuditUser,
    EventOrigin,
    without_secret_values,
)

DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
"""Lines (and batch items) over this size are skipped: 4 MiB holds a RequestResponse event of the
largest object etcd accepts with room to spare."""
MAX_ISSUES_KEPT = 1000
_READ_CHUNK = 1 << 16
_AUDIT_API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1")


class Envelope(StrEnum):
    AUTO = "auto"
    K8S = "k8s"
    EKS = "eks"
    GKE = "gke"
    AKS = "aks"


class IssueKind(StrEnum):
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    HUGE = "huge"
    NOT_AN_EVENT = "not-an-event"


@dataclass(frozen=True, slots=True)
class AuditReadIssue:
    """One skipped record: where, why, and a message for people."""

    file: str
    line: int
    kind: IssueKind
    message: str

    def display(self) -> str:
        return f"{self.file}:{self.line}: skipped ({self.kind.value}): {self.message}"


@dataclass(slots=True)
class AuditReadStats:
    """What a reader saw: events, and skipped records by kind (all of them; only the first
    ``MAX_ISSUES_KEPT`` issues are kept with their messages)."""

    lines: int = 0
    events: int = 0
    """Events built into ``AuditEvent``s."""
    passed: int = 0
    """Events read and passed over (``keep`` declined them): no detection looks at them."""
    skipped: dict[IssueKind, int] = field(default_factory=lambda: dict.fromkeys(IssueKind, 0))
    issues: list[AuditReadIssue] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Every event read: built or passed over."""
        return self.events + self.passed

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class NotAnEvent(ValueError):
    """A parsed record that carries no audit event; the message says what it is."""


# --- reading lines with a size bound -----------------------------------------------------------


def bounded_lines(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)`` per line of ``stream``; ``None`` instead of the bytes of a line
    longer than ``max_bytes``, which is read past in chunks and never held whole."""
    number = 0
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(_READ_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


# --- the Kubernetes event ------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: object) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 time (fractions beyond microseconds dropped) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _user(value: object) -> AuditUser | None:
    raw = _mapping(value)
    if not raw:
        return None
    extra = _mapping(raw.get("extra"))
    return AuditUser(_text(raw.get("username")), _strings(raw.get("groups")), tuple(extra))


def event_from_k8s(raw: Mapping[str, Any], origin: EventOrigin) -> AuditEvent:
    """An ``AuditEvent`` from an ``audit.k8s.io`` event mapping; ``NotAnEvent`` when it is none."""
    if raw.get("kind") not in ("Event", None) or not isinstance(raw.get("verb"), str):
        raise NotAnEvent(f"kind {raw.get('kind')!r} with no verb is not an audit event")
    api_version = raw.get("apiVersion")
    if api_version is not None and api_version not in _AUDIT_API_VERSIONS:
        raise NotAnEvent(f"apiVersion {api_version!r} is not audit.k8s.io/v1 or v1beta1")
    user = _user(raw.get("user"))
    if user is None:
        raise NotAnEvent("event has no user")
    ref_raw = _mapping(raw.get("objectRef"))
    ref = (
        AuditObjectRef(
            _text(ref_raw.get("resource")),
            _text(ref_raw.get("subresource")),
            _text(ref_raw.get("namespace")),
            _text(ref_raw.get("name")),
            _text(ref_raw.get("apiGroup")),
            _text(ref_raw.get("apiVersion")),
        )
        if ref_raw
        else None
    )
    status = _mapping(raw.get("responseStatus"))
    code = status.get("code")
    annotations = _mapping(raw.get("annotations"))
    secret = ref is not None and ref.resource == "secrets"
    return AuditEvent(
        audit_id=_text(raw.get("auditID")),
        stage=_text(raw.get("stage")),
        verb=_text(raw.get("verb")),
        request_uri=_text(raw.get("requestURI")),
        user=user,
        impersonated_user=_user(raw.get("impersonatedUser")),
        source_ips=_strings(raw.get("sourceIPs")),
        user_agent=_text(raw.get("userAgent")),
        object_ref=ref,
        response_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        response_reason=_text(status.get("reason")) or _text(status.get("message"))[:200],
        received_at=parse_time(raw.get("requestReceivedTimestamp") or raw.get("timestamp")),
        decision=_text(annotations.get("authorization.k8s.io/decision")),
        reason=_text(annotations.get("authorization.k8s.io/reason")),
        request_object=without_secret_values(raw.get("requestObject"), secret_request=secret),
        response_object=without_secret_values(raw.get("responseObject"), secret_request=secret),
        level=_text(raw.get("level")),
        origin=origin,
    )


# --- GKE Cloud Audit Logs -------------------------------------------------------------------------

_GRPC_TO_HTTP = {0: 200, 3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 13: 500}
_GRPC_TO_HTTP |= {14: 503, 16: 401, 4: 504, 1: 499, 2: 500, 12: 501}
_GKE_VERBS = frozenset(
    {"create", "get", "list", "watch", "update", "patch", "delete", "deletecollection"}
)


def _gke_ref(resource_name: str) -> AuditObjectRef | None:
    """``core/v1/namespaces/default/pods/web/exec`` → pods/exec default/web."""
    parts = [part for part in resource_name.split("/") if part]
    if len(parts) < 3:
        return None
    group, version, rest = parts[0], parts[1], parts[2:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces":
        return AuditObjectRef("namespaces", "", "", rest[1], "", version)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return AuditObjectRef(
        resource, subresource, namespace, name, "" if group == "core" else group, version
    )


def event_from_gke(entry: Mapping[str, Any], origin: EventOrigin) -> AuditEvent:
    """An ``AuditEvent`` from a Cloud Logging entry whose ``protoPayload`` is a Kubernetes
    ``AuditLog``, as far as the entry carries the fields (it has no groups and no stage)."""
    payload = _mapping(entry.get("protoPayload"))
    method = _text(payload.get("methodName"))
    if not method.startswith("io.k8s."):
        raise NotAnEvent(f"protoPayload method {method!r} is not a Kubernetes API call")
    verb = method.rsplit(".", 1)[-1]
    if verb not in _GKE_VERBS:
        verb = {"proxy": "get", "connect": "create"}.get(verb, verb)
    auth = _mapping(payload.get("authenticationInfo"))
    metadata = _mapping(payload.get("requestMetadata"))
    status = _mapping(payload.get("status"))
    grpc = status.get("code", 0)
    code = _GRPC_TO_HTTP.get(grpc, 500) if isinstance(grpc, int) else None
    labels = _mapping(entry.get("labels"))
    ref = _gke_ref(_text(payload.get("resourceName")))
    secret = ref is not None and ref.resource == "secrets"
    caller = _text(metadata.get("callerIp"))
    impersonated = _text(_mapping(auth.get("serviceAccountDelegationInfo")).get("principalSubject"))
    return AuditEvent(
        audit_id=_text(_mapping(entry.get("operation")).get("id")) or _text(entry.get("insertId")),
        stage="ResponseComplete",
        verb=verb,
        request_uri="/" + _text(payload.get("resourceName")),
        user=AuditUser(_text(auth.get("principalEmail"))),
        impersonated_user=AuditUser(impersonated) if impersonated else None,
        source_ips=(caller,) if caller else (),
        user_agent=_text(metadata.get("callerSuppliedUserAgent")),
        object_ref=ref,
        response_code=code,
        response_reason=_text(status.get("message"))[:200],
        received_at=parse_time(entry.get("timestamp") or entry.get("receiveTimestamp")),
        decision=_text(labels.get("authorization.k8s.io/decision")),
        reason=_text(labels.get("authorization.k8s.io/reason")),
        request_object=without_secret_values(payload.get("request"), secret_request=secret),
        response_object=without_secret_values(payload.get("response"), secret_request=secret),
        origin=origin,
    )


# --- envelopes -------------------------------------------------------------------------------------


def _embedded(text: object, what: str) -> Mapping[str, Any]:
    if isinstance(text, Mapping):
        return text
    if not isinstance(text, str):
        raise NotAnEvent(f"{what} holds no event")
    try:
        inner = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotAnEvent(f"{what} is not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(inner, Mapping):
        raise NotAnEvent(f"{what} is not a JSON object")
    return inner


def detect_envelope(record: Mapping[str, Any]) -> Envelope | None:
    """Which envelope a parsed record is, or None when it is none of them."""
    if "protoPayload" in record:
        return Envelope.GKE
    if isinstance(record.get("properties"), Mapping) and "log" in record["properties"]:
        return Envelope.AKS
    if "records" in record and isinstance(record["records"], list):
        return Envelope.AKS
    if "logEvents" in record or ("message" in record and "verb" not in record):
        return Envelope.EKS
    if "verb" in record or record.get("kind") in ("Event", "EventList"):
        return Envelope.K8S
    return None


Keep = Callable[[Mapping[str, Any]], bool]
"""Whether a raw ``audit.k8s.io`` event is worth building into an ``AuditEvent`` (see
``AuditLogReader``)."""


def unwrap(
    record: object, envelope: Envelope, origin: EventOrigin, keep: Keep | None = None
) -> Iterator[AuditEvent]:
    """The events one parsed record carries; ``NotAnEvent`` for a record that is not of
    ``envelope`` (auto: any) or carries none. Batches yield their events, and raise ``NotAnEvent``
    at the first item that is not one (the ones before it are kept)."""
    if isinstance(record, list):
        for item in record:
            yield from unwrap(item, envelope, origin, keep)
        return
    if not isinstance(record, Mapping):
        raise NotAnEvent(f"a JSON {type(record).__name__} is not an audit record")
    found = detect_envelope(record)
    if found is None:
        raise NotAnEvent("neither an audit event nor a known cloud envelope")
    if envelope is not Envelope.AUTO and found is not envelope:
        raise NotAnEvent(f"a {found.value} record, not {envelope.value} (--format)")
    at = EventOrigin(origin.file, origin.line, found.value)
    if found is Envelope.GKE:
        yield event_from_gke(record, at)
    elif found is Envelope.AKS:
        if "records" in record:
            for item in record["records"]:
                yield from unwrap(item, envelope, origin, keep)
            return
        yield from _k8s_record(_embedded(record["properties"]["log"], "properties.log"), at, keep)
    elif found is Envelope.EKS:
        items = record.get("logEvents")
        messages = (
            [_mapping(item).get("message") for item in items]
            if isinstance(items, list)
            else [record.get("message")]
        )
        for message in messages:
            yield from _k8s_record(_embedded(message, "message"), at, keep)
    else:
        yield from _k8s_record(record, at, keep)


def _k8s_record(
    record: Mapping[str, Any], origin: EventOrigin, keep: Keep | None = None
) -> Iterator[AuditEvent]:
    if record.get("kind") == "EventList":
        items = record.get("items")
        if not isinstance(items, list):
            raise NotAnEvent("EventList without items")
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise NotAnEvent(f"EventList item {index} is not an object")
            if keep is None or keep(item):
                yield event_from_k8s(item, origin)
        return
    if keep is None or keep(record):
        yield event_from_k8s(record, origin)


# --- the reader -----------------------------------------------------------------------------------


class AuditLogReader:
    """Reads records into events, counting and describing what it skips (``stats``).

    ``on_issue`` is called for every skipped record as it happens (the CLI prints the message).
    ``keep`` (the detector's ``wants``) is asked about each raw ``audit.k8s.io`` event: one it
    declines is counted in ``stats.passed`` and never built into an ``AuditEvent``, so the bulk of
    a log that no detection looks at costs only its JSON parse. It is not asked about GKE entries.
    """

    def __init__(
        self,
        envelope: Envelope = Envelope.AUTO,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        on_issue: Callable[[AuditReadIssue], None] | None = None,
        keep: Keep | None = None,
    ) -> None:
        self.envelope = envelope
        self.max_event_bytes = max_event_bytes
        self.on_issue = on_issue
        self.stats = AuditReadStats()
        self._keep: Keep | None = None
        if keep is not None:
            wanted = keep
            stats = self.stats

            def counted(raw: Mapping[str, Any]) -> bool:
                if wanted(raw):
                    return True
                stats.passed += 1
                return False

            self._keep = counted

    def _skip(self, file: str, line: int, kind: IssueKind, message: str) -> None:
        issue = AuditReadIssue(file, line, kind, message)
        self.stats.skipped[kind] += 1
        if len(self.stats.issues) < MAX_ISSUES_KEPT:
            self.stats.issues.append(issue)
        if self.on_issue is not None:
            self.on_issue(issue)

    def parse_line(self, data: bytes | None, file: str, line: int) -> list[AuditEvent]:
        """The events of one line (``None`` for a line over the size limit)."""
        self.stats.lines += 1
        if data is None:
            self._skip(file, line, IssueKind.HUGE, f"line over {self.max_event_bytes} bytes")
            return []
        text = data.strip()
        if not text:
            self.stats.lines -= 1
            return []
        if len(text) > self.max_event_bytes:
            self._skip(file, line, IssueKind.HUGE, f"line over {self.max_event_bytes} bytes")
            return []
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            truncated = error.pos >= len(text) - 1 or error.msg.startswith("Unterminated")
            kind = IssueKind.TRUNCATED if truncated else IssueKind.MALFORMED
            what = "truncated JSON (the record ends early)" if truncated else "not JSON"
            self._skip(file, line, kind, f"{what}: {error.msg} at character {error.pos}")
            return []
        except ValueError:  # bytes that are not UTF-8
            self._skip(file, line, IssueKind.MALFORMED, "not UTF-8 text")
            return []
        return self.parse_record(record, file, line)

    def parse_record(self, record: object, file: str, line: int) -> list[AuditEvent]:
        if (
            type(record) is dict
            and record.get("kind") == "Event"
            and "verb" in record
            and self.envelope in (Envelope.AUTO, Envelope.K8S)
        ):
            # The common case, one event per line: no envelope to unwrap.
            keep = self._keep
            if keep is not None and not keep(record):
                return []
            try:
                event = event_from_k8s(record, EventOrigin(file, line))
            except NotAnEvent as error:
                self._skip(file, line, IssueKind.NOT_AN_EVENT, str(error))
                return []
            self.stats.events += 1
            return [event]
        events: list[AuditEvent] = []
        try:
            events.extend(unwrap(record, self.envelope, EventOrigin(file, line), self._keep))
        except NotAnEvent as error:
            batch = " (the events before it in the batch are kept)" if events else ""
            self._skip(file, line, IssueKind.NOT_AN_EVENT, f"{error}{batch}")
        self.stats.events += len(events)
        return events

    def read_stream(self, stream: BinaryIO, name: str) -> Iterator[AuditEvent]:
        """Events from a binary stream of JSON lines, in order."""
        lines = bounded_lines(stream, self.max_event_bytes)
        first: tuple[int, bytes | None] | None = next(lines, None)
        if first is None:
            return
        number, data = first
        if data is not None and data.lstrip()[:1] in (b"{", b"[") and not _is_json(data):
            yield from self._read_whole(data, lines, name)
            return
        yield from self.parse_line(data, name, number)
        for number, data in lines:
            yield from self.parse_line(data, name, number)

    def _read_whole(
        self, first: bytes, rest: Iterator[tuple[int, bytes | None]], name: str
    ) -> Iterator[AuditEvent]:
        """A file that may be one pretty-printed document (up to the size limit); read line by
        line after all when the lines do not make one document (a truncated first event)."""
        held: list[tuple[int, bytes | None]] = [(1, first)]
        size = len(first)
        for number, data in rest:
            held.append((number, data))
            if data is None:
                break
            size += len(data)
            if size > self.max_event_bytes:
                break
        else:
            whole = b"".join(data or b"" for _, data in held)
            if _is_json(whole):
                self.stats.lines += 1
                yield from self.parse_record(json.loads(whole), name, 1)
                return
        for number, data in held:
            yield from self.parse_line(data, name, number)
        for number, data in rest:
            yield from self.parse_line(data, name, number)

    def read_file(self, path: Path) -> Iterator[AuditEvent]:
        with path.open("rb") as stream:
            yield from self.read_stream(stream, str(path))


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
