"""The watcher benchmark: ``kposture watch`` on a real kube-apiserver 1.20 holding 10,000 applied
objects, then 1,000 changes at 100 changes/s; a full rescan per change is the baseline, measured in
the same run.

Starts the project's test cluster (no controller manager, so the object count stays what was
applied) in a scratch state dir, applies the objects of ``bench/cluster_benchmark.py`` (2,500
Deployments, 1,500 Pods, 1,500 Services, ... in 20 namespaces), starts ``kposture watch`` as its own
process (SQLite store in the state dir, stdout JSON-lines alerts, /metrics), and once it has
reconciled the whole cluster sends the changes open-loop from this process: each a strategic
merge patch making one not-yet-privileged Deployment's container privileged (each a different
Deployment, so each must open exactly one ``privileged-container`` finding). Latency is from the
moment the patch was due (open loop) to the alert line's arrival; CPU is the watcher process's
user+system time during the changes.
Evaluation work comes from the watcher's ``kposture_rule_evaluations_total`` (object-rule pairs
judged, full at start and affected per change). The baseline is a one-off ``kposture scan
--cluster -o json`` of the final state (wall time, per change) and the work of one full evaluation.

Usage: ``python bench/watch_benchmark.py [--objects N] [--changes C] [--rate R] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_benchmark import apply_all, objects

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = REPO / "scripts" / "test-cluster" / "cluster.sh"
KPOSTURE = Path(sys.executable).parent / "kposture"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(port: int, name: str, label: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and label in line
    )


class Alerts:
    """Alert lines of the watch process, with arrival times, keyed by Deployment name."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.opened: dict[str, float] = {}
        self.count = 0
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            arrived = time.monotonic()
            self.count += 1
            alert = json.loads(line)["kposture"]
            resource = alert.get("resource") or {}
            if alert["rule_id"] == "privileged-container" and alert["change"] == "opened":
                self.opened.setdefault(resource.get("name", ""), arrived)


