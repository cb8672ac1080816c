"""Audit logs written as JSON documents over several lines (a pretty-printed EventList, a JSON array
export, jq's output): read item by item whatever their size, each item bounded by the event size
limit and skipped alone when it is no event, and a document cut short or broken reported as one
read error with its file and line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit_samples import raw_event
from kposture.model.audit import AuditEvent
from kposture.sources.audit_logs import (
    DEFAULT_MAX_EVENT_BYTES,
    AuditInputError,
    AuditLogReader,
    Envelope,
    IssueKind,
)


class Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read, so every value crosses read boundaries."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        self.data, self.at, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self.data[self.at : self.at + min(self.step, len(buffer))]
        buffer[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)


def read(
    data: str | bytes, stream: type[io.RawIOBase] | None = None, **kwargs: Any
) -> tuple[list[AuditEvent], AuditLogReader]:
    reader = AuditLogReader(**kwargs)
    raw = data.encode() if isinstance(data, str) else data
    source = Trickle(raw) if stream is Trickle else io.BytesIO(raw)
    return list(reader.read_stream(source, "audit.json")), reader  # type: ignore[arg-type]


def event_list(*items: object) -> dict[str, Any]:
    return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}


def users(events: list[AuditEvent]) -> list[str]:
    return [event.user.username for event in events]


def test_a_pretty_printed_eventlist_over_4_mib_is_read_whole() -> None:
    body = {"kind": "ConfigMap", "data": {"blob": "x" * 20_000}}
    items = [raw_event("update", "configmaps", user=f"u{n}", request=body) for n in range(260)]
    text = json.dumps(event_list(*items), indent=2)
    assert len(text) > DEFAULT_MAX_EVENT_BYTES
    events, reader = read(text)
    assert users(events) == [f"u{n}" for n in range(260)]
    assert reader.stats.skipped_total == 0
    item_lines = [n for n, row in enumerate(text.splitlines(), 1) if row == "    {"]
    assert [event.origin.line for event in events] == item_lines
    assert {event.origin.envelope for event in events} == {"k8s"}


@pytest.mark.parametrize("stream", [io.BytesIO, Trickle])
def test_items_cross_read_boundaries_strings_escapes_and_all(stream: type[io.RawIOBase]) -> None:
    tricky = raw_event(user='q"uote\\back\\\\slash}]{[', request={"s": "\u00e9\\n\t", "n": [1, {}]})
    deep: object = {"leaf": "]}"}
    for level in range(12):
        deep = {f"l{level}": [deep, "{"]}
    items = [raw_event(user="a"), tricky, raw_event(user="deep", request=deep), raw_event(user="z")]
    text = json.dumps(event_list(*items), indent=1) + "\n" + json.dumps([raw_event()], indent=1)
    events, reader = read(text, stream=stream)
    assert users(events) == ["a", 'q"uote\\back\\\\slash}]{[', "deep", "z", "alice"]
    assert events[2].request_object is not None and "l11" in events[2].request_object
    assert reader.stats.skipped_total == 0


def test_an_item_over_the_limit_is_skipped_alone_with_its_line_and_index() -> None:
    big = raw_event(user="big", request={"kind": "ConfigMap", "data": {"x": "y" * 50_000}})
    text = json.dumps(event_list(raw_event(user="a"), big, raw_event(user="b")), indent=2)
    messages: list[str] = []
    events, reader = read(
        text, max_event_bytes=8192, on_issue=lambda i: messages.append(i.display())
    )
    assert users(events) == ["a", "b"]
    assert reader.stats.skipped[IssueKind.HUGE] == 1
    big_line = text.splitlines().index("    {", text.splitlines().index("    {") + 1) + 1
    assert messages == [f"audit.json:{big_line}: skipped (huge): EventList item 1 over 8192 bytes"]


def test_items_that_are_no_event_are_skipped_alone_with_their_line() -> None:
    no_user = raw_event(user="x")
    del no_user["user"]
    text = json.dumps(event_list(raw_event(user="a"), 7, no_user, raw_event(user="b")), indent=2)
    events, reader = read(text)
    assert users(events) == ["a", "b"]
    issues = reader.stats.issues
    assert [issue.message for issue in issues] == [
        "EventList item 1: a JSON int is not an event",
        "EventList item 2: event has no user",
    ]
    rows = text.splitlines()
    assert rows[issues[0].line - 1].strip() == "7,"
    assert rows[issues[1].line - 1] == "    {" and issues[1].line > issues[0].line


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_a_cut_document_is_one_read_error_with_file_and_line(cut: float) -> None:
    text = json.dumps(event_list(raw_event(user="a"), raw_event(user="b")), indent=2)
    reader = AuditLogReader()
    stream = io.BytesIO(text[: int(len(text) * cut)].encode())
    with pytest.raises(AuditInputError) as raised:
        list(reader.read_stream(stream, "audit.json"))
    message = str(raised.value)
    last_line = text[: int(len(text) * cut)].count("\n") + 1
    assert message.startswith(f"audit.json:{last_line}: the JSON document is cut short: ")
    assert "ends early" in message
    assert isinstance(raised.value, OSError) and raised.value.line == last_line


def test_a_broken_document_is_one_read_error_naming_the_line_of_the_fault() -> None:
    rows = json.dumps(event_list(raw_event(user="a"), raw_event(user="b")), indent=2).splitlines()
    second = rows.index("    {", rows.index("    {") + 1)
    rows[second - 1] = rows[second - 1].rstrip(",")  # the comma between the items is lost
    with pytest.raises(AuditInputError, match=rf"^audit.json:{second + 1}: not a JSON document"):
        read("\n".join(rows))
    rows = json.dumps(event_list(raw_event(user="a")), indent=2).splitlines()
    at = next(n for n, row in enumerate(rows) if '"verb"' in row)
    rows[at] = rows[at].replace('"get"', "get")
    with pytest.raises(AuditInputError, match=rf"^audit.json:{at + 1}: not a JSON document: not"):
        read("\n".join(rows))


def test_detect_exits_2_on_a_cut_document_and_reads_a_large_one(tmp_path: Path) -> None:
    """The read-error contract of ``kposture detect`` (exit 2, file:line on stderr)."""
    from kposture.cli import app  # imported here: the one test of this file that needs the CLI

    text = json.dumps(event_list(*[raw_event(user=f"u{n}") for n in range(40)]), indent=2)
    whole, cut = tmp_path / "whole.json", tmp_path / "cut.json"
    whole.write_text(text)
    cut.write_text(text[: len(text) // 2])
    runner = CliRunner()
    result = runner.invoke(app, ["detect", str(whole), "--max-event-bytes", "1024"])
    assert result.exit_code == 0, result.output
    assert "40 events read" in result.stderr and "skipped" not in result.stderr
    result = runner.invoke(app, ["detect", str(cut)])
    assert result.exit_code == 2, result.output
    line = text[: len(text) // 2].count("\n") + 1
    assert f"{cut}:{line}: the JSON document is cut short" in " ".join(result.stderr.split())


def test_concatenated_pretty_documents_and_a_single_pretty_event() -> None:
    text = "\n".join(
        [
            json.dumps(raw_event(user="a"), indent=2),
            json.dumps(raw_event(user="b"), indent=4),
            json.dumps(event_list(raw_event(user="c")), indent=2),
            json.dumps(raw_event(user="d")),
        ]
    )
    events, reader = read(text)
    assert users(events) == ["a", "b", "c", "d"]
    assert reader.stats.skipped_total == 0
    assert [e.origin.line for e in events][:2] == [1, text.splitlines().index("{", 1) + 1]


def test_cloud_exports_written_over_several_lines() -> None:
    record = {"category": "kube-audit", "properties": {"log": json.dumps(raw_event(user="h"))}}
    other = {"category": "kube-apiserver", "properties": {"log": "I0501 started"}}
    subscription = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": "1", "message": json.dumps(raw_event(user="e"))}],
    }
    text = json.dumps({"records": [other, record, other]}, indent=2) + json.dumps(
        subscription, indent=2
    )
    events, reader = read(text)
    assert users(events) == ["h", "e"]
    assert [e.origin.envelope for e in events] == ["aks", "eks"]
    assert reader.stats.skipped == {**dict.fromkeys(IssueKind, 0), IssueKind.OTHER_CATEGORY: 2}


def test_documents_of_another_format_or_kind_are_skipped_once() -> None:
    text = json.dumps(event_list(raw_event(), raw_event()), indent=2)
    events, reader = read(text, envelope=Envelope.GKE)
    assert events == [] and reader.stats.skipped[IssueKind.NOT_AN_EVENT] == 1
    assert reader.stats.issues[0].message == "a Kubernetes audit record, not gke (--format)"
    pods = {"apiVersion": "v1", "kind": "PodList", "items": [{"kind": "Pod"}] * 3}
    events, reader = read(json.dumps(pods, indent=2))
    assert events == [] and reader.stats.skipped[IssueKind.NOT_AN_EVENT] == 1
    assert reader.stats.issues[0].message == "a PodList is not an audit EventList"


def test_a_log_of_json_lines_whose_first_line_was_cut_is_still_read_by_line() -> None:
    good = json.dumps(raw_event(user="ok"))
    for first in (good[:40], good[:41] + "{", good[: good.index('"verb"')]):
        events, reader = read(f"{first}\n{good}\n{good}\n")
        assert users(events) == ["ok", "ok"], first
        assert reader.stats.skipped_total == 1
        assert reader.stats.issues[0].line == 1
    events, reader = read(good[:40] + "\n")
    assert events == [] and reader.stats.skipped[IssueKind.TRUNCATED] == 1
    events, reader = read(f"[\n{good}\n]\n")  # a pretty printer's first line: a document
    assert users(events) == ["ok"] and reader.stats.skipped_total == 0
