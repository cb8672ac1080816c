"""Recall of the RBAC rules on Kubernetes Goat's hand-labelled manifest findings.

Every RBAC tag in ``goat/expected.json`` ``manifest_findings`` must be found on the named resource:
``rbac_wildcard_resources`` and ``rbac_wildcard_all`` by wildcard-rbac (on the resources, or on all
three fields), ``rbac_read_secrets`` by rbac-secrets-read (or, for a role with full access, by the
one wildcard-rbac finding that names read-secrets among its capabilities), ``cluster_admin_binding_to_sa`` by
cluster-admin-binding on a ServiceAccount subject. ``binding_to_default_sa`` belongs to the service
accounts family and is skipped. The pwnchart is a Helm chart, rendered by the sources loader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corpus.goat_harness import (
    Found,
    TagResult,
    assert_recall_complete,
    goat_root,
    matches_exactly,
    tag_results,
)


def _wildcard_in(*fields: str) -> Callable[[Found], bool]:
    return lambda found: any(
        all(field in violation.message.split(":")[0] for field in fields)
        for violation in found["wildcard-rbac"]
    )


def tag_check(tag: str) -> Callable[[Found], bool] | None:
    """How to verify one tag, or None when the tag is not about this family's rules."""
    if tag == "rbac_wildcard_resources":
        return _wildcard_in("resources")
    if tag == "rbac_wildcard_all":
        return _wildcard_in("verbs", "apiGroups", "resources")
    if tag == "rbac_read_secrets":
        return lambda found: (
            bool(found["rbac-secrets-read"])
            or any(
                "read-secrets" in dict(violation.evidence).get("capabilities", "").split(", ")
                for violation in found["wildcard-rbac"]
            )
        )
    if tag.startswith("cluster_admin_binding_to_sa"):
        return lambda found: any(
            ("subject", value) in violation.evidence
            for violation in found["cluster-admin-binding"]
            for key, value in violation.evidence
            if key == "subject" and value.startswith("ServiceAccount ")
        )
    return None


@pytest.fixture(scope="module")
def results(corpus: Path) -> list[TagResult]:
    return tag_results(goat_root(corpus), lambda tag, _: tag_check(tag), matches_exactly)


def test_rbac_recall_is_complete(results: list[TagResult]) -> None:
    assert len(results) == 6
    assert_recall_complete(results, "RBAC tags")
