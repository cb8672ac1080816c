"""The watch loop without a cluster: how a batch is gathered (the window runs from its first
event's arrival, so a backlog is taken at once), the order of work in a batch (store, then alerts,
then metrics), its timing by stage, the open-finding counts handed to the metrics, and when the
heap is settled."""

from __future__ import annotations

import datetime as dt
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from kposture.engine import Registry
from kposture.model import Finding, ResourceRef, RunPolicy, SourceLocation
from kposture.model.lifecycle import Alert, Change, FindingAlert, Transition
from kposture.rules import builtin_rules
from kposture.sources.cluster_watch import FIELDS, RELISTED, WatchEvent
from kposture.sources.objects import resource_ref
from kposture.store.findings import Scope
from kposture.watcher.open_findings import Labels
from kposture.watcher.state import ClusterState
from kposture.watcher.watching import BatchTiming, Watcher

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
PRIVILEGED = ("critical", "privileged-container", "shop")


def _deployment(name: str, privileged: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
        "spec": {
            "template": {
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/app:1.0",
                            "securityContext": {"privileged": privileged},
                        }
                    ],
                }
            }
        },
    }


def _event(obj: dict[str, Any], received: float | None = None) -> WatchEvent:
    arrived = time.monotonic() if received is None else received
    return WatchEvent("MODIFIED", obj["kind"], obj, arrived, time.time())


class Events(queue.Queue[WatchEvent]):
    """A queue that remembers how long each blocking ``get`` was allowed to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def get(self, block: bool = True, timeout: float | None = None) -> WatchEvent:
        if block:
            self.waits.append(timeout)
        return super().get(block, timeout)


class Source:
    def __init__(self, listed: Sequence[dict[str, Any]]) -> None:
        self.events = Events()
        self._listed = tuple(listed)

    def start(self) -> None:
        for kind in dict.fromkeys(obj["kind"] for obj in self._listed) or ["Deployment"]:
            snapshot = tuple(obj for obj in self._listed if obj["kind"] == kind)
            self.events.put(WatchEvent(RELISTED, kind, None, 0.0, 0.0, snapshot))

    def wait_listed(self, timeout: float | None = None) -> bool:
        return True

    def forbidden(self) -> list[str]:
        return []

    def stop(self, timeout: float = 5.0) -> None:
        pass


class Log:
    """Records, in order, what the store, the sinks, the metrics and the heap were asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.timings: list[BatchTiming] = []
        self.open: list[dict[Labels, int]] = []
        self.alerts: list[Alert] = []
        self.closed_within: float | None = None
        self.stop: Callable[[], None] = lambda: None

    # the store
    def record(
        self,
        found: Sequence[Finding],
        _scope: Scope,
        at: dt.datetime,
        changed_by: Callable[[ResourceRef], str],
    ) -> list[Transition]:
        self.calls.append("record")
        return [
            Transition(
                f.fingerprint,
                f.rule_id,
                f.severity,
                f.resource,
                "",
                f.message,
                Change.OPENED,
                at,
                changed_by(f.resource),
                "",
            )
            for f in found
            if f.rule_id == "privileged-container"
        ]

    # the sinks
    def send(self, alert: Alert) -> None:
        self.calls.append("send")
        self.alerts.append(alert)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        self.calls.append("close")
        self.closed_within = timeout

    # the store's alerts table
    def record_alerts(self, alerts: Sequence[FindingAlert]) -> None:
        self.calls.append(f"record_alerts {len(alerts)}")

    # the metrics
    def batch(self, timing: BatchTiming) -> None:
        self.calls.append("batch")
        self.timings.append(timing)

    def transitions(self, transitions: Sequence[Transition]) -> None:
        self.calls.append("transitions")

    def open_findings(self, changes: Mapping[Labels, int]) -> None:
        self.open.append(dict(changes))

    def objects(self, counts: Mapping[str, int]) -> None:
        self.calls.append(f"objects {dict(counts)}")

    # the heap
    def settle(self) -> None:
        self.calls.append("settle")

    def after_batch(self, *, idle: bool) -> None:
        self.calls.append(f"after_batch idle={idle}")
        self.stop()

    def release(self) -> None:
        self.calls.append("release")


@pytest.fixture
def log() -> Log:
    return Log()


def _watcher(log: Log, *listed: dict[str, Any], window: float = 0.1, **options: Any) -> Watcher:
    state = ClusterState(SourceLocation("cluster:test", 0, 0, "cluster"), resource_ref)
    watcher = Watcher(
        Source(listed),
        state,
        Registry(builtin_rules()),
        RunPolicy(),
        log.record,
        log,
        cluster="test",
        observer=log,
        heap=log,  # type: ignore[arg-type]
        window=window,
        now=lambda: NOW,
        keep_lags=True,
        **options,
    )
    log.stop = watcher.stop
    return watcher


def test_events_that_waited_longer_than_the_window_are_taken_at_once(log: Log) -> None:
    watcher = _watcher(log, window=30.0)
    events = watcher.source.events
    assert isinstance(events, Events)
    long_ago = time.monotonic() - 60
    for name in ("a", "b", "c"):
        events.put(_event(_deployment(name, True), received=long_ago))
    batch = watcher.next_batch()
    assert [e.obj["metadata"]["name"] for e in batch if e.obj] == ["a", "b", "c"]
    # Only the wait for a first event: the window had passed when it was taken.
    assert events.waits == [0.25]


