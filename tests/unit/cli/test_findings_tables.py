"""The ``findings`` and ``history`` tables: whole rows when piped (grep finds them), and in a narrow
terminal kinds by kubectl's short names and names broken only after a ``/`` or ``-``, never cut."""

from __future__ import annotations

import datetime as dt

import pytest
from rich.console import Console

from kposture.cli.findings_commands import findings_listing, history_listing
from kposture.cli.listing_tables import Name, piped_text, print_fitted
from kposture.model import ResourceRef, Severity
from kposture.model.lifecycle import Change, FindingStatus
from kposture.store.finding_queries import HistoryEntry, StoredFinding

AT = dt.datetime(2026, 11, 27, 8, 1, 2, 345678, tzinfo=dt.UTC)
LONG_MESSAGE = (
    "volume 'containerd-sock-volume' mounts the container runtime socket "
    "/run/containerd/containerd.sock, which gives whoever runs in the pod the node"
)
WORKLOADS = [
    ResourceRef("apps/v1", "Deployment", "goat", "system-monitor-deployment"),
    ResourceRef("apps/v1", "ReplicaSet", "big-monolith", "big-monolith-deployment-7c9d8f6b5d"),
    ResourceRef("v1", "Namespace", "", "goat"),
]


def stored(ref: ResourceRef, rule: str = "container-runtime-socket") -> StoredFinding:
    return StoredFinding(
        cluster="kposture-admin",
        fingerprint="f",
        rule_id=rule,
        severity=Severity.CRITICAL,
        resource=ref,
        path="spec",
        message=LONG_MESSAGE,
        status=FindingStatus.OPEN,
        suppressed_by="",
        first_seen=AT,
        last_seen=AT,
        resolved_at=None,
        changed_by="kubectl-client-side-apply",
    )


def entry(ref: ResourceRef, change: Change = Change.RESOLVED) -> HistoryEntry:
    return HistoryEntry(
        at=AT,
        cluster="kposture-admin",
        change=change,
        from_status=FindingStatus.OPEN,
        to_status=FindingStatus.RESOLVED,
        changed_by="kubectl-client-side-apply",
        reason="fixed",
        source="watch",
        fingerprint="f",
        rule_id="namespace-without-network-policy",
        severity=Severity.MEDIUM,
        resource=ref,
        path="metadata.name",
        message="m",
    )


def render(width: int, listing: object) -> str:
    console = Console(width=width, record=True, color_system=None)
    print_fitted(console, listing)  # type: ignore[arg-type]
    return console.export_text()


def test_piped_rows_are_whole_lines() -> None:
    text = piped_text(findings_listing([stored(ref) for ref in WORKLOADS]))
    for ref in WORKLOADS:
        [row] = [line for line in text.splitlines() if ref.display() in line]
        assert "container-runtime-socket" in row and row.endswith(LONG_MESSAGE)
        assert "kubectl-client-side-apply" in row and "2026-11-27T08:01:02Z" in row
    assert all(line == line.rstrip() for line in text.splitlines())
    history = piped_text(history_listing([entry(ref) for ref in WORKLOADS]))
    rows = [line for line in history.splitlines() if "2026-11-27T08:01:02.345Z" in line]
    assert [ref.display() in row for row, ref in zip(rows, WORKLOADS, strict=True)] == [True] * 3


def test_wide_terminal_shows_the_piped_table() -> None:
    listing = history_listing([entry(WORKLOADS[0])])
    text = render(200, listing)
    assert "Deployment/goat/system-monitor-deployment" in text and "CHANGED BY" in text


NAMES = [
    "deploy/goat/system-monitor-deployment",
    "rs/big-monolith/big-monolith-deployment-7c9d8f6b5d",
    "container-runtime-socket",
    "namespace-without-network-policy",
    "kubectl-client-side-apply",
]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_narrow_terminal_abbreviates_and_never_cuts_a_word(width: int) -> None:
    for listing in (
        findings_listing([stored(ref) for ref in WORKLOADS]),
        history_listing([entry(ref) for ref in WORKLOADS]),
    ):
        text = render(width, listing)
        assert max(len(line) for line in text.splitlines()) <= width
        assert "deploy/goat/" in text and "ns/goat" in text
        assert "Deploymen" not in text and "…" not in text
        for token in text.split():
            for name in NAMES:
                if name.startswith(token) and token != name:  # cut at a separator only
                    assert token.endswith(("/", "-")) or name[len(token)] in "/-", (token, text)


def test_findings_wrap_only_their_message_when_the_rest_fits() -> None:
    text = render(170, findings_listing([stored(WORKLOADS[0])]))
    assert "Deployment/goat/system-monitor-deployment" in text and "SINCE" in text
    assert "/run/containerd/containerd.sock," in text  # the message wraps at words


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("deploy/goat/web", 40, ["deploy/goat/web"]),
        (
            "deploy/goat/system-monitor-deployment",
            20,
            ["deploy/goat/", "system-monitor-", "deployment"],
        ),
        (
            "rs/big-monolith/big-monolith-deployment-7c9d8f6b5d",
            20,
            ["rs/big-monolith/", "big-monolith-", "deployment-", "7c9d8f6b5d"],
        ),
        ("abcdefghijklmnopqrstuvwxyz", 10, ["abcdefghij", "klmnopqrst", "uvwxyz"]),
    ],
)
def test_names_break_after_separators(text: str, width: int, lines: list[str]) -> None:
    console = Console(width=width, record=True, color_system=None)
    console.print(Name(text, "/"))
    assert [line.rstrip() for line in console.export_text().splitlines()] == lines


def test_words_after_a_space_continue_the_line() -> None:
    console = Console(width=20, record=True, color_system=None)
    console.print(Name("by kubectl-client-side-apply", " "))
    assert console.export_text().splitlines() == ["by kubectl-client-", "side-apply"]
