"""Framework views: each framework's control catalogue, which rules cover each control, and how a scan
fares per control.

Owns the ``Catalogue`` values (built from the data in ``framework_catalogues``), ``coverage`` (every
control with the rules whose ``references`` cite it) and ``framework_view`` (pass / fail / not
assessed / not covered per control for one scan), plus their JSON shapes. A control whose covering
rules' only active findings say they could not observe what they judge (``NOT_OBSERVABLE``) is not
assessed, never failed; a finding whose ``controls`` evidence names some of its rule's controls
(``model.controls_evidence``) counts only for those. Everything is derived
from rule metadata: a rule covers a control when one of its references names it, so new rules show
up without any change here. Pod Security Standards are the one exception: rules cite PSS only by
level, so its catalogue maps controls to rule ids.

Reference ids are matched leniently: case and spacing are ignored, aliases are accepted, ranges
(``1.2.6-1.2.8``, ``1.2.6-8``), lists (``1.2.27/1.2.28``) and wildcards (``1.2.x``, ``1.1.*``) expand to
the catalogue controls they name. A control with children (an ATT&CK technique and its
sub-techniques, an NSA-CISA section and its subsections) is covered by the rules of its children
too; a rule citing a parent does not cover the children. A reference that matches no control is
kept as an extra control marked ``in_catalogue=False``, so no reference is silently dropped.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kposture.model import (
    NOT_OBSERVABLE,
    Finding,
    Framework,
    Reference,
    RuleMeta,
    ScanResult,
)
from kposture.reports import framework_catalogues as data
from kposture.reports.assessment import RuleRun, bears_on, run_of
from kposture.reports.grouping import sort_findings


@dataclass(frozen=True, slots=True)
class Control:
    """One control of a framework. ``rules`` lists rule ids mapped explicitly (PSS only)."""

    id: str
    title: str
    group: str = ""
    parent: str = ""
    rules: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    in_catalogue: bool = True


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A framework's controls. ``levels`` (PSS only) are the reference ids that mean "this level"."""

    key: str
    framework: Framework
    name: str
    version: str
    information_uri: str
    controls: tuple[Control, ...]
    levels: tuple[str, ...] = ()


def _sections(sections: Sequence[data.Section], *, parents: bool = False) -> tuple[Control, ...]:
    controls: list[Control] = []
    for heading, entries in sections:
        known = {control_id for control_id, _ in entries}
        for control_id, title in entries:
            parent = control_id.split(".", 1)[0] if parents and "." in control_id else ""
            controls.append(Control(control_id, title, heading, parent if parent in known else ""))
    return tuple(controls)


def _nsa() -> tuple[Control, ...]:
    controls: list[Control] = []
    for section_id, title, subsections in data.NSA_SECTIONS:
        controls.append(
            Control(section_id, title, title, aliases=data.NSA_ALIASES.get(section_id, ()))
        )
        for sub_id, sub_title in subsections:
            aliases = data.NSA_ALIASES.get(sub_id, ())
            controls.append(Control(sub_id, sub_title, title, section_id, aliases=aliases))
    return tuple(controls)


def _pss(restricted: bool) -> tuple[Control, ...]:
    levels = [("Baseline", data.PSS_BASELINE)]
    if restricted:
        levels.append(("Restricted", data.PSS_RESTRICTED))
    return tuple(
        Control(control_id, title, group, rules=rule_ids)
        for group, entries in levels
        for control_id, title, rule_ids in entries
    )


_PSS_URI = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

