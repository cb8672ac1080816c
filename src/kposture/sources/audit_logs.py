"""Kubernetes audit logs read into ``AuditEvent``s: JSON lines from a file or stdin, ``EventList``
batches, and the managed-cloud envelopes that carry an event (EKS CloudWatch exports, GKE Cloud Audit
Logs entries, AKS diagnostic logs).

Every record is one line (the log backend of kube-apiserver and every cloud export write one JSON
document per line). A file of JSON documents written over several lines (a pretty-printed
``EventList``, a JSON array of entries from ``gcloud logging read``) is read document by document
and batch item by batch item (``json_streaming``), so its size is not bounded, only each item's; it
is taken for one when its first line opens a document without being a whole record, and its second
line is not a whole record either (a log of JSON lines whose first line was cut). Malformed lines,
truncated records, records and batch items that carry no event and records over the size limit are
counted and skipped, each with a message naming the file and line (and the item of a batch);
reading goes on. Records of other logs sharing a stream (AKS diagnostic categories other than
kube-audit) are only counted. A multi-line document that is cut short or is not JSON cannot be
read item by item past the fault: it raises ``AuditInputError``, a read error.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
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
from kposture.sources.json_errors import json_error_text
from kposture.sources.json_streaming import BatchItem, BatchStart, JsonStreamError, json_documents

DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
"""Lines, and the items of a multi-line document, over this size are skipped: 4 MiB holds a
RequestResponse event of the largest object etcd accepts with room to spare."""
MAX_ISSUES_KEPT = 1000
_READ_CHUNK = 1 << 16
_AUDIT_API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1")
GZIP_MAGIC = b"\x1f\x8b"
"""The first bytes of gzip data (kube-apiserver's ``--audit-log-compress`` backups): such input is
read decompressed, whatever its name."""


class Envelope(StrEnum):
    AUTO = "auto"
    K8S = "k8s"
    EKS = "eks"
    GKE = "gke"
    AKS = "aks"


_ENVELOPE_NAMES = {
    Envelope.K8S: "a Kubernetes audit",
    Envelope.EKS: "an EKS CloudWatch",
    Envelope.GKE: "a GKE Cloud Audit Logs",
    Envelope.AKS: "an AKS diagnostic",
}


def _other_envelope(found: Envelope, wanted: Envelope) -> str:
    """``an EKS CloudWatch record, not gke (--format)``."""
    return f"{_ENVELOPE_NAMES.get(found, found.value)} record, not {wanted.value} (--format)"


class IssueKind(StrEnum):
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    HUGE = "huge"
    NOT_AN_EVENT = "not-an-event"
    OTHER_CATEGORY = "other-category"


QUIET_ISSUES = frozenset({IssueKind.OTHER_CATEGORY})
"""Skipped records that are only counted, with no message: records of other logs that share the
stream by design."""
UNREADABLE_KINDS = frozenset({IssueKind.MALFORMED, IssueKind.TRUNCATED, IssueKind.HUGE})
"""Skipped records that are no JSON record at all: an input of only these yields nothing."""


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
    unreadable: list[tuple[str, int]] = field(default_factory=list)
    """Inputs read to their end that gave no event while every record in them was malformed,
    truncated or over the size limit (a binary file, a cut single-line ``EventList``), with that
    number of records."""
    empty: list[str] = field(default_factory=list)
    """Inputs read to their end that held no audit event and no record that was skipped: an empty
    file, blank lines, or lists without items (``{"kind": "EventList", "items": []}``)."""
    eventless: list[tuple[str, int, int]] = field(default_factory=list)
    """Inputs read to their end that gave no event while some of their records were JSON but no
    audit event (another ``--format``'s records, a ``kubectl`` List, ``[]``), with the number of
    those records and of the unreadable ones."""

    @property
    def read(self) -> int:
        """Every event read: built or passed over."""
        return self.events + self.passed

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class NotAnEvent(ValueError):
    """A parsed record that carries no audit event; the message says what it is."""


class OtherLog(NotAnEvent):
    """A record of another log that shares the stream (an AKS diagnostic record of a category
    other than kube-audit and kube-audit-admin): skipped quietly."""


class AuditInputError(OSError):
    """An input that cannot be read on: a JSON document written over several lines that is cut
    short or is not JSON. An ``OSError``, so that it is reported as a read error wherever an input
    that cannot be read is (``kposture detect`` exits 2)."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line


# --- reading lines with a size bound -----------------------------------------------------------


def bounded_lines(
    stream: BinaryIO, max_bytes: int, start: int = 0
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)`` per line of ``stream`` (numbered after ``start``); ``None``
    instead of the bytes of a line longer than ``max_bytes``, which is read past in chunks and
    never held whole."""
    number = start
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            _read_past_line(stream)
            yield number, None
            continue
        yield number, line


def _read_past_line(stream: BinaryIO) -> None:
    """Read to the end of the current line, in chunks."""
    while True:
        rest = stream.readline(_READ_CHUNK)
        if not rest or rest.endswith(b"\n"):
            return


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
        origin=_in_cluster(
            origin,
            _text(_mapping(_mapping(entry.get("resource")).get("labels")).get("cluster_name")),
        ),
    )


# --- envelopes -------------------------------------------------------------------------------------

_EKS_LOG_GROUP = re.compile(r"^/aws/eks/([^/]+)/cluster$")
_AKS_CLUSTER = re.compile(r"/managedClusters/([^/]+)", re.IGNORECASE)


def _in_cluster(origin: EventOrigin, cluster: str) -> EventOrigin:
    """``origin`` with the cluster an envelope named (when it named one)."""
    return replace(origin, cluster=cluster) if cluster else origin


def _eks_cluster(record: Mapping[str, Any]) -> str:
    """The cluster of a CloudWatch record's log group, ``/aws/eks/NAME/cluster``."""
    found = _EKS_LOG_GROUP.match(_text(record.get("logGroup") or record.get("logGroupName")))
    return found.group(1) if found else ""


def _aks_cluster(record: Mapping[str, Any]) -> str:
    """The cluster of an AKS diagnostic record's ``resourceId`` (``.../managedClusters/NAME``)."""
    found = _AKS_CLUSTER.search(_text(record.get("resourceId")))
    return found.group(1) if found else ""


def _embedded(text: object, what: str) -> Mapping[str, Any]:
    if isinstance(text, Mapping):
        return text
    if not isinstance(text, str):
        raise NotAnEvent(f"{what} holds no event")
    try:
        inner = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotAnEvent(f"{what} is not JSON ({json_error_text(error)})") from None
    if not isinstance(inner, Mapping):
        raise NotAnEvent(f"{what} is not a JSON object")
    return inner


def detect_envelope(record: Mapping[str, Any]) -> Envelope | None:
    """Which envelope a parsed record is, or None when it is none of them."""
    if "protoPayload" in record:
        return Envelope.GKE
    properties = record.get("properties")
    if isinstance(properties, Mapping) and ("log" in properties or "category" in record):
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
SkipItem = Callable[[NotAnEvent], None]
"""Told about a batch item that carries no event (the error names the item); the others are read."""

BATCHES: dict[str, tuple[str, Envelope]] = {
    "items": ("EventList", Envelope.K8S),
    "records": ("records", Envelope.AKS),
    "logEvents": ("logEvents", Envelope.EKS),
}
"""The members that hold a batch of records: an ``EventList``'s ``items``, an AKS Event Hub body's
``records``, a CloudWatch subscription's ``logEvents``; what an item is called, and the envelope."""


def unwrap(
    record: object,
    envelope: Envelope,
    origin: EventOrigin,
    keep: Keep | None = None,
    skip: SkipItem | None = None,
) -> Iterator[AuditEvent]:
    """The events one parsed record carries; ``NotAnEvent`` for a record that is not of
    ``envelope`` (auto: any) or carries none (``OtherLog`` for an AKS record of another log).

    A batch (a JSON array, an ``EventList``, an Event Hub body, a subscription) yields the events of
    its items. An item that carries none is handed to ``skip`` as a ``NotAnEvent`` that names it
    (``EventList item 3: event has no user``) and the items after it are read; without ``skip``
    it is raised."""
    if isinstance(record, list):
        if not record:
            raise NotAnEvent("an empty JSON array carries no audit record")
        yield from _batch(
            "array", record, lambda item: unwrap(item, envelope, origin, keep, skip), skip
        )
        return
    if not isinstance(record, Mapping):
        raise NotAnEvent(f"a JSON {type(record).__name__} is not an audit record")
    found = detect_envelope(record)
    if found is None:
        raise NotAnEvent("neither an audit event nor a known cloud envelope")
    if envelope is not Envelope.AUTO and found is not envelope:
        raise NotAnEvent(_other_envelope(found, envelope))
    at = EventOrigin(origin.file, origin.line, found.value, origin.cluster)
    if found is Envelope.EKS:
        at = _in_cluster(at, _eks_cluster(record))
    if found is Envelope.GKE:
        yield event_from_gke(record, at)
        return
    batch = {Envelope.AKS: "records", Envelope.EKS: "logEvents"}.get(found)
    if batch is not None and isinstance(record.get(batch), list):
        read = functools.partial(batch_item, batch, origin=at, keep=keep, skip=skip)
        yield from _batch(BATCHES[batch][0], record[batch], read, skip)
    elif found is Envelope.AKS:
        yield from _aks_record(record, at, keep, skip)
    elif found is Envelope.EKS:
        yield from _k8s_record(_embedded(record.get("message"), "message"), at, keep, skip)
    else:
        yield from _k8s_record(record, at, keep, skip)


def batch_item(
    container: str,
    item: object,
    origin: EventOrigin,
    keep: Keep | None = None,
    skip: SkipItem | None = None,
) -> Iterator[AuditEvent]:
    """The events of one item of a batch held in ``container`` (a key of ``BATCHES``);
    ``NotAnEvent`` when it carries none."""
    if container == "items":
        if not isinstance(item, Mapping):
            raise NotAnEvent(f"a JSON {type(item).__name__} is not an event")
        if keep is None or keep(item):
            yield event_from_k8s(item, origin)
    elif container == "logEvents":
        message = _embedded(_mapping(item).get("message"), "message")
        yield from _k8s_record(message, origin, keep, skip)
    elif isinstance(item, Mapping):
        yield from _aks_record(item, origin, keep, skip)
    else:
        raise NotAnEvent(f"a JSON {type(item).__name__} is not an AKS record")


_AKS_AUDIT_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})


