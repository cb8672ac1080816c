"""The RBAC analyzer benchmark: graph build, ``who-can`` latency, escalation paths and peak memory on a
synthetic cluster of 5,000 roles and 50,000 bindings, against loading the same objects.

``bench/rbac_cluster.py`` generates the cluster (seeded, so every run lists the same objects); it is
written as ``kubectl get KIND -A -o json`` would list it, one ``List`` file per kind with one item per
line (the snapshot layout), and read back through ``sources.manifests.load_manifests``, the path a
snapshot or ``kposture rbac who-can FILE`` takes. Each run is a fresh interpreter, which measures,
in order and with the cyclic GC paused as a scan pauses it:

- **parse only** (a separate process): read every file and ``json.loads`` it;
- **load** — the baseline the RBAC figures are compared with: the same files into ``K8sObject``s,
  plus the ``Inventory`` over them;
- **graph build** — ``rbac_graph.build``: every binding resolved to its role (aggregation
  included), bindings grouped by role, the rule index;
- **who-can** — a few hundred different requests (namespaced, cluster-scoped, subresources, named
  objects, a Namespace by name, non-resource URLs), each timed: p50, p99, max;
- **naive who-can** — the baseline for queries, in the same run: the authorizer's own strategy
  (visit every binding in force, resolve its role, try its rules) for the first requests, whose
  answers must equal ``who_can``'s (a semantic cross-check on a large random cluster);
- **all escalation paths** — timed when ``kposture.inventory.rbac_paths`` exists, else reported as
  not measured yet;
- **RBAC rules** — ``engine.evaluate`` of the RBAC rules (``rules.rbac.RULES``) on the whole
  inventory, as ``scan`` runs them (one escalation-path check per binding);
- **risky workloads** — ``rbac_workloads.risky_workloads``, what ``kposture rbac workloads`` lists;
- **rbac risky** — the capability views and their table (first rows per capability), then the
  streamed ``-o json`` document, both written to /dev/null;
- **peak memory** — the process's max RSS after each phase (what a user of the CLI feels); a
  phase's figure is the peak so far, so the first phase that reaches the whole process's peak is
  the one that set it. The memory goal is the analyzer's (load, graph, who-can, all paths); the
  phases after it add to the same interpreter, as no single command does.

Prints a markdown table for docs/performance.md. Usage: ``python bench/rbac_benchmark.py [--repeat R]
[--roles N] [--bindings N] [--requests N] [--naive N] [--seed S] [--gc paused|enabled] [--keep DIR]
[--profile FILE] [--skip-paths]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rbac_cluster import CLUSTER_VOCABULARY, VOCABULARY, generate  # noqa: E402

GOALS = {"build": 3.0, "who_can_p99_ms": 50.0, "paths": 10.0, "rss_mb": 500.0}

PARSE_CODE = r"""
import json, resource, sys, time
from pathlib import Path
files = sorted(Path(sys.argv[1]).glob("*.json"))
start = time.perf_counter()
items = 0
for path in files:
    items += len(json.loads(path.read_text())["items"])
