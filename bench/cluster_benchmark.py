"""The cluster benchmark: ``kposture scan --cluster`` against ``kubectl get -A -o json`` of the same
kinds, on a real kube-apiserver 1.20 holding 10,000 applied objects.

Starts the project's test cluster (``scripts/test-cluster/cluster.sh``, etcd + kube-apiserver, no
controller manager so the object count stays what was applied) in a scratch state dir, applies the
objects with server-side apply in chunks (``kubectl apply --server-side`` of JSON Lists), then times,
each in a fresh process: kubectl's listing of every kind kposture lists (the baseline, in the same
run); the whole CLI scan (``scan --cluster -o json``); and its phases in-process (list, evaluate,
render). Peak memory is each process's max RSS. Prints a markdown table for docs/performance.md.

Usage: ``python bench/cluster_benchmark.py [--objects N] [--repeat R] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = REPO / "scripts" / "test-cluster" / "cluster.sh"
KPOSTURE = Path(sys.executable).parent / "kposture"
NAMESPACES = 20
CHUNK = 500

# Share of each kind among the applied objects (they add up to 1).
MIX = {
    "Deployment": 0.25,
    "Pod": 0.15,
    "Service": 0.15,
    "ConfigMap": 0.15,
    "Secret": 0.10,
    "ServiceAccount": 0.05,
    "Role": 0.075,
    "RoleBinding": 0.075,
}

PHASES = r"""
import json, resource, sys, time
from kposture.cli.scanning import cyclic_gc_paused, default_registry, _judge_loaded
from kposture.cli.output import Format, render_text
from kposture.model import RunPolicy
from kposture.sources.cluster import load_cluster
import datetime as dt
t0 = time.perf_counter()
with cyclic_gc_paused():
    read = load_cluster(sys.argv[1])
    t1 = time.perf_counter()
    outcome = _judge_loaded(read.loaded, default_registry(), RunPolicy(), dt.datetime.now(dt.UTC))
    t2 = time.perf_counter()
    text = render_text(outcome, Format.JSON, None)
t3 = time.perf_counter()
print(json.dumps({"list": t1 - t0, "evaluate": t2 - t1, "render": t3 - t2,
                  "objects": len(read.loaded.objects), "findings": len(outcome.result.findings),
                  "errors": [e.message for e in read.loaded.errors]}))