def _aks_record(
    record: Mapping[str, Any], origin: EventOrigin, keep: Keep | None, skip: SkipItem | None
) -> Iterator[AuditEvent]:
    category = record.get("category")
    if isinstance(category, str) and category.lower() not in _AKS_AUDIT_CATEGORIES:
        raise OtherLog(f"an AKS {category} record, not kube-audit")
    properties = _mapping(record.get("properties"))
    if "log" not in properties:
        raise NotAnEvent("an AKS record without properties.log")
    at = _in_cluster(origin, _aks_cluster(record))
    yield from _k8s_record(_embedded(properties["log"], "properties.log"), at, keep, skip)


def _k8s_record(
    record: Mapping[str, Any], origin: EventOrigin, keep: Keep | None, skip: SkipItem | None
) -> Iterator[AuditEvent]:
    if record.get("kind") == "EventList":
        items = record.get("items")
        if not isinstance(items, list):
            raise NotAnEvent("EventList without items")
        read = functools.partial(batch_item, "items", origin=origin, keep=keep, skip=skip)
        yield from _batch(BATCHES["items"][0], items, read, skip)
        return
    if keep is None or keep(record):
        yield event_from_k8s(record, origin)


def _batch(
    what: str,
    items: Iterable[object],
    read: Callable[[object], Iterator[AuditEvent]],
    skip: SkipItem | None,
    first: int = 0,
) -> Iterator[AuditEvent]:
    """The events of every item, each read by ``read``; an item that carries none is named (by its
    index, counted from ``first``) in its ``NotAnEvent`` and handed to ``skip`` (raised without
    it)."""
    for index, item in enumerate(items, first):
        try:
            yield from read(item)
        except NotAnEvent as error:
            named = type(error)(f"{what} item {index}: {error}")
            if skip is None:
                raise named from None
            skip(named)


