"""The detector: runs every detection over a stream of audit events and turns hits into alerts.

One ``Detector`` per stream keeps each detection's state. Events at the ``RequestReceived`` stage
are not judged (their outcome is unknown, and the same request is logged again when answered), and
a request is judged once, at its first answered stage (an exec is logged at ``ResponseStarted``
and again at ``ResponseComplete``). A request is known by its audit ID *and* what it asked
(``RequestKey``): kube-apiserver takes the ``Audit-ID`` header from the client, so a client can give
a second request the ID of a first one; that request is judged too, and counted in
``stats.reused_audit_ids``. A detection that raises is counted and named in ``errors``; the
others go on; its errors are counted per detection. Pure: no I/O and no clock.

Dispatch: each detection's ``interest`` (verbs, resources) builds an index from ``(verb, resource)``
to the detections that can raise on it, so an event is shown only to those. ``wants(raw)`` tells a
reader, from the raw event mapping, whether any detection could act on it (its interest, then its
``gate``); the reader does not build an ``AuditEvent`` for the others. Gates that answer no to every
routine event (``Detection.quiet_when_routine``: Kubernetes' own identities from private addresses,
most of a log) are skipped after one shared reading of the event (``_routine``). Allowlisted hits (the
policy file's ``detections.allowlist``, judged against ``today``) are counted per detection and
entry, not alerted.

``notices()`` are the lines worth showing once at the end of a run: allowlist entries that expired
(no longer applied), writes a detection could not judge because the audit policy logged them
without a body (``Detection.needs_body``), and what the detections themselves noted once
(``DetectionNotes``: a custom detection's message expression that failed).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kposture.detections._bounded import BoundedTable
from kposture.detections._routine import RoutineReading
from kposture.detections.base import Detection, DetectionNotes, Gate
from kposture.detections.registry import registry
from kposture.detections.settings import DetectionSettings
from kposture.detections.tuning import Allowlist
from kposture.model import Severity
from kposture.model.audit import AuditEvent, AuditObjectRef
from kposture.model.incidents import IncidentAlert

UNJUDGED_STAGES = frozenset({"RequestReceived"})
MAX_REQUESTS_PER_AUDIT_ID = 8
"""Distinct requests remembered under one audit ID (a genuine ID has one); past that the oldest is
forgotten, so a client reusing one ID cannot grow the table, only be judged again."""
MAX_ERRORS_KEPT = 100
MAX_INDEX_KEYS = 4096
"""Distinct (verb, resource) pairs remembered by the dispatch index (a real cluster has a few
hundred); past that the index starts again, so a stream of made-up resources cannot grow it."""

_Entry = tuple[Detection, Any]
_Gates = tuple[tuple[Gate, Any], ...]
_Plan = tuple[_Gates, _Gates]
"""The gates asked about every event of a (verb, resource), and those skipped for routine ones."""
RequestKey = tuple[str, str, str, AuditObjectRef | None, dt.datetime | None]
"""What makes the events of one request the same: verb, request URI, user name, object reference
and the time the request was received (every stage of a request repeats them)."""


def request_key(event: AuditEvent) -> RequestKey:
    return (event.verb, event.request_uri, event.user.username, event.object_ref, event.received_at)


class DetectionRuntimeError(Exception):
    """An error a detection reports about one event in words fit for the operator (a custom
    detection's expression that failed, with its file and line); other exceptions are named by
    their type only."""


@dataclass(slots=True)
class DetectorStats:
    events: int = 0
    judged: int = 0
    repeated: int = 0
    """Later stages of a request already judged."""
    reused_audit_ids: int = 0
    """Requests that came under the audit ID of a different request (judged all the same)."""
    first_reused: tuple[str, str] | None = None
    """The first of them: its audit ID and where it was read (``file:line``, or the file alone)."""
    alerts: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    errors_by_detection: Counter[str] = field(default_factory=Counter)
    allowlisted: int = 0
    allowlisted_by_detection: Counter[str] = field(default_factory=Counter)
    allowlisted_by_entry: Counter[str] = field(default_factory=Counter)
    """Allowlisted hits per entry, keyed by where the entry is written (``policy.yaml:12``)."""
    alerts_by_detection: Counter[str] = field(default_factory=Counter)
    bodiless: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Allowed writes a detection judges only by their body that came without one (the audit
    policy logged them at ``Metadata``), keyed by detection id, resource and verb."""


class Detector:
    """Detections with their state, fed one event at a time."""

    def __init__(
        self,
        detections: tuple[Detection, ...] | None = None,
        settings: DetectionSettings | None = None,
        min_severity: Severity = Severity.INFO,
        audit_id_capacity: int = 100_000,
        *,
        extra: tuple[Detection, ...] = (),
        allowlist: Allowlist | None = None,
        today: dt.date | None = None,
    ) -> None:
        """``detections`` replaces the built-in ones; ``extra`` (custom detections) joins them.
        ``today`` judges the allowlist's expiry dates (the driver's clock; the detector has none)."""
        self.settings = settings or DetectionSettings()
        base = registry() if detections is None else detections
        self.detections = registry((*base, *extra))
        self.min_severity = min_severity
        self.allowlist = allowlist or Allowlist()
        self.today = today or dt.date.min
        self._states: list[_Entry] = [
            (detection, detection.start(self.settings)) for detection in self.detections
        ]
        self._index: dict[tuple[str, str], tuple[_Entry, ...]] = {}
        self._gates: dict[str, dict[str, _Plan | None]] = {}
        """Verb -> resource -> the gates to ask (``_gates_for``)."""
        self._planned = 0
        self._routine = RoutineReading(self.settings.protected_namespaces).is_routine
        self._judged: BoundedTable[str, tuple[int, ...]] = BoundedTable(audit_id_capacity)
        """Audit ID -> the hashes of the requests judged under it. Hashes, not the keys: a key
        holds the event's URI, object reference and time, several hundred bytes a request; the
        process's string hashes are salted, so a client cannot craft a collision."""
        self.stats = DetectorStats()

    def _selected(self, verb: str, resource: str) -> tuple[_Entry, ...]:
        key = (verb, resource)
        found = self._index.get(key)
        if found is None:
            if len(self._index) >= MAX_INDEX_KEYS:
                self._index.clear()
            found = tuple(
                entry for entry in self._states if entry[0].interest.selects(verb, resource)
            )
            self._index[key] = found
        return found

    def wants(self, raw: Mapping[str, Any]) -> bool:
        """Whether any detection could act on this raw ``audit.k8s.io`` event: a reader builds the
        ``AuditEvent`` only when it does. Events at an unjudged stage never are."""
        if raw.get("stage") in UNJUDGED_STAGES:
            return False
        verb = raw.get("verb")
        ref = raw.get("objectRef")
        resource = ref.get("resource", "") if isinstance(ref, dict) else ""  # json gives dicts
        if not isinstance(verb, str) or not isinstance(resource, str):
            return True  # malformed: let the full reading judge and describe it
        try:
            plan = self._gates[verb][resource]  # no key tuple to build: most events come here
        except KeyError:
            plan = self._gates_for(verb, resource)
        if plan is None:
            return True
        gates, quiet = plan
        for gate, state in gates:  # a loop, not any(): a generator is slower here
            if gate(raw, state):
                return True
        if not quiet or self._routine(raw):
            return False
        for gate, state in quiet:  # noqa: SIM110
            if gate(raw, state):
                return True
        return False

    def _gates_for(self, verb: str, resource: str) -> _Plan | None:
        """The gates of the detections concerned with ``(verb, resource)``, those always asked and
        those quiet when the event is routine, or None when one of them has none (it wants every
        such event). A gate several detections share (with one state) is asked once."""
        asked: list[tuple[Gate, Any, bool]] = []
        found: _Plan | None = None
        for detection, state in self._selected(verb, resource):
            gate = detection.gate
            if gate is None:
                break
            quiet = detection.quiet_when_routine
            for at, (known, seen, known_quiet) in enumerate(asked):
                if known is gate and seen is state:
                    asked[at] = (gate, state, known_quiet and quiet)  # quiet only if all are
                    break
            else:
                asked.append((gate, state, quiet))
        else:
            found = (
                tuple((gate, state) for gate, state, quiet in asked if not quiet),
                tuple((gate, state) for gate, state, quiet in asked if quiet),
            )
        if self._planned >= MAX_INDEX_KEYS:
            self._gates.clear()
            self._planned = 0
        self._gates.setdefault(verb, {})[resource] = found
        self._planned += 1
        return found

    def process(self, event: AuditEvent) -> list[IncidentAlert]:
        """The alerts ``event`` raises (at or above the minimum severity)."""
        stats = self.stats
        stats.events += 1
        if event.stage in UNJUDGED_STAGES:
            return []
        if event.audit_id and self._seen(event):
            stats.repeated += 1
            return []
        stats.judged += 1
        alerts: list[IncidentAlert] = []
        for detection, state in self._selected(event.verb, event.ref.resource):
            need = detection.needs_body
            if (
                need is not None
                and event.object is None
                and need.covers(event.verb, event.ref.resource, event.ref.subresource)
                and event.allowed
            ):
                stats.bodiless[(detection.id, event.ref.resource, event.verb)] += 1
            try:
                hits = list(detection.detect(event, state))
            except Exception as error:  # one broken detection must not stop the others
                self._failed(detection, event, error)
                continue
            for hit in hits:
                alert = IncidentAlert(detection.meta, hit, event)
                if alert.severity < self.min_severity:
                    continue
                if self.allowlist:
                    entry = self.allowlist.match(detection.id, event, self.today)
                    if entry is not None:
                        stats.allowlisted += 1
                        stats.allowlisted_by_detection[detection.id] += 1
                        stats.allowlisted_by_entry[entry.label] += 1
                        continue
                alerts.append(alert)
                stats.alerts_by_detection[detection.id] += 1
        stats.alerts += len(alerts)
        return alerts

    def _seen(self, event: AuditEvent) -> bool:
        """Whether ``event`` is a later stage of a request already judged; remembers it if not."""
        key = hash(request_key(event))
        known = self._judged.get(event.audit_id)
        if known is None:
            self._judged.put(event.audit_id, (key,))
            return False
        if key in known:
            return True
        self.stats.reused_audit_ids += 1
        if self.stats.first_reused is None:
            origin = event.origin
            where = f"{origin.file}:{origin.line}" if origin.line else origin.file
            self.stats.first_reused = (event.audit_id, where or "an unnamed input")
        self._judged.put(event.audit_id, (*known, key)[-MAX_REQUESTS_PER_AUDIT_ID:])
        return False

    def _failed(self, detection: Detection, event: AuditEvent, error: Exception) -> None:
        stats = self.stats
        stats.errors += 1
        stats.errors_by_detection[detection.id] += 1
        if len(stats.error_messages) < MAX_ERRORS_KEPT:
            what = str(error) if isinstance(error, DetectionRuntimeError) else type(error).__name__
            stats.error_messages.append(
                f"detection {detection.id} failed on audit event "
                f"{event.audit_id or '<no id>'}: {what}"
            )

    def process_all(self, events: Iterable[AuditEvent]) -> list[IncidentAlert]:
        return [alert for event in events for alert in self.process(event)]

    def notices(self) -> list[str]:
        """What is worth a warning line once, at the end of a run (see the module docstring)."""
        found = self._reused_notices()
        found += [
            f"{entry.label}: allowlist entry for {', '.join(entry.detections)} expired on "
            f"{entry.expires}; it is no longer applied ({entry.reason})"
            for entry in self.allowlist.expired(self.today)
        ]
        found.extend(self._bodiless_notices())
        for _, state in self._states:
            if isinstance(state, DetectionNotes):
                found.extend(state.messages)
        return found

    def _reused_notices(self) -> list[str]:
        reused, first = self.stats.reused_audit_ids, self.stats.first_reused
        if not reused or first is None:
            return []
        audit_id, where = first
        many = reused > 1
        return [
            f"{reused:,} {'requests' if many else 'request'} came under the audit ID of a "
            f"different request, {'the first' if many else 'it'} under audit ID {audit_id!r} at "
            f"{where} (clients set the Audit-ID header; reusing one can be an attempt to hide a "
            f"request): {'each was' if many else 'it was'} judged on its own"
        ]

    def _bodiless_notices(self) -> list[str]:
        """One line per resource whose writes came without the body some detection needs."""
        verbs: dict[str, Counter[str]] = {}
        needing: dict[str, set[str]] = {}
        for (detection_id, resource, verb), count in self.stats.bodiless.items():
            seen = verbs.setdefault(resource, Counter())
            seen[verb] = max(seen[verb], count)  # each detection counted the same events
            needing.setdefault(resource, set()).add(detection_id)
        levels = {d.id: d.needs_body.level for d in self.detections if d.needs_body is not None}
        notes = []
        for resource in sorted(verbs):
            ids = sorted(needing[resource])
            level = (
                "RequestResponse" if "RequestResponse" in {levels[i] for i in ids} else "Request"
            )
            shown = ", ".join(
                f"{verb} {count:,}" for verb, count in sorted(verbs[resource].items())
            )
            notes.append(
                f"{sum(verbs[resource].values()):,} write(s) of {resource} ({shown}) were logged "
                f"without their body, so {', '.join(ids)} could not judge them: "
                f"{'they need' if len(ids) > 1 else 'it needs'} audit level {level} for "
                f"{resource} (see the audit policy in docs/detections.md)"
            )
        return notes