def send_changes(
    cluster: dict[str, Any], names: list[tuple[str, str]], rate: float
) -> dict[str, float]:
    """PATCH each Deployment privileged, open-loop at ``rate`` per second over 4 connections."""
    host, port = cluster["server"].removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=cluster["ca_file"])
    headers = {
        "Authorization": f"Bearer {cluster['admin_token']}",
        "Content-Type": "application/strategic-merge-patch+json",
    }
    sent: dict[str, float] = {}
    start = time.monotonic()
    lock = threading.Lock()
    workers = 4

    def worker(offset: int) -> None:
        conn = HTTPSConnection(host, int(port), context=context, timeout=30)
        for index in range(offset, len(names), workers):
            namespace, name = names[index]
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            patch = {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "app", "securityContext": {"privileged": True}}]
                        }
                    }
                }
            }
            # A strategic merge patch: the container (merged by name) keeps its image and the
            # rest; only securityContext.privileged changes.
            body = json.dumps(patch)
            path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
            with lock:
                sent[name] = due
            conn.request("PATCH", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"PATCH {path}: {response.status}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent


def measure_changes(
    watch: subprocess.Popen[bytes],
    port: int,
    alerts: Alerts,
    cluster: dict[str, Any],
    targets: list[tuple[str, str]],
    rate: float,
) -> tuple[list[float], int, float, float, float, float]:
    """Send the changes; (sorted latencies, changes without alert, CPU s, wall s, work, batches)."""
    cpu_before = cpu_seconds(watch.pid)
    work_before = metric(port, "kposture_rule_evaluations_total", 'scope="affected"')
    batches_before = metric(port, "kposture_evaluation_seconds_count", 'scope="affected"')
    t0 = time.monotonic()
    sent = send_changes(cluster, targets, rate)
    deadline = time.monotonic() + 30
    while len([n for n in sent if n in alerts.opened]) < len(sent):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(watch.pid) - cpu_before
    work = metric(port, "kposture_rule_evaluations_total", 'scope="affected"') - work_before
    batches = metric(port, "kposture_evaluation_seconds_count", 'scope="affected"') - batches_before
    latencies = sorted(alerts.opened[n] - sent[n] for n in sent if n in alerts.opened)
    missing = len(sent) - len(latencies)
    return latencies, missing, cpu, wall, work, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    state = Path(
        tempfile.mkdtemp(prefix="kposture-bench-watch-", dir=shm if shm.is_dir() else None)
    )
    env = dict(os.environ, KPOSTURE_CONTROLLER_MANAGER="0")
    subprocess.run(
        ["bash", str(CLUSTER_SH), "start", "--state-dir", str(state)], check=True, env=env
    )
    watch = None
    try:
        cluster = json.loads((state / "cluster.json").read_text())
        kubeconfig = Path(cluster["kubeconfig"])
        items = objects(args.objects)
        apply_seconds = apply_all(kubeconfig, items)
        targets = [
            (item["metadata"]["namespace"], item["metadata"]["name"])
            for i, item in enumerate(it for it in items if it["kind"] == "Deployment")
            if i % 10 != 0
        ][: args.changes]
        port = free_port()
        log = (state / "watch.log").open("wb")
        started = time.monotonic()
        watch = subprocess.Popen(
            [
                str(KPOSTURE),
                "watch",
                f"--kubeconfig={kubeconfig}",
                f"--db=sqlite:///{state}/watch.db",
                "--alert=stdout",
                "--alert-dedup=0",
                f"--metrics-port={port}",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        alerts = Alerts(watch)
        while "transitions at start" not in (state / "watch.log").read_text(errors="replace"):
            if watch.poll() is not None:
                raise RuntimeError((state / "watch.log").read_text()[-3000:])
            time.sleep(0.2)
        start_seconds = time.monotonic() - started
        full_work = metric(port, "kposture_rule_evaluations_total", 'scope="full"')
        latencies, missing, cpu, wall, work, batches = measure_changes(
            watch, port, alerts, cluster, targets, args.rate
        )
        scan_args = [str(KPOSTURE), "scan", "--cluster", f"--kubeconfig={kubeconfig}", "-o", "json"]
        scans = []
        for _ in range(3):
            begin = time.monotonic()
            subprocess.run(scan_args, stdout=subprocess.DEVNULL, check=False)
            scans.append(time.monotonic() - begin)
        report(
            args,
            apply_seconds,
            start_seconds,
            latencies,
            missing,
            cpu,
            wall,
            work,
            full_work,
            batches,
            scans,
        )
    finally:
        if watch is not None:
            watch.terminate()
            watch.wait(timeout=30)
        if not args.keep:
            subprocess.run(
                ["bash", str(CLUSTER_SH), "stop", "--state-dir", str(state)], check=False
            )
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"cluster left running: KUBECONFIG={state}/kubeconfig", file=sys.stderr)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def report(
    args: argparse.Namespace,
    apply_seconds: float,
    start_seconds: float,
    latencies: list[float],
    missing: int,
    cpu: float,
    wall: float,
    work: float,
    full_work: float,
    batches: float,
    scans: list[float],
) -> None:
    changes = args.changes
    scan = statistics.median(scans)
    per_change = work / changes
    print(
        f"\n{args.objects:,} objects applied in {apply_seconds:.0f} s; watch start (list + full "
        f"reconcile + store) {start_seconds:.1f} s; {changes:,} changes at {args.rate:.0f}/s; "
        f"{platform.python_version()}, {os.cpu_count()} cores\n"
    )
    print("| what | value |")
    print("|---|---:|")
    print(f"| change → alert p50 | {pct(latencies, 0.50) * 1000:.0f} ms |")
    print(f"| change → alert p99 | {pct(latencies, 0.99) * 1000:.0f} ms |")
    print(f"| change → alert max | {max(latencies, default=float('nan')) * 1000:.0f} ms |")
    print(f"| changes without an alert | {missing} |")
    print(f"| batches | {batches:.0f} |")
    print(
        f"| watcher CPU during the changes | {cpu:.1f} s over {wall:.1f} s ({cpu / wall:.0%} of one core) |"
    )
    print(f"| rule evaluations per change (watch) | {per_change:,.0f} |")
    print(f"| rule evaluations of a full evaluation (rescan baseline) | {full_work:,.0f} |")
    print(f"| evaluation work ratio (rescan / watch) | {full_work / max(per_change, 1):,.0f}x |")
    print(f"| `kposture scan --cluster -o json` (rescan, median of {len(scans)}) | {scan:.2f} s |")
    print(
        f"| rescanning per change at {args.rate:.0f}/s would need | "
        f"{scan * args.rate:.0f} s of work per second |"
    )


if __name__ == "__main__":
    main()