def test_a_fresh_event_waits_at_most_the_window_for_others(log: Log) -> None:
    watcher = _watcher(log, window=0.05)
    events = watcher.source.events
    assert isinstance(events, Events)
    events.put(_event(_deployment("a", True)))
    assert len(watcher.next_batch()) == 1
    assert len(events.waits) == 2
    assert events.waits[1] is not None and 0 < events.waits[1] <= 0.05


def test_alerts_go_out_after_the_commit_and_before_the_metrics(log: Log) -> None:
    watcher = _watcher(log, _deployment("web", False))
    assert watcher.start()
    assert log.calls == ["record", "batch", "transitions", "objects {'Deployment': 1}", "settle"]
    assert len(log.open) == 1 and PRIVILEGED not in log.open[0]
    log.calls.clear()
    arrived = time.monotonic() - 1.0
    transitions = watcher.handle([_event(_deployment("web", True), received=arrived)])
    assert [(t.change, t.rule_id, t.resource.name) for t in transitions] == [
        (Change.OPENED, "privileged-container", "web")
    ]
    assert log.calls == ["record", "send", "batch", "transitions", "objects {'Deployment': 1}"]
    assert log.alerts[-1].dedup_key == f"{transitions[0].fingerprint}:open"
    assert log.alerts[-1].dedup_subject == transitions[0].fingerprint
    assert log.open[-1] == {PRIVILEGED: 1}


def test_a_batch_is_timed_by_stage(log: Log) -> None:
    watcher = _watcher(log, _deployment("web", False))
    watcher.start()
    arrived = time.monotonic() - 1.0
    watcher.handle([_event(_deployment("web", True), received=arrived)])
    timing = log.timings[-1]
    assert timing.arrived == (arrived,)
    assert timing.started <= timing.judged <= timing.stored <= timing.alerted
    assert timing.queued == timing.started - arrived >= 1.0
    assert timing.judge + timing.store + timing.alert == pytest.approx(
        timing.alerted - timing.started
    )
    assert timing.cpu > 0
    assert not timing.full and timing.work > 0
    assert watcher.stats.lags[-1] == timing.stored - arrived
    assert watcher.stats.timings[-1] is timing


def test_fixing_the_last_finding_of_a_label_set_sets_it_to_zero(log: Log) -> None:
    watcher = _watcher(log, _deployment("web", True), _deployment("api", True))
    watcher.start()
    assert log.open[-1][PRIVILEGED] == 2
    watcher.handle([_event(_deployment("web", False))])
    assert log.open[-1] == {PRIVILEGED: 1}
    watcher.handle([_event(_deployment("api", False))])
    assert log.open[-1] == {PRIVILEGED: 0}


def test_the_heap_is_settled_after_a_full_reconcile_and_frozen_after_each_batch(
    log: Log,
) -> None:
    watcher = _watcher(log, _deployment("web", False), window=0.0)
    watcher.start()
    assert log.calls[-1] == "settle"
    watcher.source.events.put(_event(_deployment("web", True)))
    watcher.run()  # until after_batch stops it
    assert log.calls[-1] == "after_batch idle=True"
    watcher.close()
    assert log.calls[-2:] == ["close", "release"]
    assert log.closed_within == 5.0  # one bounded drain; a webhook's spool keeps the rest


def test_a_quiet_start_records_the_baseline_and_alerts_on_changes(log: Log) -> None:
    watcher = _watcher(log, _deployment("web", True), record_alerts=log.record_alerts)
    watcher.quiet_start = True
    watcher.start()
    assert watcher.stats.transitions == 1
    assert log.alerts == []
    assert log.calls[:2] == ["record", "batch"]
    log.calls.clear()
    watcher.handle([_event(_deployment("api", True))])
    assert [a.resource.name for a in log.alerts if a.resource] == ["api"]
    assert log.calls[:3] == ["record", "send", "record_alerts 1"]


def test_a_start_that_is_not_quiet_alerts_on_every_finding(log: Log) -> None:
    watcher = _watcher(log, _deployment("web", True), record_alerts=log.record_alerts)
    watcher.start()
    assert [a.change for a in log.alerts] == ["opened"]
    assert "record_alerts 1" in log.calls


def test_with_namespaces_only_their_namespace_objects_are_kept_from_a_list(log: Log) -> None:
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in ("shop", "hook", "other")
    ]
    watcher = _watcher(log, _deployment("web", False), *namespaces, namespaces=("shop", "hook"))
    watcher.start()
    assert sorted(key for key in watcher.state.objects if key[0] == "Namespace") == [
        ("Namespace", "", "hook"),
        ("Namespace", "", "shop"),
    ]


def _managed(raw: dict[str, Any], *entries: tuple[str, str, str]) -> dict[str, Any]:
    raw["metadata"]["managedFields"] = [
        {"manager": manager, "operation": "Update", "time": time, FIELDS: fields}
        for manager, time, fields in entries
    ]
    return raw


def test_a_change_is_attributed_to_its_author_not_to_the_controllers_status(log: Log) -> None:
    applied = ("kubectl-client-side-apply", "2026-11-27T04:07:33Z", "metadata,spec")
    status = ("kube-controller-manager", "2026-11-27T04:07:33Z", "metadata,status")
    watcher = _watcher(log, _managed(_deployment("web", False), applied, status))
    watcher.start()
    patch = ("kubectl-patch", "2026-11-27T04:07:37Z", "spec")
    later_status = ("kube-controller-manager", "2026-11-27T04:07:38Z", "metadata,status")
    batch = [
        _event(_managed(_deployment("web", True), applied, status, patch)),
        _event(_managed(_deployment("web", True), applied, later_status, patch)),
    ]
    (opened,) = watcher.handle(batch)
    assert opened.changed_by == "kubectl-patch"
