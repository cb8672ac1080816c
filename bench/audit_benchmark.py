"""The audit-log detection benchmark: ``kposture detect`` with every built-in detection over a
synthetic log of realistic events, against plain ``json.loads`` of every line of the same log
(the standard library, measured in the same run).

The log is a mix like a real cluster's: most events are get/list/watch and lease updates by
control-plane components, nodes and controllers' ServiceAccounts (at the ``Metadata`` level), some
are people working with kubectl (reads, applies, a few ConfigMaps and Deployments with their
bodies at ``RequestResponse``), 403s now and then, and a few suspicious requests (exec, Secret
reads by a person, cluster-admin bindings, privileged pods). Both passes read the file line by
line on one core; detection goes through the same reader and detector as ``kposture detect``
(``AuditLogReader.read_file`` then ``Detector.process``). RSS is sampled every 0.2 s during the
detection pass: "flat" means it does not grow with the number of events read.

Usage: ``python bench/audit_benchmark.py [--events N] [--keep FILE] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kposture.detections import Detector
from kposture.model import Severity
from kposture.sources.audit_logs import AuditLogReader

GOAL_RATIO = 2.0
GOAL_RATE = 20_000
NODES = [f"ip-10-0-{i // 250}-{i % 250}.ec2.internal" for i in range(40)]
NAMESPACES = ["default", "shop", "payments", "search", "monitoring", "ingress-nginx", "argocd"]
PEOPLE = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]
CONTROLLERS = [
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "namespace-controller",
    "job-controller",
    "statefulset-controller",
    "daemon-set-controller",
    "generic-garbage-collector",
]
READ_RESOURCES = [
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("", "v1", "endpoints"),
    ("", "v1", "configmaps"),
    ("", "v1", "nodes"),
    ("", "v1", "namespaces"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "replicasets"),
    ("discovery.k8s.io", "v1", "endpointslices"),
    ("coordination.k8s.io", "v1", "leases"),
]


class Generator:
    """Realistic audit events from one seed."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.clock = 1_767_225_600.0  # 2026-01-01T00:00:00Z
        self.count = 0

    def _time(self) -> str:
        self.clock += self.random.expovariate(400.0)
        whole = int(self.clock)
        micros = int((self.clock - whole) * 1_000_000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"

    def event(
        self,
        verb: str,
        user: str,
        groups: list[str],
        resource: tuple[str, str, str],
        *,
        namespace: str = "",
        name: str = "",
        subresource: str = "",
        code: int = 200,
        agent: str = "kube-controller-manager/v1.29.4 (linux/amd64) kubernetes/55019c8",
        ip: str = "10.0.0.10",
        level: str = "Metadata",
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.count += 1
        group, version, plural = resource
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if namespace:
            path += f"/namespaces/{namespace}"
        path += (
            f"/{plural}" + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")
        )
        if verb in ("list", "watch"):
            path += "?resourceVersion=0&watch=true" if verb == "watch" else "?limit=500"
        when = self._time()
        ref: dict[str, Any] = {"resource": plural, "apiVersion": version}
        if group:
            ref["apiGroup"] = group
        if namespace:
            ref["namespace"] = namespace
        if name:
            ref["name"] = name
        if subresource:
            ref["subresource"] = subresource
        decision = "forbid" if code == 403 else "allow"
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": f"{self.random.getrandbits(128):032x}",
            "stage": "ResponseComplete",
            "requestURI": path,
            "verb": verb,
            "user": {"username": user, "groups": groups},
            "sourceIPs": [ip],
            "userAgent": agent,
            "objectRef": ref,
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": when,
            "stageTimestamp": when,
            "annotations": {
                "authorization.k8s.io/decision": decision,
                "authorization.k8s.io/reason": "" if code == 403 else "RBAC: allowed by binding",
            },
        }
        if request is not None:
            event["requestObject"] = request
        if response is not None:
            event["responseObject"] = response
        return event

    def system(self) -> dict[str, Any]:
        roll = self.random.random()
        if roll < 0.35:  # nodes: kubelet reads and status updates
            node = self.random.choice(NODES)
            resource = self.random.choice(READ_RESOURCES[:5])
            verb = self.random.choice(("get", "list", "watch", "get"))
            return self.event(
                verb,
                f"system:node:{node}",
                ["system:nodes", "system:authenticated"],
                resource,
                namespace=self.random.choice(NAMESPACES) if resource[2] != "nodes" else "",
                name=node if verb == "get" and resource[2] == "nodes" else "",
                agent="kubelet/v1.29.4 (linux/amd64) kubernetes/55019c8",
                ip=f"10.0.{NODES.index(node) // 250}.{NODES.index(node) % 250}",
            )
        if roll < 0.55:  # leader election and node leases
            who = self.random.choice(("kube-controller-manager", "kube-scheduler"))
            return self.event(
                self.random.choice(("get", "update")),
                f"system:{who}",
                ["system:authenticated"],
                ("coordination.k8s.io", "v1", "leases"),
                namespace="kube-system",
                name=who,
                agent=f"{who}/v1.29.4 (linux/amd64) kubernetes/55019c8/leader-election",
            )
        if roll < 0.85:  # controllers' ServiceAccounts
            controller = self.random.choice(CONTROLLERS)
            resource = self.random.choice(READ_RESOURCES)
            verb = self.random.choice(("list", "watch", "get", "update", "patch"))
            return self.event(
                verb,
                f"system:serviceaccount:kube-system:{controller}",
                [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
                resource,
                namespace=self.random.choice(NAMESPACES),
                name="" if verb in ("list", "watch") else f"obj-{self.random.randrange(500)}",
                agent=f"kube-controller-manager/v1.29.4 (linux/amd64) kubernetes/55019c8/{controller}",
            )
        # in-cluster workloads (coredns, prometheus, ingress) reading what they watch
        namespace = self.random.choice(("monitoring", "ingress-nginx", "kube-system"))
        account = {"monitoring": "prometheus", "ingress-nginx": "ingress-nginx"}.get(
            namespace, "coredns"
        )
        return self.event(
            self.random.choice(("list", "watch")),
            f"system:serviceaccount:{namespace}:{account}",
            [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            self.random.choice(READ_RESOURCES[:4]),
            agent=f"{account}/v2.51.0",
            ip=f"10.1.{len(account)}.{self.random.randrange(3)}",  # its pods' three IPs
        )

    def person(self) -> dict[str, Any]:
        who = self.random.choice(PEOPLE)
        ip = f"192.168.{PEOPLE.index(who)}.{7 + PEOPLE.index(who)}"
        agent = "kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8"
        namespace = self.random.choice(NAMESPACES[:4])
        roll = self.random.random()
        groups = ["developers", "system:authenticated"]
        if roll < 0.80:
            verb = self.random.choice(("get", "list"))
            return self.event(
                verb,
                who,
                groups,
                self.random.choice(READ_RESOURCES[:7]),
                namespace=namespace,
                name="web-1" if verb == "get" else "",
                agent=agent,
                ip=ip,
            )
        if roll < 0.90:
            name = f"settings-{self.random.randrange(50)}"
            body = {
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": {"name": name, "namespace": namespace},
                "data": {"LOG_LEVEL": "info", "FEATURE_X": "true", "REGION": "eu-west-1"},
            }
            return self.event(
                "patch",
                who,
                groups,
                ("", "v1", "configmaps"),
                namespace=namespace,
                name=name,
                agent=agent,
                ip=ip,
                level="RequestResponse",
                request=body,
                response=body,
            )
        if roll < 0.97:
            name = f"app-{self.random.randrange(50)}"
            body = {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": f"registry.example.com/{name}:1.4.2",
                                    "ports": [{"containerPort": 8080}],
                                    "securityContext": {"runAsNonRoot": True},
                                }
                            ]
                        },
                    },
                },
            }
            return self.event(
                "patch",
                who,
                groups,
                ("apps", "v1", "deployments"),
                namespace=namespace,
                name=name,
                agent=agent,
                ip=ip,
                level="RequestResponse",
                request=body,
                response=body,
            )
        return self.event(  # a forbidden read
            "list",
            who,
            groups,
            ("", "v1", "secrets"),
            namespace="kube-system",
            code=403,
            agent=agent,
            ip=ip,
        )

    def suspicious(self) -> dict[str, Any]:
        who = self.random.choice(PEOPLE)
        groups = ["developers", "system:authenticated"]
        agent = "kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8"
        ip = "203.0.113.50"
        kind = self.random.randrange(4)
        if kind == 0:
            return self.event(
                "create",
                who,
                groups,
                ("", "v1", "pods"),
                namespace="shop",
                name="web-1",
                subresource="exec",
                code=101,
                agent=agent,
                ip=ip,
            )
        if kind == 1:
            return self.event(
                "get",
                who,
                groups,
                ("", "v1", "secrets"),
                namespace="payments",
                name="db",
                agent=agent,
                ip=ip,
            )
        if kind == 2:
            body = {
                "kind": "ClusterRoleBinding",
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": f"pwn-{self.count}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "User", "name": who}],
            }
            return self.event(
                "create",
                who,
                groups,
                ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
                name=body["metadata"]["name"],
                code=201,
                agent=agent,
                ip=ip,
                level="RequestResponse",
                request=body,
                response=body,
            )
        body = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": f"debug-{self.count}", "namespace": "shop"},
            "spec": {
                "hostPID": True,
                "containers": [
                    {"name": "sh", "image": "alpine:3.19", "securityContext": {"privileged": True}}
                ],
            },
        }
        return self.event(
            "create",
            who,
            groups,
            ("", "v1", "pods"),
            namespace="shop",
            name=body["metadata"]["name"],
            code=201,
            agent=agent,
            ip=ip,
            level="RequestResponse",
            request=body,
            response=body,
        )

    def events(self, total: int) -> Iterator[dict[str, Any]]:
        for _ in range(total):
            roll = self.random.random()
            if roll < 0.93:
                yield self.system()
            elif roll < 0.9995:
                yield self.person()
            else:
                yield self.suspicious()