CATALOGUES: Mapping[str, Catalogue] = {
    "cis": Catalogue(
        "cis",
        Framework.CIS,
        "CIS Kubernetes Benchmark",
        "1.9",
        "https://www.cisecurity.org/benchmark/kubernetes",
        _sections(data.CIS_SECTIONS),
    ),
    "nsa": Catalogue(
        "nsa",
        Framework.NSA_CISA,
        "NSA-CISA Kubernetes Hardening Guidance",
        "1.2",
        "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        _nsa(),
    ),
    "pss-baseline": Catalogue(
        "pss-baseline",
        Framework.PSS,
        "Pod Security Standards (baseline)",
        "v1",
        _PSS_URI,
        _pss(restricted=False),
        levels=("baseline",),
    ),
    "pss-restricted": Catalogue(
        "pss-restricted",
        Framework.PSS,
        "Pod Security Standards (restricted)",
        "v1",
        _PSS_URI,
        _pss(restricted=True),
        levels=("baseline", "restricted"),
    ),
    "owasp": Catalogue(
        "owasp",
        Framework.OWASP,
        "OWASP Kubernetes Top 10",
        "2022",
        "https://owasp.org/www-project-kubernetes-top-ten/",
        tuple(Control(cid, title, "Top 10") for cid, title in data.OWASP_CONTROLS),
    ),
    "mitre": Catalogue(
        "mitre",
        Framework.MITRE,
        "MITRE ATT&CK for Containers",
        "16",
        "https://attack.mitre.org/matrices/enterprise/containers/",
        _sections(data.MITRE_SECTIONS, parents=True),
    ),
}
"""Every catalogue by its ``--framework`` name."""

FRAMEWORK_KEYS: tuple[str, ...] = tuple(CATALOGUES)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


_RANGE = re.compile(r"^(?P<prefix>(?:\d+\.)*)(?P<start>\d+)\s*-\s*(?P<end>(?:\d+\.)*\d+)$")


def expand_reference_id(ref_id: str, known: Sequence[str]) -> tuple[str, ...]:
    """The control ids a reference id names: itself, or its list / range / wildcard expanded over
    ``known`` (the catalogue's ids, in order). Unknown single ids are returned as they are."""
    parts = [part.strip() for part in re.split(r"[/,]", ref_id) if part.strip()]
    if len(parts) > 1:
        return tuple(dict.fromkeys(x for part in parts for x in expand_reference_id(part, known)))
    text = ref_id.strip()
    if text.endswith((".x", ".X", ".*")):
        prefix = text[:-1]
        matches = tuple(k for k in known if k.startswith(prefix))
        return matches or (text,)
    match = _RANGE.match(text)
    if match:
        prefix, start = match["prefix"], int(match["start"])
        end_text = match["end"]
        if "." in end_text:
            if not end_text.startswith(prefix):
                return (text,)
            end_text = end_text[len(prefix) :]
        if end_text.isdigit() and int(end_text) >= start:
            return tuple(f"{prefix}{n}" for n in range(start, int(end_text) + 1))
    return (text,)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """A control and the rules covering it (its own and its children's), sorted by id."""

    control: Control
    rules: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return bool(self.rules)


def _extra(catalogue: Catalogue, ref: Reference, control_id: str, known: set[str]) -> Control:
    parent = ""
    if catalogue.framework is Framework.MITRE and "." in control_id:
        parent = control_id.split(".", 1)[0] if control_id.split(".", 1)[0] in known else ""
    title = ref.title or "(cited by kposture rules; not in the catalogue)"
    return Control(control_id, title, "Not in the catalogue", parent, in_catalogue=False)


def _direct_rules(
    catalogue: Catalogue, rules: Sequence[RuleMeta]
) -> tuple[list[Control], dict[str, set[str]]]:
    """Catalogue controls plus extras, and the rule ids citing each control directly."""
    controls = list(catalogue.controls)
    ids = [c.id for c in controls]
    lookup: dict[str, str] = {}
    for control in controls:
        for name in (control.id, *control.aliases):
            lookup.setdefault(_norm(name), control.id)
    direct: dict[str, set[str]] = {c.id: set(c.rules) for c in controls}
    levels = {_norm(level) for level in catalogue.levels}
    level_rules: set[str] = set()
    mapped = {rule_id for c in controls for rule_id in c.rules}
    for meta in rules:
        for ref in meta.references:
            if ref.framework is not catalogue.framework:
                continue
            if _norm(ref.id) in levels:
                level_rules.add(meta.id)
                continue
            if catalogue.levels and _norm(ref.id) in {"baseline", "restricted", "privileged"}:
                continue  # another PSS level than this view's
            for control_id in expand_reference_id(ref.id, ids):
                target = lookup.get(_norm(control_id))
                if target is None:
                    extra = _extra(catalogue, ref, control_id, set(ids))
                    controls.append(extra)
                    ids.append(extra.id)
                    target = lookup[_norm(extra.id)] = extra.id
                    direct[target] = set()
                direct[target].add(meta.id)
    unmapped = level_rules - mapped
    if unmapped:
        other = Control(
            "other", "Other checks citing this level", "Not in the catalogue", in_catalogue=False
        )
        controls.append(other)
        direct[other.id] = unmapped
    present = _ids(rules)
    if catalogue.levels:  # explicit PSS mappings count only for rules that exist
        direct = {cid: {r for r in rule_ids if r in present} for cid, rule_ids in direct.items()}
    return controls, direct


