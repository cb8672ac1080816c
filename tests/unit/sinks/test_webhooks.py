"""The webhook sink against a real HTTP receiver on 127.0.0.1: retries with backoff, a receiver that
goes down and comes back, a full queue, a restart with a spooled backlog, refusals, Retry-After,
timeouts, redirects, headers from env and file, and the Slack payload on the wire."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from tests.unit.sinks.alert_samples import AT, finding_alert
from tests.unit.sinks.receivers import Answer, Receiver, wait_for

from audit_samples import audit_event
from kposture.detections import Detector
from kposture.model.incidents import sink_alert
from kposture.sinks.credentials import HeaderValue, ResolvedHeader
from kposture.sinks.delivering import Backoff, Response
from kposture.sinks.documents import ALERT_SCHEMA
from kposture.sinks.slack_payloads import slack_json
from kposture.sinks.spools import DirectorySpool, MemorySpool, SpoolError
from kposture.sinks.summaries import delivery_summary
from kposture.sinks.webhooks import WebhookSink, slack_sink

FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.2)


@pytest.fixture
def receiver() -> Receiver:
    started = Receiver().start()
    yield started  # type: ignore[misc]
    started.stop()


def _sink(url: str, **options: object) -> WebhookSink:
    options.setdefault("backoff", FAST)
    options.setdefault("timeout", 2.0)
    return WebhookSink(url, **options)  # type: ignore[arg-type]


def test_delivers_the_alert_document_as_json(receiver: Receiver) -> None:
    sink = _sink(receiver.url)
    sink.send(finding_alert("one"))
    assert sink.flush(5)
    sink.close()
    (request,) = receiver.requests
    assert request.path == "/hooks/T0SECRETPATH/alerts"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("kposture-alerts/")
    body = request.json()
    assert body["schema"] == ALERT_SCHEMA
    assert body["message"] == "one"
    assert sink.stats.snapshot() | {} == {
        "queued": 1,
        "sent": 1,
        "failed": 0,
        "retried": 0,
        "dropped": 0,
        "rejected": 0,
        "filtered": 0,
        "deduplicated": 0,
        "errors": 0,
        "already_queued": 0,
        "pending": 0,
    }


def test_fails_three_times_then_succeeds_with_growing_backoff(receiver: Receiver) -> None:
    receiver.answer(500, 502, 503)
    sink = _sink(receiver.url, backoff=Backoff(initial=0.04, maximum=1.0, jitter=0.0))
    sink.send(finding_alert("flaky"))
    assert sink.flush(5)
    sink.close()
    assert receiver.messages() == ["flaky"] * 4
    stats = sink.stats
    assert (stats.sent, stats.failed, stats.retried, stats.pending) == (1, 3, 3, 0)
    times = [request.at for request in receiver.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 0.04, 0.08, 0.16 s: each wait at least its backoff (the clock is monotonic, the bound loose).
    for gap, expected in zip(gaps, (0.04, 0.08, 0.16), strict=True):
        assert gap >= expected * 0.9
    assert gaps[2] > gaps[0]


def test_backoff_jitter_spreads_the_delay_within_bounds() -> None:
    backoff = Backoff(initial=1.0, maximum=100.0, multiplier=2.0, jitter=0.25)
    assert backoff.delay(1, 0.0) == pytest.approx(0.75)
    assert backoff.delay(1, 0.999999) == pytest.approx(1.25, rel=1e-5)
    assert backoff.delay(3, 0.5) == pytest.approx(4.0)
    assert backoff.delay(50, 0.999) == 100.0  # capped, jitter included
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0.0)


def test_receiver_down_then_back_loses_nothing_and_keeps_order(
    receiver: Receiver, tmp_path: Path
) -> None:
    sink = _sink(receiver.url, spool=DirectorySpool(tmp_path / "spool"))
    for index in range(3):
        sink.send(finding_alert(f"before-{index}"))
    assert sink.flush(5)
    receiver.stop()
    for index in range(5):
        sink.send(finding_alert(f"during-{index}"))
    assert wait_for(lambda: sink.stats.failed >= 3)
    assert sink.stats.pending == 5
    assert len(list((tmp_path / "spool").glob("*.alert"))) == 5
    receiver.start()  # the same port
    assert sink.flush(10)
    sink.close()
    assert receiver.messages() == [f"before-{i}" for i in range(3)] + [
        f"during-{i}" for i in range(5)
    ]
    assert sink.stats.sent == 8
    assert sink.stats.dropped == 0
    assert list((tmp_path / "spool").glob("*.alert")) == []


def test_full_queue_drops_the_oldest_waiting_counts_and_warns(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.stop()
    sink = _sink(receiver.url, spool=DirectorySpool(tmp_path / "spool", max_count=3))
    sink.send(finding_alert("a1"))
    # a1 is in flight (retrying) from here on: it is never the one dropped.
    assert wait_for(lambda: sink.stats.failed >= 1)
    with caplog.at_level(logging.WARNING, logger="kposture.sinks"):
        for name in ("a2", "a3", "a4", "a5"):
            sink.send(finding_alert(name))
    assert sink.stats.dropped == 2
    assert sink.stats.pending == 3
    assert "queue is full" in caplog.text
    assert "dropped the 1 oldest" in caplog.text  # then rate-limited; the counter has all
    receiver.start()
    assert sink.flush(10)
    sink.close()
    assert receiver.messages() == ["a1", "a4", "a5"]


def test_byte_bound_drops_too(receiver: Receiver) -> None:
    receiver.stop()
    body_size = len(_sink_body("x" * 10))
    sink = _sink(receiver.url, spool=MemorySpool(max_count=100, max_bytes=body_size * 2 + 10))
    sink.send(finding_alert("x" * 10))
    assert wait_for(lambda: sink.stats.failed >= 1)
    for _ in range(3):
        sink.send(finding_alert("x" * 10))
    assert sink.stats.dropped == 2
    sink.close(0)
    assert sink.stats.dropped == 4  # the two left in memory are lost on close, and counted


def _sink_body(message: str) -> bytes:
    from kposture.sinks.documents import alert_json

    return alert_json(finding_alert(message))


def test_restart_sends_what_an_earlier_run_spooled(receiver: Receiver, tmp_path: Path) -> None:
    receiver.stop()
    directory = tmp_path / "spool"
    first = _sink(receiver.url, spool=DirectorySpool(directory))
    for name in ("r1", "r2", "r3"):
        first.send(finding_alert(name))
    with pytest.raises(SpoolError, match="in use by another process"):
        DirectorySpool(directory)
    first.close(0)
    assert first.stats.sent == 0
    assert len(list(directory.glob("*.alert"))) == 3
    receiver.start()
    second = _sink(receiver.url, spool=DirectorySpool(directory))
    assert second.stats.pending == 3
    second.send(finding_alert("r4"))
    assert second.flush(10)
    second.close()
    assert receiver.messages() == ["r1", "r2", "r3", "r4"]


def test_a_crash_mid_write_leaves_no_half_entry(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = DirectorySpool(directory)
    spool.append(b"{}")
    spool.close()
    (directory / ".7.tmp").write_bytes(b'{"half')
    (directory / "notes.txt").write_text("not an entry")
    reopened = DirectorySpool(directory)
    assert len(reopened) == 1
    assert not (directory / ".7.tmp").exists()
    assert reopened.append(b"[]") == 0
    entry = reopened.peek()
    assert entry is not None
    assert entry.body == b"{}"
    reopened.close()


def test_spool_bounds_shrunk_between_runs_drop_on_open(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = DirectorySpool(directory)
    for index in range(5):
        spool.append(str(index).encode())
    spool.close()
    smaller = DirectorySpool(directory, max_count=2)
    assert smaller.dropped_on_open == 3
    sink = _sink("http://127.0.0.1:9/never", spool=smaller)
    assert sink.stats.dropped == 3
    sink.close(0)


def test_refused_alert_is_not_retried_and_does_not_block_the_queue(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(400)
    sink = _sink(receiver.url)
    with caplog.at_level(logging.WARNING, logger="kposture.sinks"):
        sink.send(finding_alert("bad"))
        sink.send(finding_alert("good"))
        assert sink.flush(5)
    sink.close()
    assert receiver.messages() == ["bad", "good"]
    assert (sink.stats.rejected, sink.stats.sent, sink.stats.failed) == (1, 1, 0)
    assert "refused an alert with HTTP 400" in caplog.text


def test_unauthorized_is_retried_because_tokens_rotate(receiver: Receiver) -> None:
    receiver.answer(401, 403)
    sink = _sink(receiver.url)
    sink.send(finding_alert("auth"))
    assert sink.flush(5)
    sink.close()
    assert (sink.stats.sent, sink.stats.failed, sink.stats.rejected) == (1, 2, 0)


def test_retry_after_is_honoured_up_to_the_backoff_maximum(receiver: Receiver) -> None:
    receiver.answer(Answer(429, (("Retry-After", "1"),)))
    sink = _sink(receiver.url, backoff=Backoff(initial=0.01, maximum=0.3, jitter=0.0))
    sink.send(finding_alert("slow down"))
    assert sink.flush(5)
    sink.close()
    first, second = receiver.requests
    assert second.at - first.at >= 0.27


def test_a_receiver_slower_than_the_timeout_is_retried(receiver: Receiver) -> None:
    receiver.answer(Answer(200, delay=0.6))
    sink = _sink(receiver.url, timeout=0.2)
    sink.send(finding_alert("slow"))
    assert sink.flush(5)
    sink.close()
    assert sink.stats.failed == 1
    assert sink.stats.sent == 1


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answer(Answer(302, (("Location", "http://127.0.0.1:9/elsewhere"),)))
    sink = _sink(receiver.url)
    sink.send(finding_alert("moved"))
    assert sink.flush(5)
    sink.close()
    assert len(receiver.requests) == 1
    assert sink.stats.rejected == 1


def test_close_does_not_wait_out_the_backoff_while_the_receiver_is_down(
    receiver: Receiver,
) -> None:
    receiver.stop()
    sink = _sink(receiver.url, backoff=Backoff(initial=5.0, maximum=5.0))
    sink.send(finding_alert("stuck"))
    assert wait_for(lambda: sink.stats.failed >= 1)
    sink.close(0.2)
    assert sink.stats.failed == 1  # closed inside the 5 s backoff: no second attempt was made
    assert not sink.flush(0)
    with pytest.raises(RuntimeError, match="closed"):
        sink.send(finding_alert("late"))


def test_headers_from_env_and_a_file_read_at_each_attempt(
    receiver: Receiver, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    headers = [
        ResolvedHeader(
            "Authorization", HeaderValue.parse("env:SOC_TOKEN", "Bearer "), {"SOC_TOKEN": "s3cr"}
        ),
        ResolvedHeader("X-Api-Key", HeaderValue.parse(f"file:{token_file}")),
        ResolvedHeader("X-Team", HeaderValue.parse("secops")),
    ]
    sink = _sink(receiver.url, headers=headers)
    sink.send(finding_alert("one"))
    assert sink.flush(5)
    token_file.write_text("rotated-token")
    sink.send(finding_alert("two"))
    assert sink.flush(5)
    sink.close()
    first, second = receiver.requests
    assert first.headers["Authorization"] == "Bearer s3cr"
    assert first.headers["X-Team"] == "secops"
    assert first.headers["X-Api-Key"] == "first-token"
    assert second.headers["X-Api-Key"] == "rotated-token"


def test_a_header_file_that_disappears_keeps_the_alert_spooled(
    receiver: Receiver, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t")
    sink = _sink(
        receiver.url, headers=[ResolvedHeader("X-Key", HeaderValue.parse(f"file:{token_file}"))]
    )
    token_file.unlink()
    sink.send(finding_alert("kept"))
    assert wait_for(lambda: sink.stats.failed >= 2)
    assert receiver.requests == []
    token_file.write_text("back")
    assert sink.flush(5)
    sink.close()
    assert receiver.messages() == ["kept"]


def test_slack_sink_posts_text_and_blocks(receiver: Receiver) -> None:
    sink = slack_sink(receiver.url, backoff=FAST)
    assert sink.name == f"slack:127.0.0.1:{receiver.port}"
    sink.send(finding_alert("privileged & <exposed>"))
    assert sink.flush(5)
    sink.close()
    (payload,) = receiver.bodies()
    assert set(payload) == {"text", "blocks"}
    assert "privileged &amp; &lt;exposed&gt;" in payload["text"]
    assert [block["type"] for block in payload["blocks"]] == [
        "header",
        "section",
        "section",
        "context",
    ]
    assert receiver.requests[0].body == slack_json(finding_alert("privileged & <exposed>"))


def test_many_threads_sending_lose_nothing(receiver: Receiver, tmp_path: Path) -> None:
    import threading

    sink = _sink(receiver.url, spool=DirectorySpool(tmp_path / "spool"))

    def produce(worker: int) -> None:
        for index in range(25):
            sink.send(finding_alert(f"{worker}-{index}"))

    threads = [threading.Thread(target=produce, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sink.flush(20)
    sink.close()
    messages = receiver.messages()
    assert sorted(messages) == sorted(f"{w}-{i}" for w in range(4) for i in range(25))
    for worker in range(4):  # each producer's alerts arrive in the order it sent them
        own = [m for m in messages if m.startswith(f"{worker}-")]
        assert own == [f"{worker}-{i}" for i in range(25)]


def test_close_does_not_wait_for_a_receiver_that_never_answers(tmp_path: Path) -> None:
    # A black-holed receiver: the attempt hangs (here until the test lets it go), so closing
    # must not join the delivery thread for good. The alert stays spooled for the next start.
    import threading

    answered = threading.Event()
    attempting = threading.Event()

    def hanging_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        attempting.set()
        answered.wait(60)
        return Response(200)

    sink = _sink("https://soc.example.com/x", post=hanging_post, spool=DirectorySpool(tmp_path))
    sink.send(finding_alert("in flight"))
    assert attempting.wait(30)
    closer = threading.Thread(target=sink.close, args=(0.1,))
    closer.start()
    closer.join(30)
    stuck = closer.is_alive()
    answered.set()
    assert not stuck, "close waited for the attempt in flight"
    assert sink.stats.pending == 1


def test_the_fan_out_closes_within_its_default_timeout_while_a_receiver_is_down(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from kposture.sinks.fanning import Sinks
    from kposture.sinks.routing import Route

    receiver.stop()
    sink = _sink(receiver.url, backoff=Backoff(initial=0.05, maximum=0.05))
    given: list[float | None] = []
    close = sink.close

    def recorded_close(timeout: float | None = 5.0) -> None:
        given.append(timeout)
        close(timeout)

    monkeypatch.setattr(sink, "close", recorded_close)
    sinks = Sinks([(sink, Route())], clock=lambda: 0.0)  # no time passes: the sink gets it all
    sinks.send(finding_alert("never delivered"))
    assert wait_for(lambda: sink.stats.failed >= 1)
    failed_before_close = sink.stats.failed
    closing = threading.Thread(target=sinks.close, daemon=True)
    closing.start()
    closing.join(60)  # a hang detector, not a bound: past 60 s the close never ends
    assert not closing.is_alive(), "the fan-out waits for a receiver that is down"
    assert given == [5.0]  # the default timeout, not None (which waits as long as it is down)
    assert sink.stats.failed > failed_before_close  # delivery went on while closing
    assert sink.stats.dropped == 1  # a memory spool's leftovers are counted as lost


def test_an_unreachable_receiver_reports_what_the_spool_holds(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.stop()
    sink = _sink(receiver.url, spool=DirectorySpool(tmp_path / "spool"))
    with caplog.at_level(logging.WARNING, logger="kposture.sinks"):
        sink.send(finding_alert("first"))
        assert wait_for(lambda: sink.stats.failed >= 1)
        for index in range(9):
            sink.send(finding_alert(f"next-{index}"))
        sink.close(0)
    assert "retrying with backoff (1 alert spooled so far)" in caplog.text
    assert "closed with 10 alerts undelivered, kept in its spool" in caplog.text
    assert sink.stats.pending == 10
    assert len(list((tmp_path / "spool").glob("*.alert"))) == 10


def test_a_memory_spool_left_on_close_is_counted_lost_not_pending(receiver: Receiver) -> None:
    receiver.stop()
    sink = _sink(receiver.url, spool=MemorySpool())
    sink.send(finding_alert("one"))
    sink.send(finding_alert("two"))
    sink.close(0)
    assert (sink.stats.pending, sink.stats.dropped) == (0, 2)


def test_an_alert_the_spool_already_holds_is_counted_apart_from_the_queued(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.stop()
    sink = _sink(receiver.url, spool=DirectorySpool(tmp_path / "spool"))
    event = replace(
        audit_event(verb="create", resource="pods", subresource="exec", code=101), audit_id="a-1"
    )
    (alert,) = [sink_alert(found, AT) for found in Detector().process(event)]
    sink.send(alert)
    sink.send(alert)  # the same audit event read again while the first still waits
    sink.send(finding_alert("other"))
    sink.close(0)
    counts = sink.stats.snapshot()
    assert (counts["queued"], counts["already_queued"], counts["pending"]) == (2, 1, 2)
    line = delivery_summary(sink.name, counts)
    assert "2 alerts queued, 1 already queued (the same alert was waiting), 0 sent" in line
