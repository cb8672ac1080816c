"""``kposture rules``: list the rules — built-in, plus custom ones from ``--rules`` and the policy
file's ``customRules`` — (or a framework's controls with the rules covering them), show one in
full, and generate docs/rules.md. ``rules list --rules DIR`` doubles as a load check: every rule
that does not load is printed as ``file:line: message`` and the exit code is 2."""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from kposture.cli.consoles import error_console, report_console
from kposture.cli.output import FrameworkChoice
from kposture.cli.rules_export_commands import export_command
from kposture.cli.scanning import EXIT_USAGE, RuleSetup, UsageError, default_registry, prepare_rules
from kposture.engine import Registry
from kposture.model import Domain, RuleMeta
from kposture.policy.builtin_cel import EXPORTABLE_RULE_IDS
from kposture.policy.rule_specs import RuleSpec
from kposture.reports.frameworks import CATALOGUES, coverage, coverage_percent, coverage_to_dict
from kposture.reports.rule_catalogue import references_text, render_rule_docs, rule_to_dict

rules_app = typer.Typer(
    help="List, show, test and export rules: the built-in library and custom rules "
    "(--rules PATH, the policy file's customRules); docs prints docs/rules.md.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RulesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--rules",
        help="Custom rule file or directory of *.yaml rule files (repeatable); every rule that "
        "does not load is printed as file:line: message and the exit code is 2.",
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy file whose customRules are loaded too. Default: ./.kposture.yaml if "
        "present, when --rules is given.",
    ),
]

WIDE_TERMINAL = 140

SEVERITY_STYLES = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


class ListFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def _metas() -> list[RuleMeta]:
    return [rule.meta for rule in default_registry()]


def _load(rules: Sequence[str], policy: Path | None) -> tuple[Registry, RuleSetup | None]:
    """Built-in rules alone, or (with ``--rules``/``--policy``) built-in plus custom rules, with
    every load problem printed to stderr as ``file:line: message``."""
    if not rules and policy is None:
        return default_registry(), None
    try:
        setup = prepare_rules(policy, rules)
    except UsageError as exc:
        error_console().print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    for note in setup.custom.warnings:
        error_console().print(f"warning: {note}", markup=False, highlight=False)
    for problem in setup.rule_errors:
        error_console().print(
            f"error: {problem.file}:{problem.line}: {problem.message}",
            markup=False,
            highlight=False,
        )
    return setup.registry, setup


def _exit_if_broken(setup: RuleSetup | None) -> None:
    if setup is not None and setup.rule_errors:
        raise typer.Exit(EXIT_USAGE)


def _spec_of(setup: RuleSetup | None, rule_id: str) -> RuleSpec | None:
    if setup is None:
        return None
    return next((spec for spec in setup.custom.specs if spec.id == rule_id), None)


def _list_coverage(metas: list[RuleMeta], key: str, output_format: ListFormat) -> None:
    catalogue = CATALOGUES[key]
    rows = coverage(catalogue, metas)
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(coverage_to_dict(catalogue, rows), indent=2, ensure_ascii=False))
        return
    listed = [row for row in rows if row.control.in_catalogue]
    covered = sum(1 for row in listed if row.covered)
    console = report_console()
    table = Table(
        title=f"{catalogue.name} {catalogue.version}: {covered} of {len(listed)} controls "
        f"covered ({coverage_percent(rows)}%)",
        title_justify="left",
        expand=True,
        box=box.SIMPLE_HEAD if console.is_terminal else box.ASCII2,
    )
    table.add_column("control", overflow="fold", ratio=1)
    table.add_column("title", overflow="fold", ratio=2)
    table.add_column("rules", overflow="fold", ratio=2)
    for row in rows:
        title = escape(row.control.title) + ("" if row.control.in_catalogue else " *")
        rules = escape("\n".join(row.rules)) if row.rules else "[dim]not covered[/dim]"
        table.add_row(escape(row.control.id), title, rules)
    console.print(table)
    if len(listed) < len(rows):
        console.print("* cited by a rule but not in the catalogue", style="dim")


