"""docs/output-formats.md stays in step with the JSON schema: its example validates and every field
the schema defines is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

DOC = Path(__file__).parents[3] / "docs" / "output-formats.md"


def _field_names(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                names.add(key)
                walk(value)
            for key, value in node.items():
                if key != "properties":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return names


def test_example_validates(scan_schema: dict[str, Any]) -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert match is not None
    jsonschema.Draft202012Validator(scan_schema).validate(json.loads(match.group(1)))


def test_every_schema_field_is_documented(scan_schema: dict[str, Any]) -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in _field_names(scan_schema) if f"`{name}`" not in text)
    assert not missing, f"undocumented JSON fields: {missing}"
