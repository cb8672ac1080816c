"""Admission decisions into the store: batched writes against one transaction per decision (the
baseline, measured in the same run), the webhook's DecisionWriter end to end with the time
``record()`` costs a request, and ``admission log`` queries, on SQLite and PostgreSQL.

PostgreSQL is a private server started like the test fixture's (initdb + pg_ctl on a free port) but
with its durable defaults (fsync on); SQLite is a WAL file with synchronous=NORMAL, as kposture opens
it. Results go into docs/performance.md by hand.

    .venv/bin/python bench/store_benchmark.py [--decisions 20000] [--baseline 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from kposture.model import ResourceRef, Severity
from kposture.model.admission import AdmissionDecision, AdmissionMode, Outcome, RuleVerdict
from kposture.store.connecting import Store, open_store
from kposture.store.decision_writing import DecisionWriter
from kposture.store.decisions import DecisionQuery, recent_decisions, write_decisions
from store_fixtures import PostgresServer, postgres_bindir

NAMESPACES = [f"team-{n}" for n in range(20)]
RULES = ["privileged-container", "host-path-volume", "run-as-root", "latest-image-tag"]


def decisions(count: int) -> list[AdmissionDecision]:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    made = []
    for n in range(count):
        violated = n % 2 == 0
        made.append(
            AdmissionDecision(
                uid=f"{n:08x}-0000-4000-8000-000000000000",
                time=start + dt.timedelta(milliseconds=10 * n),
                operation="CREATE" if n % 3 else "UPDATE",
                user="system:serviceaccount:kube-system:replicaset-controller",
                groups=("system:serviceaccounts", "system:authenticated"),
                resource=ResourceRef("v1", "Pod", NAMESPACES[n % 20], f"web-{n}"),
                outcome=Outcome.DENIED if violated else Outcome.ALLOWED,
                verdicts=tuple(
                    RuleVerdict(
                        RULES[(n + k) % 4],
                        Severity.HIGH,
                        AdmissionMode.ENFORCE,
                        f"container 'app' breaks {RULES[(n + k) % 4]}; see the remediation",
                    )
                    for k in range(2 if violated else 0)
                ),
                latency_ms=0.8,
            )
        )
    return made


def clear(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM admission_verdicts")
        connection.exec_driver_sql("DELETE FROM admission_decisions")


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


def run(name: str, url: str, total: int, baseline: int) -> list[str]:
    rows = []
    made = decisions(total)
    with open_store(url) as store:
        started = time.perf_counter()
        for item in made[:baseline]:
            write_decisions(store, [item])
        single = time.perf_counter() - started
        base_rate = baseline / single
        rows.append(
            f"| {name} | one per transaction (baseline) | {baseline:,} | {rate(baseline, single)} | 1.0x | |"
        )
        clear(store)

        started = time.perf_counter()
        for offset in range(0, total, 500):
            write_decisions(store, made[offset : offset + 500])
        batched = time.perf_counter() - started
        rows.append(
            f"| {name} | write_decisions, batches of 500 | {total:,} | {rate(total, batched)} | "
            f"{total / batched / base_rate:.0f}x | |"
        )
        clear(store)

        writer = DecisionWriter(store, max_queue=total, batch_size=500, interval=0.2)
        costs = []
        started = time.perf_counter()
        for item in made:
            before = time.perf_counter_ns()
            writer.record(item)
            costs.append(time.perf_counter_ns() - before)
        writer.close()
        elapsed = time.perf_counter() - started
        assert writer.written == total, (writer.written, writer.dropped, writer.failed)
        costs.sort()
        p50 = costs[len(costs) // 2] / 1000
        p99 = costs[int(len(costs) * 0.99)] / 1000
        rows.append(
            f"| {name} | DecisionWriter (record, then close) | {total:,} | {rate(total, elapsed)} | "
            f"{total / elapsed / base_rate:.0f}x | record() p50 {p50:.1f} µs, p99 {p99:.1f} µs |"
        )

        queries = {
            "newest 50": DecisionQuery(),
            "-n team-7": DecisionQuery(namespace="team-7"),
            "--rule run-as-root": DecisionQuery(rule_id="run-as-root"),
            "--outcome denied --since": DecisionQuery(
                outcome=Outcome.DENIED, since=made[total // 2].time
            ),
        }
        timings = []
        for label, query in queries.items():
            samples = []
            for _ in range(20):
                before = time.perf_counter()
                found = recent_decisions(store, query)
                samples.append(time.perf_counter() - before)
            assert found
            timings.append(f"{label} {statistics.median(samples) * 1000:.1f} ms")
        rows.append(
            f"| {name} | admission log queries (median of 20, limit 50) | {total:,} | | | "
            f"{'; '.join(timings)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    args = parser.parse_args()
    rows = [
        "| backend | how | decisions | decisions/s | vs baseline | notes |",
        "|---|---|---:|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        rows += run(
            "SQLite (WAL)", f"sqlite:///{folder}/kposture.db", args.decisions, args.baseline
        )
    bindir = postgres_bindir()
    if bindir is None:
        print("PostgreSQL binaries not found: SQLite only", file=sys.stderr)
    else:
        server = PostgresServer.create(bindir)
        try:
            server.start(durable=True)
            rows += run("PostgreSQL 15", server.url(), args.decisions, args.baseline)
        finally:
            server.destroy()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
