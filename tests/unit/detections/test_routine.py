"""The routine reading the detector asks before the gates marked ``quiet_when_routine``: what it
calls routine, that every such gate answers no to every routine event (so skipping them changes
nothing), and that a gate shared with a detection that is not quiet is still asked."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from audit_samples import raw_event
from kposture.detections import DetectionSettings, Detector
from kposture.detections._events import mitre
from kposture.detections._routine import RoutineReading, is_own_identity
from kposture.detections.base import Detection, Interest
from kposture.detections.registry import registry
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

PROTECTED = DetectionSettings().protected_namespaces
Routine = Callable[[Mapping[str, Any]], bool]
NODE = "system:node:ip-10-0-0-1.ec2.internal"
CONTROLLER = "system:serviceaccount:kube-system:deployment-controller"
WORKLOAD = "system:serviceaccount:monitoring:prometheus"


@pytest.fixture
def routine() -> Routine:
    return RoutineReading(PROTECTED).is_routine


@pytest.mark.parametrize("user", [NODE, CONTROLLER, "system:kube-scheduler", "system:apiserver"])
def test_kubernetes_own_identities_from_private_peers_are_routine(
    routine: Routine, user: str
) -> None:
    assert is_own_identity(user, PROTECTED)
    assert routine(raw_event(user=user, groups=("system:nodes", "system:authenticated")))
    assert routine(raw_event(user=user, ip="100.64.1.2"))  # carrier-grade NAT is not public
    no_address = raw_event(user=user)
    del no_address["sourceIPs"]
    assert routine(no_address)


def test_a_public_address_counts_only_as_the_peer(routine: Routine) -> None:
    claimed = raw_event(user=NODE)
    claimed["sourceIPs"] = ["8.8.8.8", "10.0.0.1"]  # the client claims a public address
    assert routine(claimed)
    assert not routine(raw_event(user=NODE, ip="8.8.8.8"))
    assert not routine(raw_event(user=NODE, ip="8.8.8.8"))  # the remembered verdict too


@pytest.mark.parametrize(
    "raw",
    [
        raw_event(user="alice@example.com"),
        raw_event(user=WORKLOAD),
        raw_event(user="system:anonymous", groups=("system:unauthenticated",)),
        raw_event(user=NODE, groups=("system:unauthenticated",)),
        raw_event(user=CONTROLLER, impersonated={"username": "system:admin"}),
        raw_event(user=""),
    ],
    ids=["person", "workload", "anonymous", "unauthenticated", "impersonating", "no-name"],
)
def test_people_workloads_and_odd_requests_are_not_routine(
    routine: Routine, raw: dict[str, Any]
) -> None:
    assert not routine(raw)


def test_a_malformed_user_is_never_routine(routine: Routine) -> None:
    for user in (None, "system:node:x", {"username": 7}, {"groups": ["system:nodes"]}):
        raw = raw_event(user=NODE)
        raw["user"] = user
        assert not routine(raw)


def _generated(count: int) -> Iterator[dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
    from audit_benchmark import Generator

    generator = Generator(11)
    generator.random = random.Random(11)
    yield from generator.events(count)


def _falco(corpus: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((corpus / "auditlogs" / "falco").rglob("*.json*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            if isinstance(raw, dict) and raw.get("kind") == "Event":
                yield raw


def _variants(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``raw`` as it is, denied, from a public peer and from a peer that is no address."""
    yield raw
    denied = dict(raw, responseStatus={"code": 403})
    yield denied
    yield dict(raw, sourceIPs=["203.0.113.9"])
    yield dict(denied, sourceIPs=["35.1.2.3"])
    yield dict(raw, sourceIPs=["not-an-address"])


def test_quiet_gates_answer_no_to_every_routine_event(corpus: Path) -> None:
    """The claim the detector relies on, checked on the benchmark's mix (with variants) and every
    Falco corpus event, against the gates' own states after they have seen the stream."""
    settings = DetectionSettings()
    routine = RoutineReading(settings.protected_namespaces).is_routine
    quiet = [d for d in registry() if d.quiet_when_routine]
    assert {d.id for d in quiet} >= {"first-seen-source", "anonymous-request-allowed"}
    states = [(d, d.start(settings)) for d in quiet]
    checked = 0
    for original in [*_generated(4_000), *_falco(corpus)]:
        for raw in _variants(original):
            if not routine(raw):
                continue
            checked += 1
            for detection, state in states:
                assert detection.gate is not None
                assert not detection.gate(raw, state), (detection.id, raw)
    assert checked > 10_000


class _Counted:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, raw: Mapping[str, Any], state: object) -> bool:
        self.calls += 1
        return False


def _never(event: AuditEvent, state: object) -> Iterator[Hit]:
    return iter(())


def _detection(name: str, gate: _Counted, quiet: bool) -> Detection:
    meta = DetectionMeta(
        name,
        name,
        Severity.LOW,
        mitre("T1078", "Valid Accounts"),
        "discovery",
        f"{name}.",
        f"{name}.",
    )
    return Detection(meta, _never, interest=Interest(), gate=gate, quiet_when_routine=quiet)


def test_the_detector_skips_quiet_gates_for_routine_events_only() -> None:
    quiet, loud = _Counted(), _Counted()
    detector = Detector((_detection("quiet", quiet, True), _detection("loud", loud, False)))
    assert not detector.wants(raw_event(user=NODE))
    assert (quiet.calls, loud.calls) == (0, 1)
    assert not detector.wants(raw_event(user="alice"))
    assert (quiet.calls, loud.calls) == (1, 2)


def test_a_gate_shared_with_a_detection_that_is_not_quiet_is_still_asked() -> None:
    shared = _Counted()
    detector = Detector((_detection("quiet", shared, True), _detection("loud", shared, False)))
    assert not detector.wants(raw_event(user=NODE))
    assert shared.calls == 1  # asked once for both, routine or not
