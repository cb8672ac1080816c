"""The admission webhook under open-loop load: ``kposture serve`` over TLS on loopback, the full rule
set judging a realistic Deployment AdmissionReview at steady rates, against ``POST /noop`` of the
same server (the same parsing, no judging) as the baseline in the same run.

The load generator is written here (asyncio streams over TLS, HTTP/1.1 keep-alive, no third-party
client). It is *open loop*: request i is due at ``start + i / rate`` whatever happened to the
earlier ones, and its latency is measured from that due time to the last byte of the answer, so a
server that falls behind is charged for the queue it builds (no coordinated omission). A request
goes out on an idle kept-alive connection, or a new one (up to ``--max-connections``, as the API
server opens more under load), else waits for one; that wait counts too. Requests that fail,
time out (``--timeout``, the webhook's timeoutSeconds) or answer anything but 200 are errors. The
generator's own lateness (dispatch after the due time) is reported apart, so its share is visible.

On the 2-core machine the server is pinned to CPU 0 and the generator to CPU 1 (``--no-pin`` to
let the kernel place them); the CPU each used during a step is printed (process time over wall
time; the server's includes its decision-writer thread).

    .venv/bin/python bench/admission_benchmark.py [--duration 15] [--rates 100,500,1000]
        [--search-duration 8] [--p99-limit-ms 50] [--log-level info] [--json FILE]

Results go into docs/performance.md ("Admission webhook") by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KPOSTURE = Path(sys.executable).parent / "kposture"
ENDPOINTS = ("noop", "validate")
BODIES = 256
"""Distinct request bodies (uids and names differ), cycled through."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_REUSE_S = 20.0


# --- the review -------------------------------------------------------------------------------


def deployment(n: int) -> dict[str, Any]:
    """A Deployment as the API server sends it: labels, kubectl's last-applied annotation,
    managedFields, two containers with probes, env, resources and volumes; hardened in part, so
    some rules pass and some (image digest, read-only root filesystem on the sidecar...) do not."""
    name = f"checkout-{n:04d}"
    labels = {
        "app.kubernetes.io/name": "checkout",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/version": "2.14.1",
        "app.kubernetes.io/part-of": "shop",
        "team": "payments",
    }
    app = {
        "name": "checkout",
        "image": "registry.example.com/shop/checkout:2.14.1",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--listen=:8080", "--metrics=:9090", "--log-format=json"],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "env": [
            {"name": "DB_HOST", "value": "postgres.shop.svc.cluster.local"},
            {"name": "DB_NAME", "value": "checkout"},
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "password"}},
            },
            {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}, "periodSeconds": 10},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "config", "mountPath": "/etc/checkout", "readOnly": True},
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    sidecar = {
        "name": "log-shipper",
        "image": "registry.example.com/infra/fluent-bit:3.1",
        "imagePullPolicy": "IfNotPresent",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False},
        "volumeMounts": [{"name": "varlog", "mountPath": "/var/log/app"}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    spec = {
        "replicas": 3,
        "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            },
            "spec": {
                "serviceAccountName": "checkout",
                "securityContext": {
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "fsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [app, sidecar],
                "volumes": [
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "varlog", "emptyDir": {}},
                    {"name": "config", "configMap": {"name": "checkout-config"}},
                ],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "schedulerName": "default-scheduler",
            },
        },
    }
    applied = {"apiVersion": "apps/v1", "kind": "Deployment"}
    applied["metadata"] = {"name": name, "namespace": "shop", "labels": labels}
    applied["spec"] = spec
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"5c1e2a9b-{n:04x}-4c8e-9f7a-1b2c3d4e5f60",
            "generation": 1,
            "creationTimestamp": "2026-11-26T10:00:00Z",
            "labels": labels,
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied),
            },
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2026-11-26T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": _fields_of(spec),
                }
            ],
        },
        "spec": spec,
        "status": {},
    }


def _fields_of(value: Any) -> Any:
    """managedFields' fieldsV1 shape for ``value`` (every key as ``f:key``)."""
    if isinstance(value, dict):
        return {f"f:{key}": _fields_of(item) for key, item in value.items()}
    return {}


