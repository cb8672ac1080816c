"""The public surface of ``kposture.reports``: names, format dispatch, the plain-text table."""

from __future__ import annotations

import json

import pytest

from kposture import reports
from kposture.model import ScanResult
from kposture.reports import FORMATS, RENDERERS, ReportContext, render


def test_all_is_pinned() -> None:
    assert sorted(reports.__all__) == [
        "FORMATS",
        "RENDERERS",
        "ReportContext",
        "SCHEMA_ID",
        "TextRenderer",
        "render",
        "render_json",
        "render_junit",
        "render_markdown",
        "render_sarif",
        "render_table",
        "render_table_text",
    ]


def test_formats() -> None:
    assert FORMATS == ("table", "json", "sarif", "junit", "markdown")
    assert set(RENDERERS) == {"json", "sarif", "junit", "markdown"}


def test_render_dispatches(result: ScanResult, ctx: ReportContext) -> None:
    assert json.loads(render("json", result, ctx))["schema"] == "kposture.scan/v1"
    assert json.loads(render("sarif", result, ctx))["version"] == "2.1.0"
    assert render("junit", result, ctx).startswith("<?xml")
    assert render("markdown", result, ctx).startswith("## kposture scan")
    table = render("table", result, ctx)
    assert "Deployment/default/web" in table
    assert "\x1b[" not in table
    with pytest.raises(ValueError, match="unknown output format 'html'; choose one of table"):
        render("html", result, ctx)


def test_renderers_are_pure(result: ScanResult, ctx: ReportContext) -> None:
    for fmt in FORMATS:
        assert render(fmt, result, ctx) == render(fmt, result, ctx)