def write_log(path: Path, total: int, seed: int = 7) -> int:
    size = 0
    with path.open("w", encoding="utf-8") as out:
        for event in Generator(seed).events(total):
            line = json.dumps(event, separators=(",", ":")) + "\n"
            size += len(line)
            out.write(line)
    return size


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:  # noqa: PTH123
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


class Sampler(threading.Thread):
    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.done.wait(self.interval):
            self.samples.append((time.perf_counter() - start, rss_mib()))


def baseline(path: Path) -> tuple[float, int]:
    started = time.process_time()
    count = 0
    with path.open("rb") as stream:
        for line in stream:
            json.loads(line)
            count += 1
    return time.process_time() - started, count


def detection(path: Path) -> tuple[float, int, int, Detector, Sampler, AuditLogReader]:
    detector = Detector(min_severity=Severity.LOW)
    reader = AuditLogReader(keep=detector.wants)
    sampler = Sampler()
    sampler.start()
    started = time.process_time()
    events = 0
    for event in reader.read_file(path):
        detector.process(event)
    elapsed = time.process_time() - started
    events = reader.stats.read
    sampler.done.set()
    sampler.join()
    return elapsed, events, detector.stats.alerts, detector, sampler, reader


def arguments() -> argparse.ArgumentParser:
    """The command line, its help written out in full (not a docstring cut at a line end)."""
    parser = argparse.ArgumentParser(
        description="The audit-log detection benchmark: times kposture detect's reader and every "
        "built-in detection over a synthetic audit log of realistic events, against plain "
        "json.loads of every line of the same log, on one core; reports events/s, the ratio to "
        "json.loads and the RSS over the run, and exits 1 when a goal (at most "
        f"{GOAL_RATIO}x json.loads' time, at least {GOAL_RATE:,} events/s, flat memory) is not met.",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        metavar="N",
        help="events in the generated log (default: %(default)s; ignored when --keep names a "
        "file that exists)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="FILE",
        help="write the generated log to FILE and keep it, or reuse FILE when it exists (default: "
        "a temporary file, removed at the end)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the detection pass with cProfile and print its 40 costliest functions by "
        "own time",
    )
    return parser