def _ids(rules: Iterable[RuleMeta]) -> set[str]:
    return {meta.id for meta in rules}


def coverage(catalogue: Catalogue, rules: Iterable[RuleMeta]) -> tuple[CoverageRow, ...]:
    """Every control (catalogue order, extras last) with the rules covering it."""
    metas = tuple(rules)
    controls, direct = _direct_rules(catalogue, metas)
    children: dict[str, list[str]] = {}
    for control in controls:
        if control.parent:
            children.setdefault(control.parent, []).append(control.id)

    def covering(control_id: str) -> set[str]:
        found = set(direct.get(control_id, ()))
        for child in children.get(control_id, ()):
            found |= covering(child)
        return found

    return tuple(CoverageRow(c, tuple(sorted(covering(c.id)))) for c in controls)


def coverage_percent(rows: Iterable[CoverageRow]) -> float:
    """Covered catalogue controls over all catalogue controls, in percent (one decimal)."""
    listed = [row for row in rows if row.control.in_catalogue]
    if not listed:
        return 0.0
    return round(100 * sum(1 for row in listed if row.covered) / len(listed), 1)


class ControlStatus(enum.StrEnum):
    FAIL = "fail"
    """At least one active finding of a covering rule (not a "not observable" one)."""
    PASS = "pass"
    """A covering rule ran and no covering rule has an active finding."""
    NOT_ASSESSED = "not-assessed"
    """Rules cover the control but none of them ran on anything in this scan, or the only active
    findings say a covering rule could not observe what it judges (``NOT_OBSERVABLE``)."""
    NOT_COVERED = "not-covered"
    """No kposture rule covers the control."""


@dataclass(frozen=True, slots=True)
class ControlResult:
    """One control in one scan: status, covering rules, their active findings (report order), the
    number of suppressed ones, and the covering rules that did not run."""

    control: Control
    status: ControlStatus
    rules: tuple[str, ...]
    findings: tuple[Finding, ...]
    suppressed: int = 0
    not_run: tuple[str, ...] = ()
    not_observed: tuple[str, ...] = ()
    """Covering rules whose active findings on this control only say they could not observe."""
    counted: frozenset[str] | None = None
    """Fingerprints of every finding (suppressed ones included) that bears on the control; None
    when every finding of the covering rules does."""


@dataclass(frozen=True, slots=True)
class FrameworkView:
    catalogue: Catalogue
    controls: tuple[ControlResult, ...]
    coverage_percent: float = 0.0
    counts: dict[ControlStatus, int] = field(default_factory=dict)


def _finding_meta(finding: Finding) -> RuleMeta:
    return RuleMeta(
        id=finding.rule_id,
        title=finding.title,
        severity=finding.severity,
        domain=finding.domain,
        stage=finding.stage,
        kinds=(),
        remediation=finding.remediation,
        description=finding.title,
        references=finding.references,
    )


def rules_with_findings(
    rules: Mapping[str, RuleMeta], findings: Iterable[Finding]
) -> dict[str, RuleMeta]:
    """``rules`` plus metadata for any rule seen only in findings (custom rules, older runs)."""
    merged = dict(rules)
    for finding in findings:
        if finding.rule_id not in merged:
            merged[finding.rule_id] = _finding_meta(finding)
    return merged