"""


def timed_rss(args: list[str]) -> tuple[float, float, str]:
    """Run ``args``; return (seconds, the child's own peak memory in MB via os.wait4, stdout)."""
    with tempfile.TemporaryFile() as out_file:
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, stdout=out_file, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{args} failed ({proc.returncode})")
        out_file.seek(0)
        return seconds, usage.ru_maxrss / 1024, out_file.read().decode()


def objects(count: int) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for kind, share in MIX.items():
        for i in range(round(count * share)):
            made.append(make(kind, i, f"bench-{i % NAMESPACES:02d}"))
    return made[:count]


def make(kind: str, i: int, namespace: str) -> dict[str, Any]:
    meta = {"name": f"{kind.lower()}-{i:05d}", "namespace": namespace, "labels": {"app": f"a{i}"}}
    container = {
        "name": "app",
        "image": f"registry.example.com/team/app-{i % 50}:1.{i % 7}",
        "securityContext": {"privileged": i % 10 == 0, "runAsNonRoot": i % 3 != 0},
        "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}} if i % 2 else {},
        "env": [{"name": "MODE", "value": "production"}],
    }
    # No controller manager: no ServiceAccount token Secrets to mount.
    pod_spec = {
        "containers": [container],
        "hostNetwork": i % 25 == 0,
        "automountServiceAccountToken": False,
    }
    if kind == "Deployment":
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": meta,
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": f"a{i}"}},
                "template": {"metadata": {"labels": {"app": f"a{i}"}}, "spec": pod_spec},
            },
        }
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": pod_spec}
    if kind == "Service":
        # Headless: the test cluster's service IP range is far smaller than the object count.
        spec = {
            "selector": {"app": f"a{i}"},
            "ports": [{"port": 80, "protocol": "TCP"}],
            "clusterIP": "None",
        }
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"config": "x" * 200}}
    if kind == "Secret":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": meta,
            "type": "Opaque",
            "stringData": {"note": "benchmark filler"},
        }
    if kind == "ServiceAccount":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "Role":
        verbs = ["get", "list"] if i % 4 else ["*"]
        rules = [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": verbs}]
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": meta,
            "rules": rules,
        }
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": f"role-{i:05d}",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": meta["namespace"]}],
    }


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def apply_all(kubeconfig: Path, items: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for n in range(NAMESPACES):
        kubectl(kubeconfig, "create", "namespace", f"bench-{n:02d}")
        # Without kube-controller-manager nobody creates the namespace's default ServiceAccount.
        kubectl(kubeconfig, "create", "serviceaccount", "default", "-n", f"bench-{n:02d}")
    for offset in range(0, len(items), CHUNK):
        chunk = {"apiVersion": "v1", "kind": "List", "items": items[offset : offset + CHUNK]}
        kubectl(
            kubeconfig,
            "apply",
            "--server-side",
            "--field-manager=kposture-bench",
            "-f",
            "-",
            stdin=json.dumps(chunk),
        )
    return time.perf_counter() - start


def kinds_listed(kubeconfig: Path) -> list[str]:
    """``resource.group`` names of what kposture lists on this server (from a snapshot header)."""
    code = (
        "import json,sys;from kposture.sources.cluster import load_cluster;"
        "r=load_cluster(sys.argv[1]);"
        "print(json.dumps([[k.kind,k.api_version] for k in r.kinds]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(kubeconfig)], capture_output=True, text=True, check=True
    ).stdout
    from kposture.sources.cluster_kinds import CATALOGUE

    plural = {s.kind: s.plural for s in CATALOGUE}
    names = []
    for kind, api_version in json.loads(out):
        group = api_version.rpartition("/")[0]
        names.append(f"{plural[kind]}.{group}" if group else plural[kind])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kposture-bench-cluster-"))
    env = dict(os.environ, KPOSTURE_CONTROLLER_MANAGER="0")
    subprocess.run(
        ["bash", str(CLUSTER_SH), "start", "--state-dir", str(state)], check=True, env=env
    )
    try:
        kubeconfig = Path(json.loads((state / "cluster.json").read_text())["kubeconfig"])
        items = objects(args.objects)
        apply_seconds = apply_all(kubeconfig, items)
        kinds = ",".join(kinds_listed(kubeconfig))
        kubectl_args = ["kubectl", f"--kubeconfig={kubeconfig}", "get", kinds, "-A", "-o", "json"]
        scan_args = [str(KPOSTURE), "scan", "--cluster", f"--kubeconfig={kubeconfig}", "-o", "json"]
        phase_args = [sys.executable, "-c", PHASES, str(kubeconfig)]
        timed_rss(kubectl_args)  # warm the server's caches once for both
        runs: dict[str, list[tuple[float, float]]] = {"kubectl": [], "scan": []}
        phases: list[dict[str, Any]] = []
        listed = 0
        for _ in range(args.repeat):
            seconds, rss, out = timed_rss(kubectl_args)
            listed = len(json.loads(out)["items"])
            runs["kubectl"].append((seconds, rss))
            seconds, rss, _ = timed_rss(scan_args)
            runs["scan"].append((seconds, rss))
            seconds, rss, out = timed_rss(phase_args)
            phases.append({**json.loads(out), "rss": rss})
        report(args, apply_seconds, listed, runs, phases)
    finally:
        if not args.keep:
            subprocess.run(
                ["bash", str(CLUSTER_SH), "stop", "--state-dir", str(state)], check=False
            )
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"cluster left running: KUBECONFIG={state}/kubeconfig", file=sys.stderr)


def report(
    args: argparse.Namespace,
    apply_seconds: float,
    listed: int,
    runs: dict[str, list[tuple[float, float]]],
    phases: list[dict[str, Any]],
) -> None:
    kubectl_s = statistics.median(s for s, _ in runs["kubectl"])
    scan_s = statistics.median(s for s, _ in runs["scan"])
    kubectl_mb = max(m for _, m in runs["kubectl"])
    scan_mb = max(m for _, m in runs["scan"])
    phase = {k: statistics.median(p[k] for p in phases) for k in ("list", "evaluate", "render")}
    last = phases[-1]
    print(
        f"\n{args.objects:,} objects applied in {apply_seconds:.0f} s (server-side apply, "
        f"{CHUNK} per request); {listed:,} objects listed (cluster defaults included); "
        f"{last['findings']:,} findings; median of {args.repeat}; {platform.python_version()}, "
        f"{os.cpu_count()} cores\n"
    )
    print("| what | time (s) | ratio to kubectl | peak memory (MB) |")
    print("|---|---:|---:|---:|")
    print(
        f"| `kubectl get <same kinds> -A -o json` (baseline) | {kubectl_s:.2f} | 1.00x | "
        f"{kubectl_mb:.0f} |"
    )
    print(
        f"| `kposture scan --cluster -o json` (whole CLI) | {scan_s:.2f} | "
        f"{scan_s / kubectl_s:.2f}x | {scan_mb:.0f} |"
    )
    print(
        f"| — list (discovery + every served kind, 6 threads) | {phase['list']:.2f} | "
        f"{phase['list'] / kubectl_s:.2f}x | |"
    )
    print(f"| — evaluate (inventory + rules) | {phase['evaluate']:.2f} | | |")
    print(f"| — render JSON | {phase['render']:.2f} | | |")
    if last["errors"]:
        print("\nlisting problems:", *last["errors"], sep="\n- ")


if __name__ == "__main__":
    main()
