"""Finding lifecycle in the store: ``reconcile`` of 10,000 findings (2,000 objects, 5 each) on SQLite
and PostgreSQL — the first reconcile (all opened), a repeat (nothing changes, last_seen moves), a
full reconcile after 100 objects were fixed, and the watcher's case: one object re-evaluated with a
small scope, against a full reconcile per change as the baseline in the same run. Then the
queries ``kposture findings`` and ``kposture history`` run.

PostgreSQL is a private server with its durable defaults (fsync on), as in store_benchmark.py;
SQLite a WAL file with synchronous=NORMAL. Results go into docs/performance.md by hand.

    .venv/bin/python bench/reconcile_benchmark.py [--objects 2000] [--per-object 5] [--changes 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from kposture.model import Domain, Finding, Location, ResourceRef, Severity, Stage
from kposture.store.connecting import Store, open_store
from kposture.store.finding_queries import FindingQuery, HistoryQuery, history, open_findings
from kposture.store.findings import Scope, reconcile
from store_fixtures import PostgresServer, postgres_bindir

RULES = [
    ("privileged-container", Severity.CRITICAL),
    ("host-path-volume", Severity.HIGH),
    ("runs-as-root", Severity.HIGH),
    ("seccomp-profile-missing", Severity.MEDIUM),
    ("resource-limits-missing", Severity.LOW),
]
T0 = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)


def object_ref(n: int) -> ResourceRef:
    return ResourceRef("apps/v1", "Deployment", f"team-{n % 40}", f"app-{n}")


def findings_of(n: int, per_object: int) -> list[Finding]:
    ref = object_ref(n)
    made = []
    for rule_id, severity in RULES[:per_object]:
        path = f"spec.template.spec.containers[0].{rule_id}"
        key = "\x1f".join([rule_id, ref.group, ref.kind, ref.namespace, ref.name, path])
        made.append(
            Finding(
                rule_id=rule_id,
                title=rule_id,
                severity=severity,
                domain=Domain.WORKLOAD_PRIVILEGES,
                stage=Stage.CRAWL,
                message=f"container 'app' of {ref.display()} breaks {rule_id}",
                resource=ref,
                location=Location("cluster:bench", 0, 0, path),
                references=(),
                remediation="Fix it.",
                fingerprint=hashlib.sha256(key.encode()).hexdigest()[:20],
            )
        )
    return made


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def run(label: str, url: str, objects: int, per_object: int, changes: int) -> list[str]:
    by_object = {n: findings_of(n, per_object) for n in range(objects)}
    everything = [f for made in by_object.values() for f in made]
    rows = []
    with open_store(url) as store:

        def full(found: list[Finding], minute: int) -> int:
            at = T0 + dt.timedelta(minutes=minute)
            return len(reconcile(store, "bench", found, Scope.cluster(), at))

        def row(how: str, seconds: float, transitions: object, note: str = "") -> None:
            rate = len(everything) / seconds
            rows.append(
                f"| {label} | {how} | {len(everything):,} | {transitions} | "
                f"{seconds * 1000:,.0f} ms | {rate:,.0f} findings/s | {note} |"
            )

        seconds, made = timed(lambda: full(everything, 0))
        row("first reconcile (all opened)", seconds, made)
        seconds, made = timed(lambda: full(everything, 1))
        row("repeat (no change)", seconds, made)
        fixed = set(range(100))
        rest = [f for n, made_ in by_object.items() if n not in fixed for f in made_]
        seconds, made = timed(lambda: full(rest, 2))
        row("100 objects fixed", seconds, made)
        seconds, made = timed(lambda: full(everything, 3))
        row("100 objects broken again", seconds, made)
        scoped = _per_change(store, by_object, changes, scoped=True)
        baseline = _per_change(store, by_object, max(changes // 20, 5), scoped=False)
        rows.append(
            f"| {label} | one object changed, scoped reconcile | {per_object} | 1 per change | "
            f"p50 {statistics.median(scoped) * 1000:.2f} ms, max {max(scoped) * 1000:.1f} ms | "
            f"{statistics.median(baseline) / statistics.median(scoped):,.0f}x faster than a "
            f"full reconcile per change (p50 {statistics.median(baseline) * 1000:,.0f} ms) | "
            f"{len(scoped)} changes |"
        )
        rows += _queries(label, store)
    return rows


def _per_change(
    store: Store, by_object: dict[int, list[Finding]], changes: int, *, scoped: bool
) -> list[float]:
    """Alternately fix and re-break one object's first finding, ``changes`` times."""
    every = [f for made in by_object.values() for f in made]
    times = []
    for step in range(changes):
        n = (step // 2) % len(by_object)
        broken = step % 2 == 1
        at = T0 + dt.timedelta(hours=1, seconds=step + (0 if scoped else 100_000))
        start = time.perf_counter()
        if scoped:
            now = by_object[n] if broken else by_object[n][1:]
            made = reconcile(store, "bench", now, Scope.of([object_ref(n)]), at)
        else:
            found = every if broken else [f for f in every if f is not by_object[n][0]]
            made = reconcile(store, "bench", found, Scope.cluster(), at)
        times.append(time.perf_counter() - start)
        assert len(made) == 1, made
    if changes % 2:  # leave every finding open again
        reconcile(store, "bench", every, Scope.cluster(), T0 + dt.timedelta(hours=3))
    return times


def _queries(label: str, store: Store) -> list[str]:
    rows = []
    for how, action in (
        ("open_findings, all", lambda: open_findings(store)),
        (
            "open_findings, critical in one namespace",
            lambda: open_findings(
                store, FindingQuery(min_severity=Severity.CRITICAL, namespace="team-3")
            ),
        ),
        ("history, newest 200", lambda: history(store, HistoryQuery(limit=200))),
        (
            "history of one object",
            lambda: history(
                store, HistoryQuery(kind="Deployment", namespace="team-3", name="app-3")
            ),
        ),
    ):
        seconds, result = timed(action)
        assert isinstance(result, list)
        rows.append(
            f"| {label} | query: {how} | | {len(result):,} rows | {seconds * 1000:,.1f} ms | | |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2_000)
    parser.add_argument("--per-object", type=int, default=5, choices=range(1, len(RULES) + 1))
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    rows = [
        "| backend | what | findings | transitions | time | rate | notes |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/kposture.db"
        rows += run("SQLite (WAL)", url, args.objects, args.per_object, args.changes)
    bindir = postgres_bindir()
    if bindir is None:
        print("PostgreSQL binaries not found: SQLite only", file=sys.stderr)
    else:
        server = PostgresServer.create(bindir)
        try:
            server.start(durable=True)
            rows += run("PostgreSQL 15", server.url(), args.objects, args.per_object, args.changes)
        finally:
            server.destroy()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
