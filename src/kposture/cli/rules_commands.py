"""``kposture rules``: list the built-in rules (or a framework's controls with the rules covering
them), show one in full, and generate docs/rules.md."""

from __future__ import annotations

import difflib
import enum
import json
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from kposture.cli.consoles import error_console, report_console
from kposture.cli.output import FrameworkChoice
from kposture.cli.rules_export_commands import export_command
from kposture.cli.scanning import EXIT_USAGE, default_registry
from kposture.model import Domain, RuleMeta
from kposture.policy.builtin_cel import EXPORTABLE_RULE_IDS
from kposture.reports.frameworks import CATALOGUES, coverage, coverage_percent, coverage_to_dict
from kposture.reports.rule_catalogue import references_text, render_rule_docs, rule_to_dict

rules_app = typer.Typer(
    help="Inspect the rule library.", no_args_is_help=True, rich_markup_mode=None
)

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
) -> None:
    """List every built-in rule with its severity, stage and references (or, with --framework, every
    control of a framework with the rules covering it and the coverage percentage)."""
    metas = _metas()
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
        return
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps([rule_to_dict(meta) for meta in metas], indent=2))
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


@rules_app.command("show")
def show_rule(
    rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. privileged-container.")],
    output_format: Annotated[
        ListFormat, typer.Option("-o", "--output", help="Output format.")
    ] = ListFormat.TABLE,
) -> None:
    """Show one rule: metadata, why it matters, references and the fix."""
    registry = default_registry()
    rule = registry.get(rule_id)
    if rule is None:
        close = difflib.get_close_matches(rule_id, registry.ids, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See `kposture rules list`."
        error_console().print(f"error: unknown rule {rule_id!r}.{hint}", markup=False)
        raise typer.Exit(EXIT_USAGE)
    meta = rule.meta
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(rule_to_dict(meta), indent=2))
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


@rules_app.command("docs")
def rules_docs() -> None:
    """Print the markdown rule catalogue (the source of docs/rules.md)."""
    typer.echo(render_rule_docs(_metas(), EXPORTABLE_RULE_IDS), nl=False)


rules_app.command("export")(export_command)
