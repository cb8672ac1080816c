"""docs/detections.md holds the catalogue generated from the registry; this fails when it is stale."""

from __future__ import annotations

from conftest import REPO_ROOT
from kposture.detections import builtin_detections
from kposture.reports.alerts import detection_catalogue

BEGIN = "<!-- detections:begin -->\n"
END = "<!-- detections:end -->"


def test_docs_catalogue_is_current() -> None:
    text = (REPO_ROOT / "docs" / "detections.md").read_text()
    current = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    expected = detection_catalogue(d.meta for d in builtin_detections())
    assert current == expected, "regenerate the catalogue in docs/detections.md"
    for detection in builtin_detections():
        assert f"`{detection.id}`" in current
