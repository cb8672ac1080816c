"""``kposture rules export --format vap``: custom CEL rules and the exportable built-in rules as
Kubernetes ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding manifests, printed as a
YAML stream or a JSON ``List`` for ``kubectl apply -f -``.

Wiring only: rules come from ``cli.scanning.prepare_rules`` (``--rules`` and the policy file's
``customRules``), the translation from ``policy.vap_export``; warnings and errors go to stderr.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kposture.cli.consoles import error_console
from kposture.cli.scanning import EXIT_USAGE, UsageError, prepare_rules
from kposture.model import RunPolicy
from kposture.model.admission import FAILURE_POLICIES, AdmissionMode
from kposture.policy.builtin_cel import BUILTIN_CEL
from kposture.policy.vap_export import (
    ExportRule,
    ExportSettings,
    builtin_export_rule,
    custom_export_rule,
    export_rules,
)

EXIT_EXPORT_ERRORS = 1


class ExportFormat(enum.StrEnum):
    VAP = "vap"


class ExportOutput(enum.StrEnum):
    YAML = "yaml"
    JSON = "json"


class ExportMode(enum.StrEnum):
    DRY_RUN = "dry-run"
    WARN = "warn"
    ENFORCE = "enforce"


def _enabled(rule_id: str, policy: RunPolicy) -> bool:
    if any(fnmatchcase(rule_id, pattern) for pattern in policy.disabled):
        return False
    return not policy.enabled or any(fnmatchcase(rule_id, p) for p in policy.enabled)


def render_manifests(manifests: Sequence[Any], output: ExportOutput) -> str:
    """A YAML stream (one document per manifest) or a JSON ``v1 List``."""
    if output is ExportOutput.JSON:
        listing = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        return json.dumps(listing, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump_all(
        [dict(m) for m in manifests], sort_keys=False, allow_unicode=True, width=100
    )


def export_command(
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="Export format: vap (ValidatingAdmissionPolicy)."),
    ] = ExportFormat.VAP,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules", help="Custom rule file or directory of *.yaml rule files (repeatable)."
        ),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option("--builtin", help="Also export the built-in rules CEL can express exactly."),
    ] = False,
    mode: Annotated[
        ExportMode | None,
        typer.Option(
            "--mode",
            help="validationActions of the bindings: dry-run [Warn, Audit], warn [Warn], enforce "
            "[Deny]. Default: the policy file's admission modes, else dry-run.",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Policy file: enabled rules, customRules and admission modes per rule and "
            "namespace. Default: ./.kposture.yaml if present.",
        ),
    ] = None,
    failure_policy: Annotated[
        str | None,
        typer.Option(
            "--failure-policy",
            help="Fail or Ignore when an expression errors. Default: the policy file's, else Fail.",
        ),
    ] = None,
    output: Annotated[
        ExportOutput, typer.Option("-o", "--output", help="Output format.")
    ] = ExportOutput.YAML,
) -> None:
    """Export rules as ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding manifests, so the
    API server itself enforces them (Kubernetes 1.30+). Exit codes: 0 exported; 1 some rules could
    not be exported or a rule file does not load (the others are printed, the reasons go to
    stderr as file:line: message); 2 usage error or bad policy file."""
    del export_format  # one format today; the option keeps the command line stable
    console = error_console()
    if failure_policy is not None and failure_policy not in FAILURE_POLICIES:
        console.print(f"error: --failure-policy must be one of {', '.join(FAILURE_POLICIES)}")
        raise typer.Exit(EXIT_USAGE)
    try:
        setup = prepare_rules(policy, rules or ())
    except UsageError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    # A rule file that does not load costs only its own rules: the others are exported (exit 1).
    for problem in setup.rule_errors:
        console.print(
            f"error: {problem.file}:{problem.line}: {problem.message}",
            markup=False,
            highlight=False,
        )
    if not builtin and not setup.custom.specs:
        if setup.rule_errors:
            raise typer.Exit(EXIT_EXPORT_ERRORS)
        console.print("error: nothing to export: give --rules PATH and/or --builtin", markup=False)
        raise typer.Exit(EXIT_USAGE)
    selected: list[ExportRule] = []
    if builtin:
        for rule in setup.registry:
            entry = BUILTIN_CEL.get(rule.id)
            if entry is not None and _enabled(rule.id, setup.policy):
                selected.append(builtin_export_rule(rule.meta, entry))
    selected.extend(
        custom_export_rule(spec) for spec in setup.custom.specs if _enabled(spec.id, setup.policy)
    )
    admission = setup.policy_file.admission if setup.policy_file is not None else None
    if admission is not None and mode is not None:
        admission = dataclasses.replace(admission, mode=AdmissionMode(mode.value))
    settings = ExportSettings(
        mode=AdmissionMode(mode.value) if mode is not None else AdmissionMode.DRY_RUN,
        admission=admission,
        failure_policy=failure_policy
        or (admission.failure_policy if admission is not None else "Fail"),
    )
    result = export_rules(selected, settings)
    for warning in result.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False)
    for error in result.errors:
        console.print(f"error: {error}", markup=False, highlight=False)
    typer.echo(render_manifests(result.manifests, output), nl=False)
    if result.errors or setup.rule_errors:
        raise typer.Exit(EXIT_EXPORT_ERRORS)