def main() -> int:
    args = arguments().parse_args()
    work = Path(tempfile.mkdtemp(prefix="kposture-audit-bench-"))
    path = args.keep or work / "audit.log"
    if not path.exists():
        started = time.perf_counter()
        size = write_log(path, args.events)
        print(
            f"generated {args.events:,} events ({size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
    else:
        print(f"reusing {path} ({path.stat().st_size / 1e6:,.0f} MB)")
    print(f"python {sys.version.split()[0]}, one core (CPU time of this process)")
    base_time, lines = baseline(path)
    print(
        f"baseline json.loads: {lines:,} lines in {base_time:.2f} s = {lines / base_time:,.0f} lines/s"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    rss_before = rss_mib()
    det_time, events, alerts, detector, sampler, reader = detection(path)
    if args.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    rate = events / det_time
    ratio = det_time / base_time
    print(
        f"detection: {events:,} events, {alerts:,} alerts in {det_time:.2f} s = {rate:,.0f} events/s; "
        f"{ratio:.2f}x the baseline's time"
    )
    print(
        f"events built into models and judged: {reader.stats.events:,} "
        f"({reader.stats.events / max(1, events):.1%}); errors in detections: {detector.stats.errors}"
    )
    samples = [rss for _, rss in sampler.samples] or [rss_mib()]
    quarter = max(1, len(samples) // 4)
    early, late = max(samples[:quarter]), max(samples[-quarter:])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"memory: RSS {rss_before:.0f} MiB before, max {early:.0f} MiB in the first quarter of the "
        f"run, {late:.0f} MiB in the last, {max(samples):.0f} MiB max sampled ({len(samples)} "
        f"samples), {peak:.0f} MiB peak of the process"
    )
    met = ratio <= GOAL_RATIO and rate >= GOAL_RATE and late - early < 64
    print(
        f"goals (<= {GOAL_RATIO}x baseline, >= {GOAL_RATE:,} events/s, flat memory): "
        + ("met" if met else "NOT met")
    )
    if args.keep is None:
        path.unlink()
        work.rmdir()
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
