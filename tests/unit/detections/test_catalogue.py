"""The built-in detections against the catalogue: every catalogued id is registered with its
severity and MITRE ATT&CK technique(s); docs/detections.md holds the table generated from the
registry (this fails when it is stale) and marks the detections beyond the catalogue.

``CATALOGUE`` restates the catalogue's "Audit-log detections" rows (ids are public names: allowlists,
dashboards and SIEM rules depend on them). Where the catalogue file itself is available
(``RULES.md`` beside the shared corpus), the restatement is checked against it too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from kposture.detections import builtin_detections
from kposture.model import Severity
from kposture.reports.alerts import detection_catalogue

BEGIN = "<!-- detections:begin -->\n"
END = "<!-- detections:end -->"
SECTION = "Audit-log detections"

CATALOGUE: dict[str, tuple[str, tuple[str, ...]]] = {
    "pod-exec": ("high", ("T1609",)),
    "kubectl-cp": ("high", ("T1105",)),
    "pod-portforward": ("medium", ("T1090",)),
    "secret-enumeration": ("high", ("T1552.007",)),
    "secret-access-denied": ("medium", ("T1552.007",)),
    "secret-read-cross-namespace": ("high", ("T1552.007",)),
    "cluster-admin-granted": ("critical", ("T1098",)),
    "sensitive-role-created": ("high", ("T1098",)),
    "system-role-modified": ("high", ("T1098",)),
    "privileged-pod-created": ("critical", ("T1611", "T1610")),
    "pod-in-system-namespace": ("high", ("T1610",)),
    "serviceaccount-in-system-namespace": ("medium", ("T1136",)),
    "configmap-credentials-written": ("high", ("T1552",)),
    "anonymous-request-allowed": ("critical", ("T1078",)),
    "forbidden-burst": ("medium", ("T1613",)),
    "sa-token-created": ("medium", ("T1528",)),
    "client-certificate-created": ("high", ("T1649",)),
    "admission-webhook-changed": ("high", ("T1562.001",)),
    "security-tool-tampered": ("high", ("T1562.001",)),
    "cronjob-created": ("medium", ("T1053.007",)),
    "daemonset-created": ("medium", ("T1610",)),
    "nodeport-service-created": ("medium", ("T1133",)),
    "ingress-without-tls": ("low", ("T1190",)),
    "node-proxy-access": ("high", ("T1609",)),
    "ephemeral-container-added": ("high", ("T1609",)),
    "impersonation-used": ("medium", ("T1078",)),
    "system-identity-from-public-ip": ("high", ("T1078",)),
    "first-seen-source": ("low", ("T1078",)),
}
BEYOND = frozenset(
    {
        "secret-read-by-person",
        "system-namespace-secret-changed",
        "system-namespace-object-changed",
        "system-namespace-foreign-image",
    }
)
"""Built-in detections beyond the catalogue, each marked so in docs/detections.md."""
DETECTIONS = {detection.id: detection.meta for detection in builtin_detections()}


@pytest.mark.parametrize("detection_id", sorted(CATALOGUE))
def test_catalogue_detection_is_registered_with_its_severity_and_technique(
    detection_id: str,
) -> None:
    assert detection_id in DETECTIONS, f"catalogue detection {detection_id} is missing"
    severity, techniques = CATALOGUE[detection_id]
    meta = DETECTIONS[detection_id]
    assert meta.severity is Severity(severity)
    assert tuple(reference.id for reference in meta.references) == techniques


def test_every_other_detection_is_named_beyond_the_catalogue() -> None:
    assert set(DETECTIONS) - set(CATALOGUE) == BEYOND
    for detection_id in BEYOND:
        assert "Beyond the catalogue" in DETECTIONS[detection_id].description, detection_id
    docs = (REPO_ROOT / "docs" / "detections.md").read_text()
    listed = docs[docs.index("### Beyond the catalogue") :].split("\n## ", 1)[0]
    assert {f"`{d}`" for d in BEYOND} <= set(re.findall(r"`[a-z0-9-]+`", listed))


def _catalogue_file() -> Path | None:
    from conftest import corpus_root

    candidate = corpus_root().parent / "RULES.md"
    return candidate if candidate.is_file() else None


def test_restated_catalogue_matches_the_catalogue_file() -> None:
    path = _catalogue_file()
    if path is None:
        pytest.skip("RULES.md not found beside the corpus (set KPOSTURE_CORPUS)")
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and section.startswith(SECTION):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", cells[0]):
                techniques = tuple(item.strip() for item in cells[3].split(","))
                rows[cells[0]] = (cells[1], techniques)
    assert rows == CATALOGUE


def test_docs_catalogue_is_current() -> None:
    text = (REPO_ROOT / "docs" / "detections.md").read_text()
    current = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    expected = detection_catalogue(d.meta for d in builtin_detections())
    assert current == expected, "regenerate the catalogue in docs/detections.md"
    for detection in builtin_detections():
        assert f"`{detection.id}`" in current