def review(n: int) -> dict[str, Any]:
    obj = deployment(n)
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"7d3f5a10-{n:04x}-4b1e-8c2d-9e8f7a6b5c4d",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": obj["metadata"]["name"],
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:argocd:argocd-application-controller",
                "uid": "0b7e4b0e-2c1d-4c4f-9d55-3f1a2b3c4d5e",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:argocd",
                    "system:authenticated",
                ],
            },
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {
                "kind": "CreateOptions",
                "apiVersion": "meta.k8s.io/v1",
                "fieldManager": "argocd-controller",
            },
        },
    }


def http_request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path}?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nAccept: application/json, */*\r\n"
        "User-Agent: kube-apiserver-admission\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# --- the server -------------------------------------------------------------------------------


def write_certificates(folder: Path) -> Path:
    made = subprocess.run(
        [str(KPOSTURE), "admission", "certs", "--out", str(folder), "--ip", "127.0.0.1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode:
        raise SystemExit(f"kposture admission certs failed: {made.stderr}")
    return folder / "ca.crt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served(folder: Path, port: int, log_level: str, cpu: int | None) -> Iterator[int]:
    """``kposture serve`` with the default policy (every rule on, warn) and a SQLite store."""
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            str(KPOSTURE), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--tls-cert", str(folder / "tls.crt"), "--tls-key", str(folder / "tls.key"),
            "--db", f"sqlite:///{folder / 'kposture.db'}", "--log-level", log_level,
        ],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=folder,
    )  # fmt: skip
    if cpu is not None:
        os.sched_setaffinity(process.pid, {cpu})
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"kposture serve exited: {(folder / 'serve.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise SystemExit("kposture serve did not start in 30 s")
            time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the load generator -----------------------------------------------------------------------


class Pool:
    """Kept-alive TLS connections; a request takes an idle one, opens one, or waits for one."""

    def __init__(self, port: int, context: ssl.SSLContext, maximum: int) -> None:
        self.port = port
        self.context = context
        self.maximum = maximum
        self.idle: list[tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], float]] = []
        self.waiting: list[asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = []
        self.total = 0
        self.opened = 0

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            connection, since = self.idle.pop()
            # As an HTTP client pool does: never reuse one the server may have closed (uvicorn
            # closes after 30 s idle; a pool left idle during the other endpoint's steps).
            if connection[0].at_eof() or time.monotonic() - since > IDLE_REUSE_S:
                self.discard(connection)
                continue
            return connection
        if self.total < self.maximum:
            self.total += 1
            try:
                connection = await asyncio.open_connection(
                    "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
                )
            except BaseException:
                self.total -= 1
                raise
            self.opened += 1
            return connection
        future: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        return await future

    def release(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        while self.waiting:
            future = self.waiting.pop(0)
            if not future.done():
                future.set_result(connection)
                return
        self.idle.append((connection, time.monotonic()))

    def discard(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.total -= 1
        connection[1].close()

    async def close(self) -> None:
        for (_, writer), _since in self.idle:
            writer.close()
        self.idle.clear()


async def exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], raw: bytes
) -> int:
    reader, writer = connection
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


@dataclass
class Step:
    endpoint: str
    rate: int
    duration: float
    sent: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    achieved_rate: float
    dispatch_lag_p99_ms: float
    connections: int
    server_cpu: float
    generator_cpu: float
    other_cpu: float
    """Everything else on the machine meanwhile (other work on the 2 cores skews a step)."""
    error_kinds: dict[str, int]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_step(
    pool: Pool,
    requests: list[bytes],
    *,
    endpoint: str,
    rate: int,
    duration: float,
    timeout: float,
    server_pid: int,
) -> Step:
    loop = asyncio.get_running_loop()
    count = max(1, round(rate * duration))
    latencies: list[float] = []
    lags: list[float] = []
    errors: dict[str, int] = {}

    async def one(index: int, due: float) -> None:
        lags.append(loop.time() - due)
        connection = None
        try:
            async with asyncio.timeout(timeout):
                connection = await pool.acquire()
                status = await exchange(connection, requests[index % len(requests)])
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError) as exc:
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
            if connection is not None:
                pool.discard(connection)
            return
        pool.release(connection)
        if status != 200:
            errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
            return
        latencies.append(loop.time() - due)

    server_before, own_before = process_cpu_seconds(server_pid), own_cpu_seconds()
    machine_before = machine_busy_seconds()
    start = loop.time() + 0.05
    tasks = []
    for index in range(count):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    wall = loop.time() - start
    server_cpu = (process_cpu_seconds(server_pid) - server_before) / wall
    generator_cpu = (own_cpu_seconds() - own_before) / wall
    other_cpu = (machine_busy_seconds() - machine_before) / wall - server_cpu - generator_cpu
    milliseconds = [value * 1000 for value in latencies]
    return Step(
        endpoint=endpoint,
        rate=rate,
        duration=duration,
        sent=count,
        errors=sum(errors.values()),
        p50_ms=percentile(milliseconds, 0.50),
        p90_ms=percentile(milliseconds, 0.90),
        p99_ms=percentile(milliseconds, 0.99),
        max_ms=max(milliseconds, default=float("nan")),
        achieved_rate=len(latencies) / wall,
        dispatch_lag_p99_ms=percentile([lag * 1000 for lag in lags], 0.99),
        connections=pool.total,
        server_cpu=server_cpu,
        generator_cpu=generator_cpu,
        other_cpu=max(other_cpu, 0.0),
        error_kinds=errors,
    )


def show(step: Step) -> None:
    errors = f"{step.errors}" + (f" {step.error_kinds}" if step.errors else "")
    print(
        f"{step.endpoint:>8} {step.rate:>5}/s {step.duration:>4.0f}s  "
        f"p50 {step.p50_ms:7.2f}  p90 {step.p90_ms:7.2f}  p99 {step.p99_ms:7.2f}  "
        f"max {step.max_ms:8.2f} ms  errors {errors}  done {step.achieved_rate:7.1f}/s  "
        f"lag99 {step.dispatch_lag_p99_ms:5.2f} ms  conns {step.connections:3d}  "
        f"cpu server {step.server_cpu:4.0%} generator {step.generator_cpu:4.0%} "
        f"others {step.other_cpu:4.0%}",
        flush=True,
    )


async def benchmark(
    args: argparse.Namespace, port: int, ca: Path, server_pid: int
) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(ca))
    bodies = [json.dumps(review(n), separators=(",", ":")).encode() for n in range(BODIES)]
    requests = {
        endpoint: [http_request(f"/{endpoint}", b) for b in bodies] for endpoint in ENDPOINTS
    }
    pools = {endpoint: Pool(port, context, args.max_connections) for endpoint in ENDPOINTS}
    print(f"review: a Deployment, {len(bodies[0]):,} bytes of JSON; {BODIES} distinct bodies")

    async def step(endpoint: str, rate: int, duration: float) -> Step:
        # A short warm-up at the same rate (not measured) fills the pool and the caches.
        await run_step(
            pools[endpoint], requests[endpoint], endpoint=endpoint, rate=rate,
            duration=args.warmup, timeout=args.timeout, server_pid=server_pid,
        )  # fmt: skip
        result = await run_step(
            pools[endpoint], requests[endpoint], endpoint=endpoint, rate=rate,
            duration=duration, timeout=args.timeout, server_pid=server_pid,
        )  # fmt: skip
        show(result)
        return result

    steady: list[Step] = []
    print("\n(a) steady rates")
    for rate in args.rates:
        for endpoint in ENDPOINTS:
            steady.append(await step(endpoint, rate, args.duration))

    print(f"\n(b) maximum sustainable rate: p99 under {args.p99_limit_ms:g} ms, zero errors")
    searched: list[Step] = []
    best: dict[str, int] = {}
    for endpoint in ENDPOINTS:
        # Start above the highest steady rate that already met the criterion.
        passed = [
            s.rate
            for s in steady
            if s.endpoint == endpoint and not s.errors and s.p99_ms < args.p99_limit_ms
        ]
        if passed:
            best[endpoint] = max(passed)
        rate = int(max(passed) * args.search_factor) if passed else args.search_start
        while rate <= args.search_max:
            result = await step(endpoint, rate, args.search_duration)
            searched.append(result)
            if result.errors or not result.p99_ms < args.p99_limit_ms:
                break
            best[endpoint] = rate
            rate = int(rate * args.search_factor)
        # Let a backlog drain before the next endpoint.
        await asyncio.sleep(2)
    for pool in pools.values():
        await pool.close()
    return {"steady": [asdict(s) for s in steady], "search": [asdict(s) for s in searched],
            "max_sustainable": best}  # fmt: skip


def summary(results: dict[str, Any]) -> None:
    steady = {(s["endpoint"], s["rate"]): s for s in results["steady"]}
    print(
        "\n| rate | endpoint | p50 ms | p99 ms | max ms | errors | server CPU | generator CPU "
        "| other CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (endpoint, rate), s in steady.items():
        print(
            f"| {rate}/s | {endpoint} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
            f"{s['max_ms']:.1f} | {s['errors']} | {s['server_cpu']:.0%} | "
            f"{s['generator_cpu']:.0%} | {s['other_cpu']:.0%} |"
        )
    rates = sorted({rate for _, rate in steady})
    for rate in rates:
        noop, validate = steady.get(("noop", rate)), steady.get(("validate", rate))
        if noop and validate:
            print(
                f"{rate}/s: judging adds {validate['p50_ms'] - noop['p50_ms']:+.2f} ms at p50, "
                f"{validate['p99_ms'] - noop['p99_ms']:+.2f} ms at p99 "
                f"(validate/noop p50 ratio {validate['p50_ms'] / noop['p50_ms']:.2f})"
            )
    for endpoint, rate in results["max_sustainable"].items():
        print(f"maximum sustainable rate, {endpoint}: {rate}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per steady step")
    parser.add_argument("--rates", default="100,500,1000", help="steady rates, reviews/s")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each step")
    parser.add_argument(
        "--search-start", type=int, default=200, help="when no steady rate met the criterion"
    )
    parser.add_argument("--search-factor", type=float, default=1.2)
    parser.add_argument("--search-max", type=int, default=6000)
    parser.add_argument("--search-duration", type=float, default=8.0)
    parser.add_argument("--p99-limit-ms", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--max-connections", type=int, default=64)
    parser.add_argument("--log-level", default="info", help="kposture serve --log-level")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and generator")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = parser.parse_args()
    args.rates = [int(rate) for rate in args.rates.split(",")]
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    cpus = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="kposture-admission-bench-") as tmp:
        folder = Path(tmp)
        ca = write_certificates(folder)
        port = free_port()
        with served(folder, port, args.log_level, cpus[0] if pin else None) as pid:
            if pin:
                os.sched_setaffinity(0, {cpus[1]})
                print(f"server pinned to CPU {cpus[0]}, load generator to CPU {cpus[1]}")
            else:
                print("server and load generator not pinned")
            print(f"kposture serve --log-level {args.log_level}, store sqlite (WAL), pid {pid}")
            results = asyncio.run(benchmark(args, port, ca, pid))
        written = _written(folder / "serve.log")
        if args.server_log:
            shutil.copyfile(folder / "serve.log", args.server_log)
    results["settings"] = {
        "pinned": pin,
        "log_level": args.log_level,
        "max_connections": args.max_connections,
        "review_bytes": len(json.dumps(review(0), separators=(",", ":"))),
    }
    summary(results)
    if written:
        print(f"server: {written}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _written(log: Path) -> str:
    lines = [
        line for line in log.read_text(errors="replace").splitlines() if "decision log" in line
    ]
    return lines[-1].split(": ", 1)[-1] if lines else ""


if __name__ == "__main__":
    main()
