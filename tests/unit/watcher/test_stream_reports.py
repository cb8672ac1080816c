"""What the operator reads about the streams: one warning per outage and one line when it is over,
forbidden kinds once the watch started (before, the driver lists them itself), and the counters."""

from __future__ import annotations

import logging

import pytest

from kposture.watcher.stream_reports import StreamReports


class Counters:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def stream_status(self, kind: str, what: str, detail: str) -> None:
        self.seen.append((kind, what))


def test_an_outage_is_one_warning_and_one_line_when_it_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reports = StreamReports("https://10.0.0.1:6443")
    with caplog.at_level(logging.INFO, logger="kposture.watch"):
        reports.connection("lost", "connection refused")
        reports.connection("restored", "after 20.5 s; 16 kinds listed again")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "lost the connection to the API server https://10.0.0.1:6443 (connection refused); "
            "reconnecting (changes made meanwhile are judged when it is back)",
        ),
        (
            "INFO",
            "the connection to the API server https://10.0.0.1:6443 is back after 20.5 s; "
            "16 kinds listed again",
        ),
    ]


def test_forbidden_kinds_are_told_by_the_driver_at_start_then_by_the_streams(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = Counters()
    reports = StreamReports("https://10.0.0.1:6443", counters)
    with caplog.at_level(logging.INFO, logger="kposture.watch"):
        reports.status("Secret", "forbidden", "cannot list secrets: forbidden; ...")
        assert caplog.records == []
        reports.started = True
        reports.status("Secret", "forbidden", "cannot list secrets: forbidden; ...")
        reports.status("Secret", "permitted", "secrets can be listed now")
    assert [r.getMessage() for r in caplog.records] == [
        "cannot list secrets: forbidden; ...",
        "secrets can be listed now: watching them again",
    ]
    assert counters.seen == [("Secret", "forbidden")] * 2 + [("Secret", "permitted")]
