"""``kposture rules``: list the built-in rules, show one in full, and generate docs/rules.md."""

from __future__ import annotations

import difflib
import enum
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from kposture.cli.scanning import EXIT_USAGE, default_registry
from kposture.model import Domain, RuleMeta
from kposture.reports.rule_catalogue import references_text, render_rule_docs, rule_to_dict

rules_app = typer.Typer(
    help="Inspect the rule library.", no_args_is_help=True, rich_markup_mode=None
)

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


@rules_app.command("list")
def list_rules(
    output_format: Annotated[
        ListFormat, typer.Option("-o", "--output", help="Output format.")
    ] = ListFormat.TABLE,
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Only rules of this domain, e.g. workload-privileges."),
    ] = None,
) -> None:
    """List every built-in rule with its severity, stage and references."""
    metas = _metas()
    if domain is not None:
        known = {d.value for d in Domain}
        if domain not in known:
            Console(stderr=True).print(
                f"error: unknown domain {domain!r}; one of: {', '.join(sorted(known))}",
                markup=False,
            )
            raise typer.Exit(EXIT_USAGE)
        metas = [meta for meta in metas if meta.domain.value == domain]
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps([rule_to_dict(meta) for meta in metas], indent=2))
        return
    table = Table(title=f"{len(metas)} rules", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("severity")
    table.add_column("stage")
    table.add_column("title")
    table.add_column("references")
    for meta in metas:
        style = SEVERITY_STYLES[meta.severity.value]
        table.add_row(
            meta.id,
            f"[{style}]{meta.severity.value}[/]",
            meta.stage.value,
            escape(meta.title),
            escape(references_text(meta)),
        )
    Console().print(table)


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
        Console(stderr=True).print(f"error: unknown rule {rule_id!r}.{hint}", markup=False)
        raise typer.Exit(EXIT_USAGE)
    meta = rule.meta
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(rule_to_dict(meta), indent=2))
        return
    console = Console()
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
    typer.echo(render_rule_docs(_metas()), nl=False)
