"""The watch loop: events in, findings judged again, transitions stored and sent as alerts.

Owns ``Watcher``, the driver of ``kposture watch``. It takes events from a source (the cluster
watch: one stream per kind, each listing first), keeps the object set (``state``), and works in
batches: a batch closes ``window`` seconds (100 ms) after its first event arrived, so a burst (a
Deployment and the ReplicaSets and pods its controller writes) is judged once, while events that
queued up during the previous batch are taken at once, without waiting again. For a batch of
changes it builds the new inventory (carrying over the views the batch cannot change,
``carrying``), judges the affected objects (``dependents``, ``evaluating``) and reconciles them
with the store as a scoped evaluation, each transition attributed to who made the change
(``attribution``); a relist (a stream's 410 Gone, or a forbidden kind listed at last) and the
start reconcile the whole cluster instead, so deletions missed while away resolve as ``deleted``
and a restart after SIGKILL converges to the state an uninterrupted run would have, with no
duplicate transitions (the store writes none for a state it already holds). Every transition is
logged and sent to the sinks as a ``FindingAlert`` right after the commit, except the start's
when ``quiet_start`` (the baseline of a cluster the store never held); the alerts handed to the
sinks are then recorded (``record_alerts``) and metrics updated, off the path to the alert. Each
batch's ``BatchTiming`` (queued, judge, store, alert, and the thread's CPU time) goes to the
observer. With namespaces given, only the Namespace objects of those names are kept.

The clock, the store's reconcile and the sinks are given, so tests drive it without a cluster.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kposture.engine import Registry
from kposture.inventory import Inventory
from kposture.model import Finding, ResourceRef, RunPolicy
from kposture.model.lifecycle import Alert, FindingAlert, Transition, finding_alert
from kposture.sources.cluster_watch import RELISTED, WatchEvent
from kposture.store.findings import Scope
from kposture.watcher.attribution import Attribution
from kposture.watcher.carrying import carry_views
from kposture.watcher.dependents import PathView, affected
from kposture.watcher.evaluating import Judged, judge, judge_all, rules_per_kind
from kposture.watcher.heap import Heap
from kposture.watcher.open_findings import Labels, OpenFindings
from kposture.watcher.state import ClusterState, Delta, Key, key_of

log = logging.getLogger("kposture.watch")

WINDOW = 0.1
"""Seconds from the arrival of a batch's first event until the batch closes."""

SHUTDOWN_DRAIN = 5.0
"""Seconds the sinks may keep delivering on shutdown; a webhook's spool keeps the rest."""

Record = Callable[
    [Sequence[Finding], Scope, dt.datetime, Callable[[ResourceRef], str]], list[Transition]
]
"""Stores what was found in a scope and returns the transitions (the store's ``reconcile``)."""

RecordAlerts = Callable[[Sequence[FindingAlert]], object]
"""Keeps the alerts a batch handed to the sinks (the store's ``alerts`` table)."""


class Source(Protocol):
    events: queue.Queue[WatchEvent]

    def start(self) -> None: ...
    def wait_listed(self, timeout: float | None = None) -> bool: ...
    def forbidden(self) -> list[str]: ...
    def stop(self, timeout: float = 5.0) -> None: ...


class Outlet(Protocol):
    def send(self, alert: Alert) -> Any: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchTiming:
    """Where one batch's time went, as ``time.monotonic()`` instants: its events' arrivals, the
    start of its handling, the end of judging (object set and inventory updated, affected objects
    judged), the store's commit, and the transitions logged and handed to the sinks. ``cpu`` is the
    watcher thread's CPU time for the batch: much less than the wall time means the thread waited
    (for a core, the GIL or the database), not worked. ``work`` is object-rule pairs judged."""

    arrived: tuple[float, ...]
    started: float
    judged: float
    stored: float
    alerted: float
    cpu: float
    work: int
    full: bool

    @property
    def queued(self) -> float:
        """From the first event's arrival to the start of handling (window and backlog)."""
        return max(0.0, self.started - min(self.arrived, default=self.started))

    @property
    def judge(self) -> float:
        return self.judged - self.started

    @property
    def store(self) -> float:
        return self.stored - self.judged

    @property
    def alert(self) -> float:
        return self.alerted - self.stored


class Observer(Protocol):
    """What the watcher reports as metrics (``watcher.metrics``); every method is cheap."""

    def batch(self, timing: BatchTiming) -> None: ...
    def transitions(self, transitions: Sequence[Transition]) -> None: ...
    def open_findings(self, changes: Mapping[Labels, int]) -> None: ...
    def objects(self, counts: Mapping[str, int]) -> None: ...


@dataclass
class Stats:
    """Totals since start, for tests, the benchmark and the shutdown log line."""

    batches: int = 0
    full_reconciles: int = 0
    events: int = 0
    transitions: int = 0
    evaluations: int = 0
    full_evaluations: int = 0
    """Evaluation work of one full evaluation of the current state (the baseline per change)."""
    lags: list[float] = field(default_factory=list)
    """Per event, from its arrival to its findings stored (kept with ``keep_lags``)."""
    timings: list[BatchTiming] = field(default_factory=list)
    """Every batch's timing (kept with ``keep_lags``)."""