@rules_app.command("list")
def list_rules(
    output_format: Annotated[
        ListFormat, typer.Option("-o", "--output", help="Output format.")
    ] = ListFormat.TABLE,
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Only rules of this domain, e.g. workload-privileges."),
    ] = None,
    framework: Annotated[
        FrameworkChoice | None,
        typer.Option(
            "--framework",
            help="List this framework's controls instead, with the rules covering each one.",
        ),
    ] = None,
    rules: RulesOption = None,
    policy: PolicyOption = None,
) -> None:
    """List every rule — built-in, plus custom rules from --rules and the policy file's
    customRules — with its severity, stage and references (or, with --framework, every control of
    a framework with the rules covering it and the coverage percentage).

    Exit codes: 0 listed; 2 usage error, or a custom rule does not load (each problem is printed
    to stderr as file:line: message; the rules that load are still listed)."""
    registry, setup = _load(rules or (), policy)
    metas = [rule.meta for rule in registry]
    if domain is not None:
        known = {d.value for d in Domain}
        if domain not in known:
            error_console().print(
                f"error: unknown domain {domain!r}; one of: {', '.join(sorted(known))}",
                markup=False,
            )
            raise typer.Exit(EXIT_USAGE)
        metas = [meta for meta in metas if meta.domain.value == domain]
    if framework is not None:
        _list_coverage(metas, framework.value, output_format)
        _exit_if_broken(setup)
        return
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps([rule_to_dict(meta) for meta in metas], indent=2))
        _exit_if_broken(setup)
        return
    console = report_console()
    # References need room; on a narrow terminal they are left to `rules show` and `-o json`.
    wide = console.width >= WIDE_TERMINAL
    title = f"{len(metas)} rules" + ("" if wide else " (references: widen the terminal or -o json)")
    style_box = box.SIMPLE_HEAD if console.is_terminal else box.ASCII2
    table = Table(title=title, title_justify="left", box=style_box)
    table.add_column("id", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("title", ratio=2)
    if wide:
        table.add_column("references", ratio=3)
    for meta in metas:
        style = SEVERITY_STYLES[meta.severity.value]
        cells = [
            meta.id,
            f"[{style}]{meta.severity.value}[/]",
            meta.stage.value,
            escape(meta.title),
        ]
        if wide:
            cells.append(escape(references_text(meta)))
        table.add_row(*cells)
    console.print(table)
    _exit_if_broken(setup)


@rules_app.command("show")
def show_rule(
    rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. privileged-container.")],
    output_format: Annotated[
        ListFormat, typer.Option("-o", "--output", help="Output format.")
    ] = ListFormat.TABLE,
    rules: RulesOption = None,
    policy: PolicyOption = None,
) -> None:
    """Show one rule — built-in, or custom from --rules and the policy file's customRules:
    metadata, why it matters, references and the fix (for a custom rule, where it is defined and
    its expressions).

    Exit codes: 0 shown; 2 unknown rule, usage error, or a custom rule does not load."""
    registry, setup = _load(rules or (), policy)
    rule = registry.get(rule_id)
    if rule is None:
        close = difflib.get_close_matches(rule_id, registry.ids, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See `kposture rules list`."
        error_console().print(f"error: unknown rule {rule_id!r}.{hint}", markup=False)
        raise typer.Exit(EXIT_USAGE)
    meta = rule.meta
    spec = _spec_of(setup, rule_id)
    if output_format is ListFormat.JSON:
        shown = rule_to_dict(meta)
        if spec is not None:
            shown["source"] = {"file": spec.file, "line": spec.line}
            shown["validations"] = [
                {"expression": v.expression, "line": v.line, "message": v.message}
                for v in spec.validations
            ]
        typer.echo(json.dumps(shown, indent=2))
        _exit_if_broken(setup)
        return
    console = report_console()
    style = SEVERITY_STYLES[meta.severity.value]
    console.print(f"[bold]{escape(meta.id)}[/bold] — {escape(meta.title)}")
    console.print(
        f"severity [{style}]{meta.severity.value}[/]  stage {meta.stage.value}  "
        f"domain {meta.domain.value}"
    )
    console.print(f"applies to: {', '.join(meta.kinds)}", highlight=False)
    console.print()
    console.print(escape(meta.description))
    console.print()
    console.print("[bold]References[/bold]")
    for ref in meta.references:
        title = f" — {ref.title}" if ref.title else ""
        console.print(f"  {ref.framework.value} {escape(ref.id)}{escape(title)}", highlight=False)
    console.print()
    console.print("[bold]Remediation[/bold]")
    console.print(escape(meta.remediation))
    if meta.fix_snippet:
        console.print(Syntax(meta.fix_snippet.rstrip(), "yaml", background_color="default"))
    if spec is not None:
        console.print()
        console.print(f"[bold]Defined at[/bold] {escape(spec.file)}:{spec.line}", highlight=False)
        for validation in spec.validations:
            console.print(
                f"  line {validation.line}: {validation.expression}",
                markup=False,
                highlight=False,
            )
    _exit_if_broken(setup)


@rules_app.command("docs")
def rules_docs() -> None:
    """Print the markdown rule catalogue (the source of docs/rules.md)."""
    typer.echo(render_rule_docs(_metas(), EXPORTABLE_RULE_IDS), nl=False)


rules_app.command("export")(export_command)
