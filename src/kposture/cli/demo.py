"""``kposture demo``: copy the bundled vulnerable shop next to the reports, scan it, write the reports.

The copy makes the report's file paths real, relative and clickable for whoever runs the demo.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from kposture.cli import output
from kposture.cli.consoles import report_console
from kposture.cli.scanning import scan_manifests

DEMO_PACKAGE = "kposture.demo"
REPORTS = (
    (output.Format.MARKDOWN, "demo-report.md"),
    (output.Format.JSON, "demo-report.json"),
    (output.Format.SARIF, "demo-report.sarif"),
)


def copy_demo_app(destination: Path) -> Path:
    """Copy the demo manifests into ``destination/demo-app`` (replacing an older copy)."""
    target = destination / "demo-app"
    if target.exists():
        shutil.rmtree(target)
    source = resources.files(DEMO_PACKAGE) / "app"
    with resources.as_file(source) as app_dir:
        shutil.copytree(app_dir, target)
    return target


def run_demo(out: Path) -> None:
    """Scan the demo app with its policy file, print the table, write markdown/JSON/SARIF reports."""
    out.mkdir(parents=True, exist_ok=True)
    app_dir = copy_demo_app(out)
    outcome = scan_manifests([app_dir.as_posix()], policy_path=app_dir / ".kposture.yaml")
    console = report_console()
    output.emit(outcome, output.Format.TABLE, None, fail_on=None, show_suppressed=True)
    for fmt, name in REPORTS:
        output.emit(outcome, fmt, out / name, fail_on=None, show_suppressed=False)
    console.print(
        f"\nScanned {app_dir} — reports written to "
        + ", ".join(str(out / name) for _, name in REPORTS),
        highlight=False,
    )
