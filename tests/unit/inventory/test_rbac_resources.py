"""Resource names RBAC rules use, and the suggestion for a question that names another form."""

from __future__ import annotations

import pytest

from kposture.inventory import Inventory
from kposture.inventory.rbac_resources import (
    api_version_form,
    known_resources,
    known_urls,
    known_verbs,
    suggest_resource,
    suggest_url,
    suggest_verb,
)
from support import objects_from_text

WIDGETS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-reader}
rules:
- {apiGroups: [example.com], resources: [widgets, "*/status"], verbs: [get]}
- {apiGroups: ["*"], resources: [gadgets], verbs: [get]}
- {apiGroups: [example.com], resources: [widgets], verbs: [frobnicate]}
- {nonResourceURLs: [/custom/*], verbs: [get]}
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
        ("", "pods", "exc", "pods/exec"),
        ("", "pods", "logs", "pods/log"),
        ("apps", "deployments", "scael", "deployments.apps/scale"),
        ("example.com", "widgets", "status", None),  # a CRD's subresource no rule names
    ],
)
def test_suggestion(group: str, resource: str, subresource: str, meant: str | None) -> None:
    assert suggest_resource(group, resource, subresource, _known()) == meant


@pytest.mark.parametrize(
    ("verb", "resource", "subresource", "meant"),
    [
        ("get", "secrets", "", None),
        ("gett", "secrets", "", "get"),
        ("lsit", "pods", "", "list"),
        ("exec", "pods", "", "create pods/exec"),
        ("logs", "pods", "", "get pods/log"),
        ("port-forward", "pods", "", "create pods/portforward"),
        ("exec", "secrets", "", None),  # no secrets/exec: nothing to point at
        ("frobnicate", "widgets", "", None),  # a custom verb the inputs name
        ("frobnicat", "widgets", "", "frobnicate"),
        ("zzz", "pods", "", None),
    ],
)
def test_verb_suggestion(verb: str, resource: str, subresource: str, meant: str | None) -> None:
    inventory = Inventory(objects_from_text(WIDGETS))
    verbs = known_verbs(inventory)
    group = "example.com" if resource == "widgets" else ""
    assert suggest_verb(verb, group, resource, subresource, verbs, _known()) == meant


def test_special_and_http_verbs_are_known() -> None:
    verbs = known_verbs(Inventory(objects_from_text(WIDGETS)))
    for verb in ("use", "bind", "escalate", "impersonate", "approve", "sign", "*", "post", "head"):
        assert verb in verbs
    assert "frobnicate" in verbs and "gett" not in verbs


@pytest.mark.parametrize(
    ("resource", "meant"),
    [
        ("metrics", "/metrics"),
        ("healthz/etcd", "/healthz/etcd"),
        ("custom/thing", "/custom/thing"),
        ("custom", None),  # /custom/* covers what is below /custom only
        ("secrets", None),
    ],
)
def test_url_suggestion(resource: str, meant: str | None) -> None:
    assert suggest_url(resource, known_urls(Inventory(objects_from_text(WIDGETS)))) == meant


@pytest.mark.parametrize(
    ("resource", "meant"),
    [
        ("v1/secrets", "secrets"),
        ("V1/Secrets", "secrets"),
        ("apps/v1/deployments", "deployments.apps"),
        ("apps/v1/deployments/scale", "deployments.apps/scale"),
        ("batch/v1beta1/cronjobs", "cronjobs.batch"),
        ("pods/exec", None),
        ("secrets", None),
        ("v1", None),
    ],
)
def test_api_version_form(resource: str, meant: str | None) -> None:
    assert api_version_form(resource) == meant