def framework_view(
    catalogue: Catalogue,
    result: ScanResult,
    rules: Mapping[str, RuleMeta],
    runs: Mapping[str, RuleRun] | None = None,
) -> FrameworkView:
    """Each control's status in ``result``. ``runs`` (see ``assessment.rule_runs``) says which rules
    ran; without it every rule counts as having run."""
    metas = rules_with_findings(rules, result.findings)
    by_rule: dict[str, list[Finding]] = {}
    for finding in sort_findings(result.findings):
        by_rule.setdefault(finding.rule_id, []).append(finding)
    rows = coverage(catalogue, metas.values())
    parents = {row.control.id: row.control.parent for row in rows}
    results: list[ControlResult] = []
    for row in rows:
        every = [f for rule_id in row.rules for f in by_rule.get(rule_id, ())]
        findings = [f for f in every if bears_on(f, catalogue.framework, row.control.id, parents)]
        active = sort_findings(f for f in findings if f.suppressed_by is None)
        observed = tuple(f for f in active if NOT_OBSERVABLE not in f.evidence)
        unobserved = tuple(dict.fromkeys(f.rule_id for f in active if NOT_OBSERVABLE in f.evidence))
        ran = [r for r in row.rules if run_of(runs, r) is RuleRun.RAN]
        not_run = tuple(r for r in row.rules if r not in ran)
        if not row.rules:
            status = ControlStatus.NOT_COVERED
        elif observed:
            status = ControlStatus.FAIL
        elif ran and not unobserved:
            status = ControlStatus.PASS
        else:  # nothing ran, or a covering rule could not see what it judges
            status = ControlStatus.NOT_ASSESSED
        counted = (
            None if len(findings) == len(every) else frozenset(f.fingerprint for f in findings)
        )
        results.append(
            ControlResult(
                row.control,
                status,
                row.rules,
                observed,
                len(findings) - len(active),
                not_run,
                unobserved,
                counted,
            )
        )
    counts = {s: sum(1 for r in results if r.status is s) for s in ControlStatus}
    percent = coverage_percent(CoverageRow(r.control, r.rules) for r in results)
    return FrameworkView(catalogue, tuple(results), percent, counts)


def catalogue_to_dict(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "id": catalogue.key,
        "framework": catalogue.framework.value,
        "name": catalogue.name,
        "version": catalogue.version,
        "information_uri": catalogue.information_uri,
    }


def view_summary(view: FrameworkView) -> dict[str, Any]:
    listed = [r for r in view.controls if r.control.in_catalogue]
    return {
        "controls": len(listed),
        "passed": sum(1 for r in listed if r.status is ControlStatus.PASS),
        "failed": sum(1 for r in listed if r.status is ControlStatus.FAIL),
        "not_assessed": sum(1 for r in listed if r.status is ControlStatus.NOT_ASSESSED),
        "not_covered": sum(1 for r in listed if r.status is ControlStatus.NOT_COVERED),
        "extra_controls": len(view.controls) - len(listed),
        "coverage_percent": view.coverage_percent,
    }


def view_to_dict(view: FrameworkView) -> dict[str, Any]:
    """The ``framework`` block of the ``kposture.scan/v1`` JSON document."""
    return {
        **catalogue_to_dict(view.catalogue),
        "summary": view_summary(view),
        "controls": [
            {
                "id": r.control.id,
                "title": r.control.title,
                "group": r.control.group,
                "in_catalogue": r.control.in_catalogue,
                "status": r.status.value,
                "rules": list(r.rules),
                "rules_not_run": list(r.not_run),
                "rules_not_observed": list(r.not_observed),
                "active_findings": len(r.findings),
                "suppressed_findings": r.suppressed,
                "findings": [f.fingerprint for f in r.findings],
            }
            for r in view.controls
        ],
    }


def coverage_to_dict(catalogue: Catalogue, rows: Sequence[CoverageRow]) -> dict[str, Any]:
    """The ``rules list --framework`` JSON document."""
    listed = [row for row in rows if row.control.in_catalogue]
    return {
        **catalogue_to_dict(catalogue),
        "summary": {
            "controls": len(listed),
            "covered": sum(1 for row in listed if row.covered),
            "not_covered": sum(1 for row in listed if not row.covered),
            "extra_controls": len(rows) - len(listed),
            "coverage_percent": coverage_percent(rows),
        },
        "controls": [
            {
                "id": row.control.id,
                "title": row.control.title,
                "group": row.control.group,
                "in_catalogue": row.control.in_catalogue,
                "covered": row.covered,
                "rules": list(row.rules),
            }
            for row in rows
        ],
    }


__all__ = [
    "CATALOGUES",
    "FRAMEWORK_KEYS",
    "Catalogue",
    "Control",
    "ControlResult",
    "ControlStatus",
    "CoverageRow",
    "FrameworkView",
    "coverage",
    "coverage_percent",
    "coverage_to_dict",
    "expand_reference_id",
    "framework_view",
    "rules_with_findings",
    "view_to_dict",
]
