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
moment the patch was due (open loop) to the alert line's arrival, split into the part before the
watcher (due -> API server's answer, and due -> event received, the latter from the watcher's
``kposture_event_alert_seconds``: both processes read the same monotonic clock) and the watcher's
own stages (``kposture_batch_stage_seconds``: queued, judge, store, alert). CPU during the changes
is read from ``/proc`` for the watcher, the API server, etcd, this process, and the whole machine
(``/proc/stat``, with the 1-minute load average before and after: other work shares the cores);
the watcher thread's CPU per batch comes from ``kposture_batch_cpu_seconds``.
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
from dataclasses import dataclass
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


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent on anything but idling and waiting for I/O."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def metric(port: int, name: str, label: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or (line.startswith(name + "{") and label in line)
    )


STAGES = ("queued", "judge", "store", "alert")
COUNTERS = {
    "work": ("kposture_rule_evaluations_total", 'scope="affected"'),
    "batches": ("kposture_batch_cpu_seconds_count", ""),
    "thread_cpu": ("kposture_batch_cpu_seconds_sum", ""),
    "events": ("kposture_batch_events_sum", ""),
    "to_alert": ("kposture_event_alert_seconds_sum", ""),
    "to_alert_count": ("kposture_event_alert_seconds_count", ""),
    **{stage: ("kposture_batch_stage_seconds_sum", f'stage="{stage}"') for stage in STAGES},
}
"""The watcher's metrics read before and after the changes (their differences are reported)."""


def counters(port: int) -> dict[str, float]:
    return {key: metric(port, name, label) for key, (name, label) in COUNTERS.items()}


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
) -> tuple[dict[str, float], dict[str, float]]:
    """PATCH each Deployment privileged, open-loop at ``rate`` per second over 4 connections;
    when each was due and when the API server answered it."""
    host, port = cluster["server"].removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=cluster["ca_file"])
    headers = {
        "Authorization": f"Bearer {cluster['admin_token']}",
        "Content-Type": "application/strategic-merge-patch+json",
    }
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
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
            with lock:
                answered[name] = time.monotonic()
            if response.status != 200:
                raise RuntimeError(f"PATCH {path}: {response.status}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, answered


@dataclass
class Measured:
    """What the changes cost: latencies (sorted), CPU seconds by process, the watcher's metrics."""

    latencies: list[float]
    answered: list[float]
    """From each change's due time to the API server's answer (sorted)."""
    missing: int
    wall: float
    cpu: dict[str, float]
    """watcher, kube-apiserver, etcd, benchmark (this process), machine (every core, anything)."""
    load: tuple[float, float]
    """1-minute load average before and after the changes."""
    watcher: dict[str, float]
    """Differences of ``COUNTERS`` over the changes."""


def measure_changes(
    watch: subprocess.Popen[bytes],
    port: int,
    alerts: Alerts,
    cluster: dict[str, Any],
    run_dir: Path,
    targets: list[tuple[str, str]],
    rate: float,
) -> Measured:
    """Send the changes and wait for their alerts (at most 30 s after the last)."""
    pids = {
        "watcher": watch.pid,
        "kube-apiserver": int((run_dir / "kube-apiserver.pid").read_text()),
        "etcd": int((run_dir / "etcd.pid").read_text()),
        "benchmark": os.getpid(),
    }
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    machine_before = machine_busy_seconds()
    load_before = load_average()
    before = counters(port)
    t0 = time.monotonic()
    sent, answered = send_changes(cluster, targets, rate)
    deadline = time.monotonic() + 30
    while len([n for n in sent if n in alerts.opened]) < len(sent):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    wall = time.monotonic() - t0
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["machine"] = machine_busy_seconds() - machine_before
    after = counters(port)
    latencies = sorted(alerts.opened[n] - sent[n] for n in sent if n in alerts.opened)
    return Measured(
        latencies=latencies,
        answered=sorted(answered[n] - sent[n] for n in sent),
        missing=len(sent) - len(latencies),
        wall=wall,
        cpu=cpu,
        load=(load_before, load_average()),
        watcher={key: after[key] - before[key] for key in COUNTERS},
    )


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
        measured = measure_changes(watch, port, alerts, cluster, state / "run", targets, args.rate)
        scan_args = [str(KPOSTURE), "scan", "--cluster", f"--kubeconfig={kubeconfig}", "-o", "json"]
        scans = []
        for _ in range(3):
            begin = time.monotonic()
            subprocess.run(scan_args, stdout=subprocess.DEVNULL, check=False)
            scans.append(time.monotonic() - begin)
        report(args, apply_seconds, start_seconds, measured, full_work, scans)
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
    measured: Measured,
    full_work: float,
    scans: list[float],
) -> None:
    changes = args.changes
    scan = statistics.median(scans)
    latencies = measured.latencies
    watcher = measured.watcher
    batches = max(watcher["batches"], 1)
    per_change = watcher["work"] / changes
    wall, cpu = measured.wall, measured.cpu
    cores = os.cpu_count() or 1
    # Mean before the watcher: due -> alert minus received -> alert, over the same changes.
    inside = watcher["to_alert"] / max(watcher["to_alert_count"], 1)
    print(
        f"\n{args.objects:,} objects applied in {apply_seconds:.0f} s; watch start (list + full "
        f"reconcile + store) {start_seconds:.1f} s; {changes:,} changes at {args.rate:.0f}/s; "
        f"{platform.python_version()}, {cores} cores\n"
    )
    print("| what | value |")
    print("|---|---:|")
    print(f"| change → alert p50 | {pct(latencies, 0.50) * 1000:.0f} ms |")
    print(f"| change → alert p99 | {pct(latencies, 0.99) * 1000:.0f} ms |")
    print(f"| change → alert max | {max(latencies, default=float('nan')) * 1000:.0f} ms |")
    print(f"| changes without an alert | {measured.missing} |")
    print(
        f"| change → API server's answer p50 / p99 | {pct(measured.answered, 0.5) * 1000:.0f} / "
        f"{pct(measured.answered, 0.99) * 1000:.0f} ms |"
    )
    print(
        f"| mean: change → event received / event → alert | "
        f"{(statistics.fmean(latencies) - inside) * 1000:.0f} / {inside * 1000:.0f} ms |"
    )
    print(
        f"| batches (events per batch, mean) | {batches:.0f} ({watcher['events'] / batches:.1f}) |"
    )
    stages = " / ".join(f"{watcher[stage] / batches * 1000:.1f}" for stage in STAGES)
    print(f"| per batch, mean: {' / '.join(STAGES)} | {stages} ms |")
    print(
        f"| watcher thread CPU per batch, mean | {watcher['thread_cpu'] / batches * 1000:.1f} ms |"
    )
    print(
        f"| watcher process CPU during the changes | {cpu['watcher']:.1f} s over {wall:.1f} s "
        f"({cpu['watcher'] / wall:.0%} of one core; {cpu['watcher'] / batches * 1000:.0f} ms "
        "per batch) |"
    )
    print(
        f"| CPU during the changes, share of one core | machine ({cores} cores) "
        f"{cpu['machine'] / wall:.0%}: kube-apiserver {cpu['kube-apiserver'] / wall:.0%}, etcd "
        f"{cpu['etcd'] / wall:.0%}, watcher {cpu['watcher'] / wall:.0%}, benchmark "
        f"{cpu['benchmark'] / wall:.0%}; load average {measured.load[0]:.2f} -> "
        f"{measured.load[1]:.2f} |"
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
