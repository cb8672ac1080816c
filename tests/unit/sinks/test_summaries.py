"""The delivery summary a driver prints when its sinks close: counts read from the stats, what the
spool still holds, and plurals that agree with their numbers."""

from __future__ import annotations

from kposture.sinks.summaries import counted, delivery_summary


def test_counts_agree_with_their_numbers() -> None:
    assert counted(0, "alert") == "0 alerts"
    assert counted(1, "alert") == "1 alert"
    assert counted(10, "alert") == "10 alerts"
    assert counted(2, "entry", "entries") == "2 entries"


def test_a_delivered_run_says_only_what_was_sent() -> None:
    counts = {"queued": 1, "sent": 1, "pending": 0, "dropped": 0}
    assert delivery_summary("webhook-1", counts) == "alert sink webhook-1: 1 alert queued, 1 sent"


def test_what_the_spool_still_holds_is_counted_and_named() -> None:
    counts = {"queued": 10, "sent": 0, "pending": 10, "failed": 7, "filtered": 2, "rejected": 1}
    line = delivery_summary("webhook-1", counts)
    assert line.startswith("alert sink webhook-1: 10 alerts queued, 0 sent; 10 alerts not ")
    assert "kept in its spool" in line
    assert "1 refused by the receiver" in line and "2 below its minimum severity" in line
    assert "failed" not in line  # attempts are a metric, not alerts


def test_every_count_in_the_line_agrees_with_its_number() -> None:
    counts = {"queued": 1, "sent": 0, "pending": 1, "deduplicated": 1}
    line = delivery_summary("webhook-1", counts)
    assert "1 alert not delivered yet" in line and "1 duplicate not sent" in line
    assert "duplicates" not in line
    plural = delivery_summary("webhook-1", {"queued": 3, "sent": 1, "deduplicated": 2})
    assert "2 duplicates not sent" in plural
