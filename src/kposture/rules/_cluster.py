"""Shared shapes of the cluster-scope rule families (``control_plane``, ``node_components``): the
check that judges one control-plane component or reports, on the cluster anchor, that the
component is not observable (a managed control plane, or a live listing that did not include Pods
in kube-system), and the paths those findings point at.

Pure; families import from here and never from each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kposture.inventory import Inventory
from kposture.inventory.components import (
    CLUSTER_FACTS_KIND,
    SYSTEM_NAMESPACE,
    Component,
    components_of,
    control_plane,
)
from kposture.inventory.listing import listing
from kposture.model import NOT_OBSERVABLE, JsonPath, K8sObject, Reference, Severity, Violation
from kposture.rules._references import CIS
from kposture.rules.base import Check

COMPONENT_KINDS: tuple[str, ...] = ("Pod", "DaemonSet", "Deployment", "StatefulSet")
"""Kinds a control-plane component runs as (static Pods, and self-hosted control planes)."""
API_KINDS: tuple[str, ...] = (*COMPONENT_KINDS, CLUSTER_FACTS_KIND)
CLUSTER: tuple[str, ...] = (CLUSTER_FACTS_KIND,)
"""``RuleMeta.requires`` of every cluster-scope rule: only cluster-like scans have the anchor."""

FactsCheck = Callable[[K8sObject], tuple[list[Violation], bool]]
"""Judges a ClusterFacts object: its violations, and whether the facts decided the rule."""


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def not_observable(what: str, signs: tuple[str, ...], hidden: str = "") -> Violation:
    """The info finding of a rule that could not see ``what``: because the listing ``hidden`` it
    (kube-system or Pods not listed), or, with a full listing, as with a managed control plane."""
    if hidden:
        return Violation(
            f"not observable: {hidden}, so the scan cannot see the {what} static pod in "
            f"{SYSTEM_NAMESPACE}; scan with access to Pods in {SYSTEM_NAMESPACE} or check this "
            "setting on the control-plane nodes",
            ("metadata", "name"),
            (NOT_OBSERVABLE, ("listing", hidden)),
            severity=Severity.INFO,
        )
    shown = ", ".join(signs[:2]) or "ClusterFacts"
    return Violation(
        f"not observable: the scan looks like a cluster ({shown}) but shows no {what}, as with a "
        "managed control plane; check this setting with the provider",
        ("metadata", "name"),
        (NOT_OBSERVABLE,),
        severity=Severity.INFO,
    )


def missing_path(component: Component) -> JsonPath:
    container = component.container.container
    field = "command" if isinstance(container.get("command"), list) else "args"
    return (*component.container.path, field)


def component_check(
    name: str,
    judge: Callable[[Component], Iterator[Violation]],
    *,
    facts: FactsCheck | None = None,
    what: str = "kube-apiserver",
) -> Check:
    """A check judging every ``name`` container with ``judge``; on the cluster anchor it applies
    ``facts`` and reports "not observable" when neither a component nor the facts decided."""

    def check(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        if obj.ref.kind == CLUSTER_FACTS_KIND:
            if inventory.cluster_anchor is not obj:
                return
            decided = False
            if facts is not None:
                found, decided = facts(obj)
                yield from found
            plane = control_plane(inventory)
            if not decided and not plane.of(name) and plane.cluster_like:
                hidden = listing(inventory).hides("Pod", SYSTEM_NAMESPACE)
                yield not_observable(what, plane.signs, hidden)
            return
        plane = inventory.derived.get("control_plane") or control_plane(inventory)
        if not plane.components:  # the usual case: no control plane in the scan at all
            return
        for component in components_of(obj):
            if component.name == name:
                yield from judge(component)

    return check


def cis(*ids: str) -> tuple[Reference, ...]:
    """CIS Kubernetes Benchmark references by control id."""
    return tuple(Reference(CIS, control) for control in ids)
