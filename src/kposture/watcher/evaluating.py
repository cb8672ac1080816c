"""Judging part of the cluster again: the affected objects, as a full scan would judge them.

Owns the rule of equivalence with ``scan --cluster``: an object is judged by every active rule of
its kind (the engine's ``evaluate_one``, same registry and policy), unless its controlling owner
in the inventory has the same pod template (``inventory.owners``: the owner's findings stand for
it), exactly as ``evaluate`` skips it; that is decided for each judged object alone
(``owners.covered``), not from the coverage of the whole inventory, which would cost a pass
over every workload per batch. Implied Namespaces (a namespace objects use but no Namespace
object declares) and the cluster anchor are judged like the objects they stand for.

The result says which objects were judged (``scope``) and which no longer exist (``deleted``), so
the store resolves the open findings of those objects that were not found again, and nothing else.
Pure: the date is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from kposture.engine import Registry, evaluate, evaluate_one
from kposture.inventory import Inventory
from kposture.inventory.owners import WorkloadByUid, covered
from kposture.inventory.workloads import WORKLOAD_KINDS
from kposture.model import Finding, InputError, K8sObject, RunPolicy
from kposture.watcher.state import Key, key_of


@dataclass(frozen=True, slots=True)
class Judged:
    """Findings of the objects in ``scope``; ``deleted`` are scope keys with no object any more;
    ``full`` when every object was judged (a full reconcile). ``evaluations`` counts (object,
    rule) pairs run, the measure of work."""

    findings: tuple[Finding, ...]
    scope: frozenset[Key]
    deleted: frozenset[Key]
    full: bool
    evaluations: int
    errors: tuple[InputError, ...] = ()


def _stand_ins(inventory: Inventory) -> dict[Key, K8sObject]:
    found = {key_of(obj.ref): obj for obj in inventory.implied_namespaces}
    anchor = inventory.cluster_anchor
    if anchor is not None:
        found.setdefault(key_of(anchor.ref), anchor)
    return found


def judge_all(
    inventory: Inventory,
    registry: Registry,
    policy: RunPolicy,
    today: dt.date,
    rule_counts: dict[str, int] | None = None,
) -> Judged:
    """Everything, as ``scan --cluster`` does (start-up and after a relist)."""
    result = evaluate(inventory, registry, policy, today)
    scope = frozenset(key_of(obj.ref) for obj in inventory.evaluation_order())
    rules = rule_counts if rule_counts is not None else rules_per_kind(registry, policy)
    work = sum(rules.get(obj.ref.kind, 0) for obj in inventory.evaluation_order())
    return Judged(result.findings, scope, frozenset(), True, work, result.errors)


def judge(
    keys: Iterable[Key],
    inventory: Inventory,
    registry: Registry,
    policy: RunPolicy,
    today: dt.date,
    rule_counts: dict[str, int] | None = None,
    *,
    by_uid: WorkloadByUid | None = None,
) -> Judged:
    """The objects of ``keys`` as they are in ``inventory`` (a key with no object is deleted).
    ``by_uid`` finds a workload of ``inventory`` by uid (the state's index); without it, an index
    of the inventory's workloads is built."""
    wanted = set(keys)
    stand_ins: dict[Key, K8sObject] | None = None
    covered = _Covered(inventory, by_uid)
    findings: list[Finding] = []
    errors: list[InputError] = []
    deleted: set[Key] = set()
    rules = rule_counts if rule_counts is not None else rules_per_kind(registry, policy)
    work = 0
    for key in sorted(wanted):
        obj = inventory.get(*key)
        if obj is None:
            if stand_ins is None:
                stand_ins = _stand_ins(inventory)
            obj = stand_ins.get(key)
        if obj is None:
            deleted.add(key)
            continue
        if covered(obj):
            continue
        # An object judged again because another changed: views memoised on it may read that
        # other object (a custom rule's namespaceObject), so they are built afresh.
        obj.derived.clear()
        result = evaluate_one(obj, inventory, registry, policy, today)
        findings.extend(result.findings)
        errors.extend(e for e in result.errors if e.level == "error")
        work += rules.get(key[0], 0)
    return Judged(
        tuple(findings), frozenset(wanted), frozenset(deleted), False, work, tuple(errors)
    )


class _Covered:
    """Whether an object's controlling owner stands for it, as ``owner_coverage`` decides."""

    def __init__(self, inventory: Inventory, by_uid: WorkloadByUid | None) -> None:
        self._inventory = inventory
        self._by_uid = by_uid

    def __call__(self, obj: K8sObject) -> bool:
        if obj.ref.kind not in WORKLOAD_KINDS:
            return False
        return covered(obj, self._workload_by_uid, self._workload_by_name)

    def _workload_by_uid(self, uid: str) -> K8sObject | None:
        if self._by_uid is None:
            self._by_uid = _uid_index(self._inventory).get
        found = self._by_uid(uid)
        return found if found is not None and found.ref.kind in WORKLOAD_KINDS else None

    def _workload_by_name(self, kind: str, namespace: str, name: str) -> K8sObject | None:
        return self._inventory.get(kind, namespace, name) if kind in WORKLOAD_KINDS else None


def _uid_index(inventory: Inventory) -> dict[str, K8sObject]:
    index: dict[str, K8sObject] = {}
    for kind in WORKLOAD_KINDS:
        for obj in inventory.of_kind(kind):
            uid = obj.metadata.get("uid")
            if isinstance(uid, str) and uid:
                index[uid] = obj
    return index


def rules_per_kind(registry: Registry, policy: RunPolicy) -> dict[str, int]:
    """How many active rules judge each kind (the unit of evaluation work)."""
    counts: dict[str, int] = {}
    for rule in registry:
        rule_id = rule.meta.id
        if rule_id in policy.disabled or (policy.enabled and rule_id not in policy.enabled):
            continue
        for kind in rule.meta.kinds:
            counts[kind] = counts.get(kind, 0) + 1
    return counts