class Watcher:
    """Runs until ``stop``; see the module docstring."""

    def __init__(
        self,
        source: Source,
        state: ClusterState,
        registry: Registry,
        policy: RunPolicy,
        record: Record,
        outlet: Outlet,
        *,
        cluster: str,
        facts: Callable[[ClusterState, Sequence[str]], dict[str, Any] | None] | None = None,
        namespaces: Sequence[str] | None = None,
        observer: Observer | None = None,
        heap: Heap | None = None,
        window: float = WINDOW,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        keep_lags: bool = False,
        quiet_start: bool = False,
        record_alerts: RecordAlerts | None = None,
    ) -> None:
        self.source = source
        self.state = state
        self.registry = registry
        self.policy = policy
        self.record = record
        self.outlet = outlet
        self.cluster = cluster
        self.facts = facts
        self.namespaces = namespaces
        self.observer = observer
        self.heap = heap
        self.window = window
        self.now = now
        self.keep_lags = keep_lags
        self.quiet_start = quiet_start
        """The start's reconcile records what it finds without alerting (the baseline)."""
        self.record_alerts = record_alerts
        self.stats = Stats()
        self._stopping = False
        self._inventory: Inventory | None = None
        self._paths: PathView | None = None
        self._open = OpenFindings()
        self._rule_counts = rules_per_kind(registry, policy)

    # -- lifecycle -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True

    def start(self, timeout: float | None = None) -> bool:
        """Start the streams, wait for every first list, and reconcile the whole cluster; False
        when the first lists did not all arrive within ``timeout`` (nothing is stored then)."""
        self.source.start()
        if not self.source.wait_listed(timeout):
            return False
        self.begin()
        return True

    def begin(self) -> list[Transition]:
        """Take the first lists (the streams started and listed), add the cluster's facts and
        reconcile the whole cluster: quietly, without alerts, when ``quiet_start``."""
        events = self._drain()
        deltas = [delta for event in events for delta in self._apply(event)]
        if self.facts is not None:
            self.state.set_facts(self.facts(self.state, self.source.forbidden()))
        return self._full(events, deltas=deltas, quiet=self.quiet_start)

    def run(self) -> None:
        """Handle batches until ``stop`` is called (from a signal handler or another thread)."""
        while not self._stopping:
            batch = self.next_batch()
            if batch:
                self.handle(batch)
                if self.heap is not None:
                    self.heap.after_batch(idle=self.source.events.empty())

    def close(self, timeout: float = SHUTDOWN_DRAIN) -> None:
        """Stop the streams and close the sinks, which deliver for at most ``timeout`` seconds
        (a webhook's spool keeps what is left for the next start)."""
        self.source.stop()
        self.outlet.close(timeout)
        if self.heap is not None:
            self.heap.release()

    # -- batches ---------------------------------------------------------------------------------

    def _drain(self) -> list[WatchEvent]:
        events: list[WatchEvent] = []
        while True:
            try:
                events.append(self.source.events.get_nowait())
            except queue.Empty:
                return events

    def next_batch(self) -> list[WatchEvent]:
        """The events of one batch: the first to arrive, and every other one that arrives until
        ``window`` seconds after it did (at once when that has passed: they waited already)."""
        try:
            first = self.source.events.get(timeout=0.25)
        except queue.Empty:
            return []
        batch = [first]
        deadline = first.received + self.window
        while (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(self.source.events.get(timeout=left))
            except queue.Empty:
                break
        batch.extend(self._drain())
        return batch

    def handle(self, events: Sequence[WatchEvent]) -> list[Transition]:
        """Apply one batch of events and store what it changed."""
        started, cpu = time.monotonic(), time.thread_time()
        deltas = [delta for event in events for delta in self._apply(event)]
        if any(event.type == RELISTED for event in events):
            return self._full(events, deltas=deltas, started=started, cpu=cpu)
        if not deltas:
            return []
        old = self._inventory
        new = self.state.inventory()
        assert old is not None
        carry_views(old, new, deltas)
        found = affected(
            deltas, old, new, self.state.children, self.state.in_namespace, self._paths
        )
        if found.paths is not None:
            self._paths = found.paths
        self._inventory = new
        if found.everything:
            return self._full(events, deltas=deltas, inventory=new, started=started, cpu=cpu)
        today = self.now().date()
        judged = judge(
            found.keys,
            new,
            self.registry,
            self.policy,
            today,
            self._rule_counts,
            by_uid=self.state.by_uid,
        )
        refs = [self._ref(key, new, deltas) for key in judged.scope]
        deleted = [self._ref(key, new, deltas) for key in judged.deleted]
        scope = Scope.of([r for r in refs if r is not None], deleted=[d for d in deleted if d])
        authors = Attribution(new, deltas, found.causes)
        return self._store(judged, scope, events, started, cpu, authors)

    def _full(
        self,
        events: Sequence[WatchEvent],
        *,
        deltas: Sequence[Delta] = (),
        inventory: Inventory | None = None,
        started: float | None = None,
        cpu: float | None = None,
        quiet: bool = False,
    ) -> list[Transition]:
        started = time.monotonic() if started is None else started
        cpu = time.thread_time() if cpu is None else cpu
        inventory = inventory or self.state.inventory()
        self._inventory = inventory
        self._paths = None
        judged = judge_all(
            inventory, self.registry, self.policy, self.now().date(), self._rule_counts
        )
        self._open.clear()
        scope = Scope.cluster(
            present=[obj.ref for obj in inventory.evaluation_order()],
            namespaces=self.namespaces,
            skip_kinds=self.source.forbidden(),
        )
        self.stats.full_reconciles += 1
        authors = Attribution(inventory, deltas)
        transitions = self._store(judged, scope, events, started, cpu, authors, quiet=quiet)
        if self.heap is not None:
            self.heap.settle()
        return transitions

    def _store(
        self,
        judged: Judged,
        scope: Scope,
        events: Sequence[WatchEvent],
        started: float,
        cpu: float,
        authors: Attribution,
        *,
        quiet: bool = False,
    ) -> list[Transition]:
        """Reconcile, then alert at once (unless ``quiet``: a baseline is recorded, not
        announced); bookkeeping, the alerts' record and metrics come after the alerts."""
        judged_at = time.monotonic()
        transitions = self.record(judged.findings, scope, self.now(), authors)
        stored = time.monotonic()
        alerts = [] if quiet else [self._announce(transition) for transition in transitions]
        if quiet:
            for transition in transitions:
                log.debug("%s (baseline, not alerted)", _describe(transition))
        timing = BatchTiming(
            arrived=tuple(event.received for event in events),
            started=started,
            judged=judged_at,
            stored=stored,
            alerted=time.monotonic(),
            cpu=time.thread_time() - cpu,
            work=judged.evaluations,
            full=judged.full,
        )
        self._open.replace(judged.scope, judged.findings)
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.transitions += len(transitions)
        self.stats.evaluations += judged.evaluations
        if judged.full:
            self.stats.full_evaluations = judged.evaluations
        if self.keep_lags:
            self.stats.lags.extend(stored - arrived for arrived in timing.arrived)
            self.stats.timings.append(timing)
        if alerts and self.record_alerts is not None:
            try:
                self.record_alerts(alerts)
            except Exception as exc:  # the alerts went out; only their record is missing
                log.error("could not store %d alerts: %s", len(alerts), exc)
        if self.observer is not None:
            self.observer.batch(timing)
            self.observer.transitions(transitions)
            self.observer.open_findings(self._open.take_changes())
            self.observer.objects(self.state.kinds)
        return transitions

    def _announce(self, transition: Transition) -> FindingAlert:
        log.info("%s", _describe(transition))
        alert = finding_alert(transition, self.cluster)
        try:
            self.outlet.send(alert)
        except Exception:  # a broken sink must not stop the watch; the fan-out counts errors
            log.exception("alert not sent")
        return alert

    # -- events ----------------------------------------------------------------------------------

    def _apply(self, event: WatchEvent) -> list[Delta]:
        if event.type == RELISTED:
            snapshot = [raw for raw in event.snapshot if self._in_scope(raw)]
            return self.state.replace_kind(event.kind, event.namespace, snapshot)
        if event.obj is None:
            return []
        if not self._in_scope(event.obj):
            return []
        if event.type == "DELETED":
            delta = self.state.delete(event.obj)
            return [delta] if delta is not None else []
        return [self.state.upsert(event.obj)]

    def _in_scope(self, raw: dict[str, Any]) -> bool:
        """With ``-n``, only the Namespace objects asked for (as ``scan --cluster -n`` does)."""
        if self.namespaces is None or raw.get("kind") != "Namespace":
            return True
        meta = raw.get("metadata")
        return isinstance(meta, dict) and meta.get("name") in self.namespaces

    @staticmethod
    def _ref(key: Key, inventory: Inventory, deltas: Iterable[Delta]) -> ResourceRef | None:
        obj = inventory.get(*key)
        if obj is not None:
            return obj.ref
        for delta in deltas:
            if delta.key == key and delta.old is not None:
                return delta.old.ref
        for stand_in in (*inventory.implied_namespaces, inventory.cluster_anchor):
            if stand_in is not None and key_of(stand_in.ref) == key:
                return stand_in.ref
        if key[0] == "Namespace":
            return ResourceRef("v1", "Namespace", "", key[2])
        return None


def _describe(transition: Transition) -> str:
    """The log line of a transition: ``resolved critical privileged-container on
    Deployment/shop/web (fixed) by kubectl-patch``."""
    ref = transition.resource
    where = f"{ref.kind}/{ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind}/{ref.name}"
    reason = f" ({transition.reason})" if transition.reason else ""
    by = f" by {transition.changed_by}" if transition.changed_by else ""
    change, severity = transition.change.value, transition.severity.value
    return f"{change} {severity} {transition.rule_id} on {where}{reason}{by}"