# --- the reader -----------------------------------------------------------------------------------


class AuditLogReader:
    """Reads records into events, counting and describing what it skips (``stats``).

    ``on_issue`` is called for every skipped record as it happens (the CLI prints the message);
    records of other logs in the same stream (``other-category``) are only counted.
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
        self.stats.skipped[kind] += 1
        if kind in QUIET_ISSUES:
            return
        issue = AuditReadIssue(file, line, kind, message)
        if len(self.stats.issues) < MAX_ISSUES_KEPT:
            self.stats.issues.append(issue)
        if self.on_issue is not None:
            self.on_issue(issue)

    def _not_an_event(self, file: str, line: int, error: NotAnEvent) -> None:
        kind = IssueKind.OTHER_CATEGORY if isinstance(error, OtherLog) else IssueKind.NOT_AN_EVENT
        self._skip(file, line, kind, str(error))

    def _collect(self, events: Iterator[AuditEvent], file: str, line: int) -> list[AuditEvent]:
        """The events read, counted; a record that carries none is skipped."""
        found: list[AuditEvent] = []
        try:
            for event in events:
                found.append(event)
        except NotAnEvent as error:
            self._not_an_event(file, line, error)
        self.stats.events += len(found)
        return found

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
            self._skip(file, line, kind, f"{what}: {json_error_text(error)}")
            return []
        except ValueError:  # bytes that are not UTF-8
            self._skip(file, line, IssueKind.MALFORMED, "not UTF-8 text")
            return []
        return self.parse_record(record, file, line)

    def parse_record(self, record: object, file: str, line: int) -> list[AuditEvent]:
        """The events of one parsed record; a batch item that carries none is skipped alone."""
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
        skip = functools.partial(self._not_an_event, file, line)
        events = unwrap(record, self.envelope, EventOrigin(file, line), self._keep, skip)
        return self._collect(events, file, line)

    def parse_batch(
        self, items: Iterable[object], file: str, line: int, first: int = 0
    ) -> Iterator[AuditEvent]:
        """The events of an ``EventList``'s items (the webhook's batches), read as ``detect``
        reads them: an item that is not an event is skipped alone (named by its index, counted
        from ``first``). Lazily, item by item, so a stateful ``keep`` (a first-seen gate) has
        learned from the items before when it judges the next one."""
        origin = EventOrigin(file, line, Envelope.K8S.value)
        skip = functools.partial(self._not_an_event, file, line)
        read = functools.partial(batch_item, "items", origin=origin, keep=self._keep, skip=skip)
        try:
            for event in _batch(BATCHES["items"][0], items, read, skip, first):
                self.stats.events += 1
                yield event
        except NotAnEvent as error:
            self._not_an_event(file, line, error)

    def read_stream(self, stream: BinaryIO, name: str) -> Iterator[AuditEvent]:
        """Events from a binary stream of JSON lines, in order; or from JSON documents written
        over several lines (a pretty-printed ``EventList``, a JSON array export), read item by
        item. Gzip data (told by its first bytes when the stream can peek) is read decompressed.
        A document that is cut short or is not JSON, or gzip data that is corrupt or cut short,
        raises ``AuditInputError``. An input read to its end that gave no event while all its
        records were unreadable is added to ``stats.unreadable``; one that held nothing at all (no
        event, no skipped record) to ``stats.empty``; one with no event among records that are no
        audit event to ``stats.eventless``."""
        stats = self.stats
        lines, read, before = stats.lines, stats.read, _unreadable_count(stats)
        skipped = stats.skipped_total
        if _is_gzip(stream):
            yield from self._read_gzip(stream, name)
        else:
            yield from self._read_plain(stream, name)
        bad = _unreadable_count(stats) - before
        others = stats.skipped_total - skipped - bad
        if stats.read != read:
            return
        if bad and bad == stats.lines - lines:
            stats.unreadable.append((name, bad))
        elif not others and not bad:
            stats.empty.append(name)
        elif others:
            stats.eventless.append((name, others, bad))

    def _read_gzip(self, stream: BinaryIO, name: str) -> Iterator[AuditEvent]:
        lines = self.stats.lines
        try:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield from self._read_plain(unzipped, name)  # type: ignore[arg-type]
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            line = self.stats.lines - lines + 1
            raise AuditInputError(
                name, line, f"the gzip data is corrupt or cut short ({error})"
            ) from None

    def _read_plain(self, stream: BinaryIO, name: str) -> Iterator[AuditEvent]:
        limit = self.max_event_bytes
        held = [stream.readline(limit + 1)]
        if not held[0]:
            return
        if _opens_a_document(held[0]):
            following = stream.readline(limit + 1)
            while following and not following.strip():
                held.append(following)
                following = stream.readline(limit + 1)
            if following:
                held.append(following)
            if not _a_cut_record(held[0], following):
                yield from self._read_documents(b"".join(held), stream, name)
                return
        for number, data in enumerate(held, 1):
            if len(data) > limit and not data.endswith(b"\n"):
                _read_past_line(stream)
                yield from self.parse_line(None, name, number)
            else:
                yield from self.parse_line(data, name, number)
        for number, line in bounded_lines(stream, limit, start=len(held)):
            yield from self.parse_line(line, name, number)

    def _read_documents(self, prefix: bytes, stream: BinaryIO, name: str) -> Iterator[AuditEvent]:
        """The events of JSON documents, each batch item read on its own (and skipped alone, with
        its line and index, when it carries no event or is over the size limit)."""
        parts = json_documents(
            stream, prefix=prefix, max_bytes=self.max_event_bytes, batch_keys=BATCHES
        )
        batch = cluster = ""
        refused = False
        try:
            for part in parts:
                if isinstance(part, BatchStart):
                    self.stats.lines += 1
                    batch, refused = part.key, self._refuses_batch(part, name)
                    cluster = _eks_cluster(part.head) if batch == "logEvents" else ""
                elif isinstance(part, BatchItem):
                    if not refused:
                        yield from self._document_item(batch, part, name, cluster)
                elif not part.batched:
                    self.stats.lines += 1
                    if part.members is None:
                        size = f"over {self.max_event_bytes} bytes"
                        self._skip(name, part.line, IssueKind.HUGE, f"record {size}")
                    else:
                        yield from self.parse_record(part.members, name, part.line)
        except JsonStreamError as error:
            what = "the JSON document is cut short" if error.truncated else "not a JSON document"
            raise AuditInputError(name, error.line, f"{what}: {error}") from None

    def _refuses_batch(self, start: BatchStart, name: str) -> bool:
        """Whether a document's batch is skipped whole (a list of something else, or an envelope
        other than ``--format``), which is then reported once."""
        if not start.key:
            return False
        envelope = BATCHES[start.key][1]
        kind = start.head.get("kind")
        if start.key == "items" and kind not in ("EventList", None):
            message = f"a {kind} is not an audit EventList"
        elif self.envelope not in (Envelope.AUTO, envelope):
            message = _other_envelope(envelope, self.envelope)
        else:
            return False
        self._skip(name, start.line, IssueKind.NOT_AN_EVENT, message)
        return True

    def _document_item(
        self, batch: str, item: BatchItem, name: str, cluster: str = ""
    ) -> Iterator[AuditEvent]:
        if item.oversized:
            what = BATCHES[batch][0] if batch else "array"
            message = f"{what} item {item.index} over {self.max_event_bytes} bytes"
            self._skip(name, item.line, IssueKind.HUGE, message)
            return
        if not batch:
            yield from self.parse_record(item.value, name, item.line)
            return
        origin = EventOrigin(name, item.line, BATCHES[batch][1].value, cluster)
        skip = functools.partial(self._not_an_event, name, item.line)
        read = functools.partial(batch_item, batch, origin=origin, keep=self._keep, skip=skip)
        events = _batch(BATCHES[batch][0], (item.value,), read, skip, first=item.index)
        yield from self._collect(events, name, item.line)

    def read_file(self, path: Path) -> Iterator[AuditEvent]:
        with path.open("rb") as stream:
            yield from self.read_stream(stream, str(path))


def _unreadable_count(stats: AuditReadStats) -> int:
    return sum(count for kind, count in stats.skipped.items() if kind in UNREADABLE_KINDS)


def _is_gzip(stream: BinaryIO) -> bool:
    """Whether ``stream`` starts with gzip's magic bytes, looked at without consuming them (a
    stream that cannot peek is taken as plain)."""
    peek = getattr(stream, "peek", None)
    return callable(peek) and bytes(peek(len(GZIP_MAGIC)))[: len(GZIP_MAGIC)] == GZIP_MAGIC


def is_gzip_file(path: Path) -> bool:
    """Whether the file at ``path`` holds gzip data (by its first bytes, not its name)."""
    with path.open("rb") as stream:
        return stream.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def _opens_a_document(line: bytes) -> bool:
    """Whether a first line may open a JSON document written over several lines: it starts one and
    is not a whole record (nor over the size limit)."""
    return line.lstrip()[:1] in (b"{", b"[") and line.endswith(b"\n") and not _is_json(line)


def _a_cut_record(first: bytes, following: bytes) -> bool:
    """Whether a first line that is not whole JSON is a record cut short in a log of JSON lines
    rather than the start of a document: the file has no other line, or the next one is a whole
    record and the first line is more than a lone ``{`` or ``[`` (as pretty printers start)."""
    if not following:
        return True
    return (
        following.lstrip()[:1] == b"{" and _is_json(following) and first.strip() not in (b"{", b"[")
    )


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
