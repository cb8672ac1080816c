"""No renderer shows anything about a secret beyond what the finding carries: its key name and a
redacted fingerprint. The JSON finding holds exactly the finding's fields, and every format renders
the same finding without any other value."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console

from kposture.model import (
    Domain,
    Finding,
    Location,
    ResourceRef,
    ScanResult,
    Severity,
    Stage,
)
from kposture.reports import RENDERERS, ReportContext, render_table

SECRET = ResourceRef("v1", "Secret", "payments", "db-credentials")
KEY = "DB_PASSWORD"
FINGERPRINT = "sha256:3f9a0c…redacted"
# What the secret's value would look like if any layer leaked it; it is in no field of the result.
VALUE = "hunter2-s3cr3t"

SECRET_FINDING = Finding(
    rule_id="secret-in-configmap",
    title="Credential stored outside a Secret",
    severity=Severity.HIGH,
    domain=Domain.SECRETS,
    stage=Stage.CRAWL,
    message=f"Key {KEY} looks like a credential (value redacted, fingerprint {FINGERPRINT})",
    resource=SECRET,
    location=Location("secrets/db.yaml", 7, 3, f"data.{KEY}"),
    references=(),
    remediation="Move the value into a Secret mounted as a file.",
    fingerprint="fp-secret-1",
    evidence=(("key", KEY), ("value_fingerprint", FINGERPRINT)),
)
RESULT = ScanResult(findings=(SECRET_FINDING,))


def _strings(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return set().union(*(_strings(k) | _strings(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(set(), *(_strings(v) for v in node))
    return set()


def test_json_finding_holds_only_finding_fields(ctx: ReportContext) -> None:
    document = json.loads(RENDERERS["json"](RESULT, ctx))
    (finding,) = document["findings"]
    assert finding["evidence"] == {"key": KEY, "value_fingerprint": FINGERPRINT}
    allowed_values = {
        SECRET_FINDING.rule_id,
        SECRET_FINDING.title,
        "high",
        "secrets",
        "crawl",
        SECRET_FINDING.message,
        "v1",
        "Secret",
        "payments",
        "db-credentials",
        "secrets/db.yaml",
        f"data.{KEY}",
        KEY,
        FINGERPRINT,
        SECRET_FINDING.remediation,
        SECRET_FINDING.fingerprint,
    }
    keys = {
        "rule_id", "title", "severity", "domain", "stage", "message", "resource", "apiVersion",
        "kind", "namespace", "name", "location", "file", "line", "column", "path", "evidence",
        "key", "value_fingerprint", "references", "remediation", "fingerprint", "suppressed",
        "suppressed_by",
    }  # fmt: skip
    assert _strings(finding) <= allowed_values | keys


@pytest.mark.parametrize("fmt", [*RENDERERS, "table"])
def test_every_format_shows_key_and_fingerprint_only(fmt: str, ctx: ReportContext) -> None:
    if fmt == "table":
        console = Console(record=True, width=200, file=io.StringIO())
        render_table(RESULT, ctx, console, show_suppressed=True)
        text = console.export_text()
    else:
        text = RENDERERS[fmt](RESULT, ctx)
    if fmt == "markdown":
        text = text.replace("\\_", "_")  # Markdown escapes underscores
    assert KEY in text
    assert FINGERPRINT in text
    assert VALUE not in text
    assert "raw" not in text.lower().split()  # no object dumps
