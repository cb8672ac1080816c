"""``kposture rules test DIR``: run custom rules on the fixtures of every test file under a
directory (``policy.rule_testing``) and print a pass/fail table per test and a summary.

Argument parsing and rendering only; exit codes 0 all passed, 1 an outcome differs, 2 broken.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kposture.cli.consoles import error_console, report_console
from kposture.cli.scanning import EXIT_USAGE
from kposture.policy.rule_testing import TestOutcome, TestRun, run_tests


class ListFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


_STATUS_STYLES = {"passed": "green", "failed": "red", "broken": "bold red"}


def test_rules_command(
    directory: Annotated[
        Path,
        typer.Argument(help="Directory searched recursively for kposture-test.yaml files."),
    ],
    output_format: Annotated[
        ListFormat, typer.Option("-o", "--output", help="Output format.")
    ] = ListFormat.TABLE,
) -> None:
    """Run custom rules on the fixtures of every kposture-test.yaml under DIRECTORY and compare
    each rule's outcome per resource (pass, fail, error, skip) with the expected one.

    Exit codes: 0 every test passed; 1 an outcome differs; 2 a test file, rule or fixture is
    broken, or no test file was found.
    """
    if not directory.exists():
        error_console().print(f"error: {directory} does not exist", markup=False)
        raise typer.Exit(EXIT_USAGE)
    run = run_tests(directory, dt.datetime.now(dt.UTC).date())
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(_test_run_to_dict(run), indent=2))
        raise typer.Exit(run.exit_code)
    console = report_console()
    style_box = box.SIMPLE_HEAD if console.is_terminal else box.ASCII2
    for outcome in run.outcomes:
        _print_outcome(outcome, console, style_box)
    if not run.outcomes:
        error_console().print(f"error: no kposture-test.yaml under {directory}", markup=False)
    counts = dict.fromkeys(_STATUS_STYLES, 0)
    for outcome in run.outcomes:
        counts[outcome.status] += 1
    cases = [case for outcome in run.outcomes for case in outcome.cases]
    console.print(
        f"{len(run.outcomes)} test files: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['broken']} broken; {sum(c.ok for c in cases)} of {len(cases)} results as "
        "expected",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(run.exit_code)


def _print_outcome(outcome: TestOutcome, console: Console, style_box: box.Box) -> None:
    style = _STATUS_STYLES[outcome.status]
    console.print(
        f"[{style}]{outcome.status.upper()}[/] {escape(outcome.name)} ({escape(outcome.file)})",
        highlight=False,
    )
    for problem in outcome.problems:
        console.print(f"  error: {escape(problem)}", highlight=False)
    if not outcome.cases:
        return
    table = Table(box=style_box, show_edge=False)
    for column in ("rule", "resource", "expected", "actual", ""):
        table.add_column(column)
    table.add_column("detail", overflow="fold")
    for case in outcome.cases:
        mark = "[green]ok[/]" if case.ok else "[red]FAIL[/]"
        table.add_row(
            escape(case.rule),
            escape(case.resource),
            case.expected,
            case.actual,
            mark,
            escape(case.detail),
        )
    console.print(table)


def _test_run_to_dict(run: TestRun) -> dict[str, object]:
    return {
        "schema": "kposture.rules-test/v1",
        "exit_code": run.exit_code,
        "tests": [
            {
                "file": outcome.file,
                "name": outcome.name,
                "status": outcome.status,
                "problems": list(outcome.problems),
                "results": [
                    {
                        "rule": case.rule,
                        "resource": case.resource,
                        "expected": case.expected,
                        "actual": case.actual,
                        "ok": case.ok,
                        "detail": case.detail,
                    }
                    for case in outcome.cases
                ],
            }
            for outcome in run.outcomes
        ],
    }
