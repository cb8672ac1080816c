"""Holding the webhook's events to judge them in request order: every event waits at most the
hold, an event later than the hold is handed on as it comes, the hold is bounded."""

from __future__ import annotations

from typing import Any

from kposture.server.event_order import HeldEvent, HeldEvents


def _item(second: int, stage: str = "ResponseComplete") -> dict[str, Any]:
    return {"requestReceivedTimestamp": f"2024-05-01T10:00:{second:02d}.000000Z", "stage": stage}


def _seconds(held: list[HeldEvent]) -> list[int]:
    return [int(str(h.item["requestReceivedTimestamp"])[17:19]) for h in held]  # type: ignore[index]


def test_events_are_handed_on_in_request_order_once_the_hold_is_over() -> None:
    held = HeldEvents(hold=0.5)
    held.add(_item(3), now=10.0)
    held.add(_item(1), now=10.1)
    held.add(_item(2), now=10.2)
    assert held.due(10.4) == []
    assert _seconds(held.due(10.5)) == [1, 2, 3]  # the first settled: all before it go too
    assert len(held) == 0 and held.next_due(11.0) is None


def test_an_event_waits_at_most_the_hold_and_a_later_one_does_not_stop_it() -> None:
    held = HeldEvents(hold=0.5)
    held.add(_item(1), now=10.0)
    held.add(_item(5), now=10.3)
    assert abs((held.next_due(10.1) or 0) - 0.4) < 1e-9
    assert _seconds(held.due(10.5)) == [1]
    assert _seconds(held.due(10.8)) == [5]


def test_an_event_later_than_the_hold_is_handed_on_as_it_comes() -> None:
    held = HeldEvents(hold=0.5)
    held.add(_item(5), now=10.0)
    assert _seconds(held.due(10.5)) == [5]
    held.add(_item(1), now=11.0)
    assert _seconds(held.due(11.5)) == [1]


def test_stages_of_one_request_go_in_stage_order_and_unreadable_times_first() -> None:
    held = HeldEvents(hold=0.0)
    held.add(_item(1, "ResponseComplete"), now=1.0)
    held.add(_item(1, "ResponseStarted"), now=1.0)
    held.add({"stage": "ResponseComplete", "requestReceivedTimestamp": "yesterday"}, now=1.0)
    held.add(7, now=1.0)
    out = held.due(1.0)
    assert [h.item for h in out[:2]] == [
        {"stage": "ResponseComplete", "requestReceivedTimestamp": "yesterday"},
        7,
    ]
    assert [h.item["stage"] for h in out[2:]] == ["ResponseStarted", "ResponseComplete"]  # type: ignore[index]


def test_the_hold_is_bounded_the_earliest_goes_on_when_it_is_full() -> None:
    held = HeldEvents(hold=60.0, capacity=2)
    assert held.add(_item(3), now=1.0) == []
    assert held.add(_item(2), now=1.0) == []
    assert _seconds(held.add(_item(1), now=1.0)) == [1]
    assert _seconds(held.all()) == [2, 3]
