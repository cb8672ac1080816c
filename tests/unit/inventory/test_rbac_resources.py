"""Resource names RBAC rules use, and the suggestion for a question that names another form."""

from __future__ import annotations

import pytest

from kposture.inventory import Inventory
from kposture.inventory.rbac_resources import known_resources, suggest_resource
from support import objects_from_text

WIDGETS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-reader}
rules:
- {apiGroups: [example.com], resources: [widgets, "*/status"], verbs: [get]}
- {apiGroups: ["*"], resources: [gadgets], verbs: [get]}
"""


def _known() -> frozenset[tuple[str, str]]:
    return known_resources(Inventory(objects_from_text(WIDGETS)))


def test_known_resources_come_from_the_inputs_the_builtins_and_the_scope_catalogue() -> None:
    known = _known()
    assert ("example.com", "widgets") in known  # a scanned role
    assert ("", "pods/exec") in known and ("apps", "deployments") in known  # built-in edit
    assert ("", "nodes") in known  # cluster-scoped catalogue
    assert not any("*" in group or "*" in resource for group, resource in known)
    assert ("*", "gadgets") not in known


@pytest.mark.parametrize(
    ("group", "resource", "subresource", "meant"),
    [
        ("", "secrets", "", None),
        ("", "pods", "exec", None),
        ("", "secret", "", "secrets"),
        ("", "pod", "exec", "pods/exec"),
        ("", "deployments", "", "deployments.apps"),
        ("", "deployment", "", "deployments.apps"),
        ("apps", "deployment", "scale", "deployments.apps/scale"),
        ("", "networkpolicy", "", "networkpolicies.networking.k8s.io"),
        ("", "ingress", "", "ingresses.networking.k8s.io"),
        ("", "secrts", "", "secrets"),
        ("example.com", "widget", "", "widgets.example.com"),
        ("", "widget", "", "widgets.example.com"),
        ("", "sprockets", "", None),
    ],
)
def test_suggestion(group: str, resource: str, subresource: str, meant: str | None) -> None:
    assert suggest_resource(group, resource, subresource, _known()) == meant
