"""Renders rule metadata for people: the ``docs/rules.md`` catalogue and the ``rules list`` JSON.

Pure functions over ``RuleMeta`` values; the registry order is kept so the document reads like the
catalogue.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from kposture.model import RuleMeta

_HEADER = """# kposture rule catalogue

Generated from the rule registry by `kposture rules docs` (`make docs`); do not edit by hand — a test fails
when this file is stale. Severity and stage are defaults: override severities and disable rules in the
policy file (see [policy.md](policy.md)).
"""


def references_text(meta: RuleMeta) -> str:
    return ", ".join(ref.display() for ref in meta.references) or "—"


def rule_to_dict(meta: RuleMeta) -> dict[str, Any]:
    """The stable JSON shape of one rule's metadata."""
    return {
        "id": meta.id,
        "title": meta.title,
        "severity": meta.severity.value,
        "domain": meta.domain.value,
        "stage": meta.stage.value,
        "kinds": list(meta.kinds),
        "description": meta.description,
        "remediation": meta.remediation,
        "fix_snippet": meta.fix_snippet,
        "references": [
            {
                "framework": ref.framework.value,
                "id": ref.id,
                **({"title": ref.title} if ref.title else {}),
            }
            for ref in meta.references
        ],
    }


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_EXPORTABLE_NOTE = """
The **VAP** column marks the rules `kposture rules export --format vap --builtin` exports as
Kubernetes ValidatingAdmissionPolicies, with CEL that gives the same verdicts (see
[custom-rules.md](custom-rules.md#export-to-validatingadmissionpolicy)); the others need more than
the object under review (the inventory, cluster facts, the policy file) or more than CEL can say.
"""


def render_rule_docs(rules: Sequence[RuleMeta], exportable: Collection[str] = ()) -> str:
    """The whole markdown catalogue: an index table, then one section per rule. ``exportable``
    names the rules the ValidatingAdmissionPolicy export covers (the policy layer knows which;
    reports may not import it), marked in a column and in each rule's section."""
    lines = [_HEADER + (_EXPORTABLE_NOTE if exportable else "")]
    domains = list(dict.fromkeys(meta.domain for meta in rules))
    for domain in domains:
        lines.append(f"## {domain.value}\n")
        if exportable:
            lines.append("| id | severity | stage | title | references | VAP |")
            lines.append("|---|---|---|---|---|---|")
        else:
            lines.append("| id | severity | stage | title | references |")
            lines.append("|---|---|---|---|---|")
        for meta in rules:
            if meta.domain is domain:
                vap = (" yes |" if meta.id in exportable else " — |") if exportable else ""
                lines.append(
                    f"| [`{meta.id}`](#{meta.id}) | {meta.severity.value} | {meta.stage.value} "
                    f"| {_escape(meta.title)} | {_escape(references_text(meta))} |{vap}"
                )
        lines.append("")
    lines.append("## Rules in detail\n")
    for meta in rules:
        lines.extend(_rule_section(meta, meta.id in exportable))
    return "\n".join(lines).rstrip() + "\n"


def _rule_section(meta: RuleMeta, exportable: bool = False) -> list[str]:
    kinds = ", ".join(meta.kinds)
    section = [
        f"### {meta.id}\n",
        f"**{meta.title}** — severity `{meta.severity.value}`, stage `{meta.stage.value}`, "
        f"domain `{meta.domain.value}`.\n",
        f"{meta.description}\n",
        f"Applies to: {kinds}.\n",
        f"References: {references_text(meta)}.\n",
        f"Remediation: {meta.remediation}\n",
    ]
    if exportable:
        section.insert(-1, "Exportable as a ValidatingAdmissionPolicy (`kposture rules export`).\n")
    if meta.fix_snippet:
        section.extend(["```yaml", meta.fix_snippet.rstrip(), "```", ""])
    return section


def severity_order(meta: RuleMeta) -> tuple[int, str]:
    """Sort key: most severe first, then id."""
    return (-meta.severity.rank, meta.id)


__all__ = [
    "references_text",
    "render_rule_docs",
    "rule_to_dict",
    "severity_order",
]
