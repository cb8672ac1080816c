"""The scan benchmark: parse-only vs full scan vs checkov on the same 5,000 generated manifests.

Each phase runs in a fresh interpreter so its peak memory (max RSS) is its own. Prints a markdown table
with times, throughput, ratios against the parse-only baseline measured in the same run, and peak memory;
copy it into docs/performance.md. Usage: ``python bench/scan_benchmark.py [--count N] [--repeat R]
[--checkov PATH|none]``; checkov is looked up in ``~/.cache/kposture/checkov-venv`` unless given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CHECKOV = Path.home() / ".cache" / "kposture" / "checkov-venv" / "bin" / "checkov"

PHASE_CODE = r"""
import json, resource, sys, time
from pathlib import Path
phase, root = sys.argv[1], Path(sys.argv[2])
files = sorted(str(p) for p in root.glob("*.yaml"))
import yaml
from kposture.cli.scanning import cyclic_gc_paused, scan_manifests
from kposture.sources.manifests import load_manifests
findings = 0
start = time.perf_counter()
if phase == "parse":
    docs = 0
    for name in files:
        with open(name, "rb") as handle:
            docs += sum(1 for d in yaml.load_all(handle.read().decode(), Loader=yaml.CSafeLoader) if d)
elif phase == "load":
    with cyclic_gc_paused():
        docs = len(load_manifests([str(root)]).objects)
else:
    outcome = scan_manifests([str(root)])  # run from the scratch folder: default policy
    docs, findings = outcome.result.objects_scanned, len(outcome.result.findings)
    if phase == "scan+json":
        from kposture.cli.output import Format, render_text
        render_text(outcome, Format.JSON, None)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "docs": docs, "findings": findings,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_phase(phase: str, corpus: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PHASE_CODE, phase, str(corpus)],
        cwd=corpus.parent,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def best_of(phase: str, corpus: Path, repeat: int) -> dict[str, float]:
    runs = [run_phase(phase, corpus) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    best["max_rss_mb"] = max(r["max_rss_mb"] for r in runs)
    return best


CHECKOV_VERSION = "3.3.30"


def install_checkov(checkov: Path) -> None:
    """Create checkov's own virtual environment (kept apart from kposture's dependencies)."""
    venv = checkov.parent.parent
    print(f"installing checkov {CHECKOV_VERSION} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
        check=True,
    )


def run_checkov(checkov: Path, corpus: Path, objects: float) -> dict[str, float] | None:
    """Time checkov on the corpus; throughput is counted in the same objects kposture counts
    (checkov's own resource_count also counts some embedded objects separately)."""
    if not checkov.exists():
        return None
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
        "e = time.perf_counter() - t\n"
        "sys.stderr.write(f'{e} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}\\n')\n"
        "sys.stdout.buffer.write(p.stdout)\n"
    )
    cmd = [
        str(checkov),
        "-d",
        str(corpus),
        "--framework",
        "kubernetes",
        "-o",
        "json",
        "--quiet",
        "--skip-download",  # no network here: do not fetch guidelines from the vendor's API
    ]
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=False, check=False
    )
    seconds, rss = (float(x) for x in done.stderr.decode().strip().splitlines()[-1].split())
    report = json.loads(done.stdout or b"{}")
    reports = report if isinstance(report, list) else [report]
    failed = sum(r.get("summary", {}).get("failed", 0) for r in reports)
    return {"seconds": seconds, "docs": objects, "findings": failed, "max_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkov", default=str(DEFAULT_CHECKOV), help="checkov binary, or 'none'")
    parser.add_argument(
        "--install-checkov",
        action="store_true",
        help="install checkov into its default virtual environment first when it is missing",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from generate_corpus import generate

    work = Path(tempfile.mkdtemp(prefix="kposture-bench-"))
    try:
        corpus = work / "corpus"
        generate(corpus, args.count)
        rows = {
            "parse only (CSafeLoader)": best_of("parse", corpus, args.repeat),
            "load (kposture sources)": best_of("load", corpus, args.repeat),
            "full scan (load + every rule)": best_of("scan", corpus, args.repeat),
            "full scan + JSON report": best_of("scan+json", corpus, args.repeat),
        }
        if args.checkov != "none" and args.install_checkov and not Path(args.checkov).exists():
            install_checkov(Path(args.checkov))
        if args.checkov != "none":
            objects = rows["full scan (load + every rule)"]["docs"]
            checkov = run_checkov(Path(args.checkov), corpus, objects)
            if checkov is not None:
                rows[f"checkov {CHECKOV_VERSION} (kubernetes framework)"] = checkov
        baseline = rows["parse only (CSafeLoader)"]["seconds"]
        scan = rows["full scan (load + every rule)"]
        print(
            f"{args.count} manifests, Python {platform.python_version()}, {os.cpu_count()} cores\n"
        )
        print("| phase | seconds | objects/s | vs parse-only | peak RSS MB | findings |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, row in rows.items():
            rate = row["docs"] / row["seconds"] if row["seconds"] else 0.0
            print(
                f"| {name} | {row['seconds']:.2f} | {rate:,.0f} | {row['seconds'] / baseline:.2f}x "
                f"| {row['max_rss_mb']:.0f} | {int(row['findings'])} |"
            )
        peer = f"checkov {CHECKOV_VERSION} (kubernetes framework)"
        if peer in rows:
            ck = rows[peer]
            speedup = (scan["docs"] / scan["seconds"]) / (ck["docs"] / ck["seconds"])
            print(f"\nkposture full scan throughput = {speedup:.0f}x checkov's")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
