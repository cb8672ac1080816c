"""NetworkPolicy coverage (selectors, policyTypes defaulting, namespaces) and Service exposure."""

from __future__ import annotations

from kposture.inventory import (
    Inventory,
    coverage,
    policies_in,
    selected_workloads,
    service_type,
    services_exposing,
    workloads_by_namespace,
)
from kposture.inventory.network import OpenRule, open_rule, parse_selector, policy_types
from support import objects_from_text

WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: app, image: web:1}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: report}}
        spec: {containers: [{name: app, image: report:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: loose, labels: {app: web}}
spec: {containers: [{name: app, image: web:1}]}
"""


def _policy(name: str, spec: str, namespace: str = "shop") -> str:
    return (
        f"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


def _inventory(text: str) -> Inventory:
    return Inventory(objects_from_text(text))


def test_policy_types_default_like_the_api_server() -> None:
    assert policy_types({}) == (True, False)
    assert policy_types({"egress": []}) == (True, False)
    assert policy_types({"egress": [{}]}) == (True, True)
    assert policy_types({"policyTypes": ["Egress"], "ingress": [{}]}) == (False, True)
    assert policy_types({"policyTypes": ["Ingress", "Egress"]}) == (True, True)


def test_selectors() -> None:
    everything = parse_selector({})
    assert everything is not None and everything.matches({})
    assert parse_selector(None) is not None
    assert parse_selector({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}) is None
    expr = parse_selector(
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    )
    assert expr is not None
    assert expr.matches({"app": "web", "tier": "x"})
    assert not expr.matches({"app": "web"})


def test_coverage_by_direction_and_namespace() -> None:
    inventory = _inventory(
        WORKLOADS
        + _policy("ingress-web", "{podSelector: {matchLabels: {app: web}}}")
        + _policy("egress-all", "{podSelector: {}, policyTypes: [Egress]}")
        + _policy("elsewhere", "{podSelector: {}}", namespace="other")
    )
    web, report, loose = (inventory.objects[i] for i in range(3))
    found = coverage(web, inventory)
    assert [p.obj.ref.name for p in found.ingress] == ["ingress-web"]
    assert [p.obj.ref.name for p in found.egress] == ["egress-all"]
    assert found.policies_in_namespace == 2
    assert coverage(report, inventory).ingress == ()
    assert [p.obj.ref.name for p in coverage(report, inventory).egress] == ["egress-all"]
    # The namespace-less pod is in default, where there is no policy.
    assert coverage(loose, inventory).namespace == "default"
    assert coverage(loose, inventory).policies_in_namespace == 0


def test_empty_namespace_and_default_are_one() -> None:
    inventory = _inventory(WORKLOADS + _policy("deny", "{podSelector: {}}", namespace="default"))
    assert len(policies_in(inventory, "")) == 1
    assert coverage(inventory.objects[2], inventory).ingress


def test_indexes_are_memoised_once_per_inventory() -> None:
    inventory = _inventory(WORKLOADS + _policy("deny", "{podSelector: {}}"))
    first = workloads_by_namespace(inventory)
    assert workloads_by_namespace(inventory) is first
    assert set(first) == {"shop", "default"}
    assert policies_in(inventory, "shop") is policies_in(inventory, "shop")


def test_service_exposure() -> None:
    inventory = _inventory(
        WORKLOADS + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
        "spec: {type: NodePort, selector: {app: web}}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: manual, namespace: shop}\nspec: {}\n"
    )
    web, service, manual = inventory.objects[0], inventory.objects[3], inventory.objects[4]
    assert service_type(service) == "NodePort"
    assert service_type(manual) == "ClusterIP"
    assert [obj.ref.name for obj in selected_workloads(service, inventory)] == ["web"]
    assert selected_workloads(manual, inventory) == ()
    assert [obj.ref.name for obj in services_exposing(web, inventory)] == ["web"]
    # The namespace-less pod has matching labels but lives in default, not shop.
    assert services_exposing(inventory.objects[2], inventory) == ()


def test_open_rules_allow_every_peer_on_every_port() -> None:
    assert open_rule([{}], "from") == OpenRule(0, "any peer")
    assert open_rule([{"from": []}], "from") == OpenRule(0, "any peer")
    assert open_rule([{"ports": [{"port": 80}]}], "from") is None  # every peer, one port
    assert open_rule([{"from": [{"podSelector": {}}]}], "from") is None  # own namespace only
    assert open_rule(
        [
            {"to": [{"podSelector": {"matchLabels": {"a": "b"}}}]},
            {"to": [{"namespaceSelector": {}}]},
        ],
        "to",
    ) == OpenRule(1, "every pod in every namespace")
    narrowed = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "lb"}}}
    assert open_rule([{"from": [narrowed]}], "from") is None
    assert open_rule([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}], "from") == OpenRule(
        0, "every address (0.0.0.0/0)"
    )
    excepted = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}
    assert open_rule([{"to": [excepted]}], "to") is None
    assert open_rule(None, "from") is None and open_rule([], "from") is None


def test_coverage_counts_only_policies_that_close_something() -> None:
    allow_all = "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{}], egress: [{}]}"
    inventory = _inventory(WORKLOADS + _policy("allow-all", allow_all))
    found = coverage(inventory.objects[0], inventory)
    assert [p.obj.ref.name for p in found.ingress_open] == ["allow-all"]
    assert not found.isolated_ingress and not found.restricted_egress
    # Policies add up: a deny-all beside the allow-all does not close anything.
    inventory = _inventory(
        WORKLOADS + _policy("allow-all", allow_all) + _policy("deny", "{podSelector: {}}")
    )
    found = coverage(inventory.objects[0], inventory)
    assert len(found.ingress) == 2 and not found.isolated_ingress
    # Ingress rules of a policy that does not isolate ingress are ignored.
    egress_only = "{podSelector: {}, policyTypes: [Egress], ingress: [{}]}"
    view = policies_in(_inventory(_policy("e", egress_only)), "shop")[0]
    assert view.open_ingress is None and view.open_egress is None
