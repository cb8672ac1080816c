"""Open findings counted per (severity, rule, namespace) by what each batch judged, with the label
sets that changed handed over once."""

from __future__ import annotations

from finding_samples import finding, ref
from kposture.model import Severity
from kposture.watcher.open_findings import OpenFindings
from kposture.watcher.state import key_of

WEB = ref("Deployment", "shop", "web")
API = ref("Deployment", "shop", "api")
DB = ref("StatefulSet", "data", "db")
PRIVILEGED = ("critical", "privileged-container", "shop")


def test_counts_follow_what_each_batch_judged() -> None:
    tally = OpenFindings()
    tally.replace(
        [key_of(WEB), key_of(API), key_of(DB)],
        [
            finding("privileged-container", WEB),
            finding("privileged-container", API),
            finding("run-as-root", DB, severity=Severity.MEDIUM),
        ],
    )
    assert tally.counts() == {PRIVILEGED: 2, ("medium", "run-as-root", "data"): 1}
    assert tally.take_changes() == {PRIVILEGED: 2, ("medium", "run-as-root", "data"): 1}
    assert tally.take_changes() == {}

    # web was judged again and is clean; api and db were not judged and keep their findings.
    tally.replace([key_of(WEB)], [])
    assert tally.take_changes() == {PRIVILEGED: 1}
    tally.replace([key_of(API)], [])
    assert tally.take_changes() == {PRIVILEGED: 0}
    assert tally.counts() == {("medium", "run-as-root", "data"): 1}


def test_suppressed_findings_are_not_open() -> None:
    tally = OpenFindings()
    tally.replace([key_of(WEB)], [finding("privileged-container", WEB, suppressed="accepted")])
    assert tally.counts() == {}
    assert tally.take_changes() == {}


def test_clear_reports_every_label_set_gone() -> None:
    tally = OpenFindings()
    tally.replace([key_of(WEB)], [finding("privileged-container", WEB)])
    tally.take_changes()
    tally.clear()
    tally.replace([key_of(DB)], [finding("run-as-root", DB, severity=Severity.MEDIUM)])
    assert tally.take_changes() == {PRIVILEGED: 0, ("medium", "run-as-root", "data"): 1}