print(json.dumps({"parse": time.perf_counter() - start, "items": items,
                  "rss_parse": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The escalation-path view (another module, newer than this benchmark): timed over the whole
# inventory when the module is there.
PATHS_MODULE = "kposture.inventory.rbac_paths"
PATHS_FUNCTIONS = ("escalation_paths",)


def write_cluster(root: Path, by_kind: dict[str, list[dict[str, Any]]]) -> int:
    """One ``List`` file per kind, one item per line; returns the number of bytes written."""
    written = 0
    for kind, items in by_kind.items():
        lines = ",\n".join(json.dumps(item, separators=(",", ":")) for item in items)
        head = '{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":['
        text = f"{head}\n{lines}\n]}}\n"
        (root / f"{kind.lower()}.json").write_text(text)
        written += len(text)
    return written


def requests(count: int, seed: int, namespaces: list[str]) -> list[dict[str, str]]:
    """``count`` different requests as ``Request`` keyword arguments: 60% namespaced resources
    (a quarter of them subresources, a fifth named), 20% cluster-scoped, 10% a Namespace or a
    named object, 10% non-resource URLs."""
    import random

    rng = random.Random(seed)
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
    seen: set[tuple[str, ...]] = set()
    made: list[dict[str, str]] = []
    while len(made) < count:
        roll = rng.random()
        verb = rng.choice(verbs) if rng.random() < 0.95 else rng.choice(("escalate", "bind"))
        if roll < 0.6:
            group, resources = rng.choice(VOCABULARY)
            resource, _, sub = rng.choice(resources).partition("/")
            name = f"obj-{rng.randrange(50)}" if rng.random() < 0.2 else ""
            request = {"verb": verb, "group": group, "resource": resource, "subresource": sub}
            request.update(namespace=rng.choice(namespaces), name=name)
        elif roll < 0.8:
            group, resources = rng.choice(CLUSTER_VOCABULARY)
            resource, _, sub = rng.choice(resources).partition("/")
            request = {"verb": verb, "group": group, "resource": resource, "subresource": sub}
        elif roll < 0.9:
            namespace = rng.choice(namespaces)
            request = {"verb": rng.choice(("get", "update", "delete")), "resource": "namespaces"}
            request.update(namespace=namespace, name=namespace)
        else:
            path = rng.choice(("/metrics", "/healthz", "/version", "/api/v1", "/logs/kubelet.log"))
            request = {"verb": "get", "path": path}
        key = tuple(sorted(request.items()))
        if key not in seen:
            seen.add(key)
            made.append(request)
    return made


RUN_CODE = r"""
import importlib, json, resource, sys, time
from pathlib import Path
root, requests_file, naive_count, paths_module, profile, gc_mode = sys.argv[1:7]
naive_count = int(naive_count)
import contextlib
from kposture.cli.scanning import cyclic_gc_paused
from kposture.inventory import Inventory
from kposture.inventory import rbac_graph
from kposture.inventory.rbac import bound_role
from kposture.inventory.rbac_graph import Access, Request, who_can
from kposture.sources.manifests import load_manifests

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def naive_who_can(inventory, request):
    # The authorizer's VisitRulesFor: every binding in force, its role resolved per request.
    live = bool(inventory.of_kind("ClusterFacts"))
    found = []
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for binding in inventory.of_kind(kind):
            if kind == "RoleBinding" and (request.path or binding.ref.namespace != request.namespace):
                continue
            role = bound_role(binding, inventory, builtin=not live)
            if role is None:
                continue
            rule = next((r for r in role.rules if request.allowed_by(r)), None)
            if rule is None:
                continue
            found.extend(Access(s, binding, role, rule) for s in rbac_graph.binding_subjects(binding))
    return found

def key(access):
    return (access.binding.ref, access.subject, access.rule.origin, access.rule.index)

out = {}
profiler = None
if profile:
    import cProfile
    profiler = cProfile.Profile()
asked = [Request(**r) for r in json.loads(Path(requests_file).read_text())]
with cyclic_gc_paused() if gc_mode == "paused" else contextlib.nullcontext():
    start = time.perf_counter()
    loaded = load_manifests([root])
    inventory = Inventory(loaded.objects)
    out["load"] = time.perf_counter() - start
    out["objects"] = len(loaded.objects)
    out["errors"] = [e.message for e in loaded.errors][:5]
    out["bindings"] = len(inventory.of_kind("RoleBinding")) + len(inventory.of_kind("ClusterRoleBinding"))
    out["roles"] = len(inventory.of_kind("Role")) + len(inventory.of_kind("ClusterRole"))
    out["rss_load"] = rss()
    if profiler: profiler.enable()
    start = time.perf_counter()
    build = getattr(rbac_graph, "build", None)
    if build is not None:
        build(inventory)
    else:  # before rbac_graph.build existed the first query built the index
        who_can(inventory, Request(verb="get", resource="pods", namespace="x"))
    out["build"] = time.perf_counter() - start
    out["rss_build"] = rss()
    latencies, answers = [], []
    for request in asked:
        start = time.perf_counter()
        found = who_can(inventory, request)
        latencies.append(time.perf_counter() - start)
        answers.append(len(found))
    del found
    if profiler: profiler.disable()
    out["latencies"] = latencies
    out["answers"] = answers
    out["rss_query"] = rss()
    naive, mismatches = [], []
    for request in asked[:naive_count]:
        found = who_can(inventory, request)
        start = time.perf_counter()
        expected = naive_who_can(inventory, request)
        naive.append(time.perf_counter() - start)
        if sorted(map(key, expected), key=repr) != sorted(map(key, found), key=repr):
            mismatches.append(repr(request))
    out["naive"] = naive
    out["mismatches"] = mismatches
    try:
        module = importlib.import_module(paths_module) if paths_module else None
    except ImportError:
        module = None
    function = None
    for name in (sys.argv[7:] if module is not None else ()):
        function = getattr(module, name, None)
        if callable(function):
            out["paths_function"] = f"{paths_module}.{name}"
            break
    if function is not None:
        start = time.perf_counter()
        result = function(inventory)
        count = len(result) if hasattr(result, "__len__") else sum(1 for _ in result)
        out["paths"] = time.perf_counter() - start
        out["paths_count"] = count
        out["rss_paths"] = rss()
    # What `scan` and `rbac workloads` do with the RBAC views: every RBAC rule on the inventory
    # (escalation-path findings included), then the workloads whose ServiceAccount is risky.
    import datetime
    from kposture.engine.evaluating import evaluate
    from kposture.engine.registry import Registry
    from kposture.model.policies import RunPolicy
    from kposture.inventory.rbac_workloads import risky_workloads
    from kposture.rules.rbac import RULES as RBAC_RULES
    start = time.perf_counter()
    scanned = evaluate(inventory, Registry(RBAC_RULES), RunPolicy(), datetime.date.today())
    out["rbac_rules"] = time.perf_counter() - start
    out["rbac_findings"] = len(scanned.findings)
    out["rss_rules"] = rss()
    del scanned
    start = time.perf_counter()
    out["workloads_count"] = len(risky_workloads(inventory))
    out["workloads"] = time.perf_counter() - start
    out["rss_workloads"] = rss()
    # `rbac risky`: the views, the table (first rows per capability) and the streamed JSON, both
    # written to /dev/null (the table as piped, 160 columns).
    import os
    from kposture.cli.rbac_output import stream_json
    from kposture.cli.rbac_risky_commands import capability_views, render_table, risky_document
    from kposture.inventory.rbac_capabilities import CAPABILITIES
    start = time.perf_counter()
    views = capability_views(inventory, CAPABILITIES, "", False)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        render_table(views)
    out["risky_table"] = time.perf_counter() - start
    out["risky_holdings"] = sum(len(view.shown) for view in views)
    out["rss_risky_table"] = rss()
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        stream_json(risky_document(views, "", False), sink.write)
    out["risky_json"] = time.perf_counter() - start
    out["rss_risky_json"] = rss()
    del views
    out["rss_end"] = rss()
if profiler:
    profiler.dump_stats(profile)
print(json.dumps(out))
"""


def run(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"benchmark process failed ({done.returncode}):\n{done.stderr}")
    parsed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roles", type=int, default=5_000)
    parser.add_argument("--bindings", type=int, default=50_000)
    parser.add_argument("--namespaces", type=int, default=500)
    parser.add_argument("--workloads", type=int, default=3_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--naive", type=int, default=20, help="requests also answered naively")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the cluster here and keep it")
    parser.add_argument("--skip-paths", action="store_true", help="do not time escalation paths")
    parser.add_argument("--profile", type=Path, help="cProfile the build and queries into FILE")
    parser.add_argument(
        "--gc",
        choices=("paused", "enabled"),
        default="paused",
        help="the cyclic GC while loading and querying (paused: as `scan` runs)",
    )
    options = parser.parse_args()

    by_kind = generate(
        options.seed,
        roles=options.roles,
        bindings=options.bindings,
        namespaces=options.namespaces,
        workloads=options.workloads,
    )
    namespaces = [item["metadata"]["name"] for item in by_kind["Namespace"]]
    asked = requests(options.requests, options.seed, namespaces)
    with tempfile.TemporaryDirectory(prefix="kposture-rbac-bench-") as scratch:
        root = options.keep or Path(scratch) / "cluster"
        root.mkdir(parents=True, exist_ok=True)
        size = write_cluster(root, by_kind)
        request_file = Path(scratch) / "requests.json"
        request_file.write_text(json.dumps(asked))
        del by_kind
        parses, runs = [], []
        for attempt in range(options.repeat):
            parses.append(run([PARSE_CODE, str(root)]))
            profile = str(options.profile) if options.profile and attempt == 0 else ""
            runs.append(
                run(
                    [
                        RUN_CODE,
                        str(root),
                        str(request_file),
                        str(options.naive),
                        "" if options.skip_paths else PATHS_MODULE,
                        profile,
                        options.gc,
                        *PATHS_FUNCTIONS,
                    ]
                )
            )
            print(
                f"run {attempt + 1}/{options.repeat}: build {runs[-1]['build']:.2f} s",
                file=sys.stderr,
            )
    report(options, size, parses, runs)


def report(
    options: argparse.Namespace,
    size: int,
    parses: list[dict[str, Any]],
    runs: list[dict[str, Any]],
) -> None:
    def median(values: list[dict[str, Any]], field: str) -> float:
        return statistics.median(v[field] for v in values)

    first = runs[0]
    if first["errors"]:
        print("input errors:", first["errors"], file=sys.stderr)
    parse, load, build = median(parses, "parse"), median(runs, "load"), median(runs, "build")
    # Latencies: each request's median over the runs, then percentiles over the requests.
    per_request = [
        statistics.median(r["latencies"][i] for r in runs) for i in range(len(first["latencies"]))
    ]
    p50, p99, worst = (
        percentile(per_request, 0.5),
        percentile(per_request, 0.99),
        max(per_request),
    )
    naive = [statistics.median(r["naive"][i] for r in runs) for i in range(len(first["naive"]))]
    mismatches = sorted({m for r in runs for m in r["mismatches"]})
    rss = {
        field: max(r[field] for r in runs)
        for field in ("rss_load", "rss_build", "rss_query", "rss_end")
    }
    # Each later phase's peak; runs recorded before these existed report the end only.
    phase_rss = {
        field: f"{max(r[field] for r in runs):.0f}" if all(field in r for r in runs) else ""
        for field in ("rss_rules", "rss_workloads", "rss_risky_table", "rss_risky_json")
    }
    answers = first["answers"]
    goal = {
        "build": f"< {GOALS['build']:.0f} s",
        "p99": f"< {GOALS['who_can_p99_ms']:.0f} ms",
        "paths": f"< {GOALS['paths']:.0f} s",
        "rss": f"< {GOALS['rss_mb']:.0f} MB",
    }

    def row(*cells: str) -> None:
        print("| " + " | ".join(cells) + " |")

    print(
        f"\nRBAC benchmark: {first['objects']:,} objects ({first['roles']:,} roles, "
        f"{first['bindings']:,} bindings), {size / 1e6:.1f} MB of JSON, {len(per_request)} "
        f"requests, median of {len(runs)} runs, cyclic GC {options.gc}; {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    row("phase", "time", "vs load", "peak RSS MB", "goal")
    row("---", "---:", "---:", "---:", "---")
    row(
        "parse only (`json.loads`)",
        f"{parse:.2f} s",
        f"{parse / load:.2f}x",
        f"{median(parses, 'rss_parse'):.0f}",
        "",
    )
    row(
        "load (`load_manifests` + `Inventory`): baseline",
        f"{load:.2f} s",
        "1.00x",
        f"{rss['rss_load']:.0f}",
        "",
    )
    row(
        "graph build (`rbac_graph.build`)",
        f"{build:.2f} s",
        f"{build / load:.2f}x",
        f"{rss['rss_build']:.0f}",
        goal["build"],
    )
    row("who-can p50", f"{p50 * 1e3:.2f} ms", "", "", "")
    row("who-can p99", f"{p99 * 1e3:.2f} ms", "", f"{rss['rss_query']:.0f}", goal["p99"])
    row("who-can max", f"{worst * 1e3:.2f} ms", "", "", "")
    if naive:
        ratios = [n / s for n, s in zip(naive, per_request, strict=False)]
        row(
            f"naive who-can (every binding per request), median of {len(naive)}",
            f"{statistics.median(naive) * 1e3:.0f} ms",
            f"{statistics.median(ratios):.0f}x who-can",
            "",
            "",
        )
    if "paths" in first:
        paths = median(runs, "paths")
        what = f"all escalation paths (`{first['paths_function']}`: {first['paths_count']:,})"
        paths_rss = max(r["rss_paths"] for r in runs)
        row(what, f"{paths:.2f} s", f"{paths / load:.2f}x", f"{paths_rss:.0f}", goal["paths"])
    elif not options.skip_paths:
        row(
            "all escalation paths", f"not measured yet (no `{PATHS_MODULE}`)", "", "", goal["paths"]
        )
    rules, workloads = median(runs, "rbac_rules"), median(runs, "workloads")
    row(
        f"RBAC rules on every object (`evaluate`: {first['rbac_findings']:,} findings)",
        f"{rules:.2f} s",
        f"{rules / load:.2f}x",
        phase_rss["rss_rules"],
        "",
    )
    row(
        f"risky workloads (`risky_workloads`: {first['workloads_count']:,})",
        f"{workloads:.2f} s",
        f"{workloads / load:.2f}x",
        phase_rss["rss_workloads"],
        "",
    )
    table, document = median(runs, "risky_table"), median(runs, "risky_json")
    row(
        f"`rbac risky` table (views + first rows; {first['risky_holdings']:,} holdings)",
        f"{table:.2f} s",
        f"{table / load:.2f}x",
        phase_rss["rss_risky_table"],
        "",
    )
    row(
        "`rbac risky -o json` (streamed)",
        f"{document:.2f} s",
        f"{document / load:.2f}x",
        phase_rss["rss_risky_json"],
        "",
    )
    # The goal is the analyzer's (graph, who-can, paths); the phases after it run in the same
    # interpreter on top of it, each as its own command would, so the end figure adds them up.
    analyzer = max(r.get("rss_paths", r["rss_query"]) for r in runs)
    row(
        "analyzer peak (load, graph, who-can, all paths)",
        "",
        "",
        f"**{analyzer:.0f}**",
        goal["rss"],
    )
    row("whole process (every phase above, one interpreter)", "", "", f"{rss['rss_end']:.0f}", "")
    verdict = "all equal" if not mismatches else f"{len(mismatches)} DIFFER: {mismatches[:3]}"
    print(
        f"\nanswers per request: median {statistics.median(answers):.0f}, max {max(answers):,}; "
        f"naive cross-check on {len(naive)} requests: {verdict}"
    )
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
