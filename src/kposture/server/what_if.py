"""``kposture admission what-if``: replay objects (a cluster, a snapshot, manifests) through the
admission decision as if each were created now, without a server.

Owns the replay: which objects the webhook would see (kinds the install routes to it; pods and
ReplicaSets whose controlling owner is replayed with the same pod template stand aside, as in a
scan, since the owner carries the decision), the synthetic CREATE request for each (the namespace
``kubectl apply`` would use, the user and groups asked for), and ``as_enforced``, which turns every
rule the policy does not switch off to enforce. Every decision is the webhook's own ``Decider``'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from kposture.inventory import CLUSTER_SCOPED_KINDS, Inventory
from kposture.inventory.owners import inventory_coverage
from kposture.model import K8sObject, SourceLocation
from kposture.model.admission import AdmissionDecision, AdmissionMode, AdmissionPolicy
from kposture.reports.admission_resources import API_RESOURCES
from kposture.server.deciding import Decider
from kposture.server.reviews import API_VERSIONS, AdmissionRequest

WHAT_IF_USER = "kposture:what-if"


@dataclass(frozen=True, slots=True)
class Replay:
    """The decisions for the replayed objects, in input order, with where each object was read,
    and how many objects were not replayed: of kinds the webhook never sees, or owner-covered."""

    decisions: tuple[tuple[AdmissionDecision, SourceLocation | None], ...]
    not_admitted: int
    covered: int
    rule_errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Why rules failed, by decision uid: the engine's error as a scan shows it."""


def enforced(policy: AdmissionPolicy) -> AdmissionPolicy:
    """``policy`` with every mode that is not off turned to enforce (the default mode too)."""
    return replace(
        policy,
        mode=AdmissionMode.ENFORCE,
        rule_modes=tuple(
            replace(s, mode=AdmissionMode.ENFORCE) if s.mode is not None else s
            for s in policy.rule_modes
        ),
        namespace_modes=tuple(
            replace(s, mode=AdmissionMode.ENFORCE) if s.mode is not None else s
            for s in policy.namespace_modes
        ),
    )


def creation_request(
    obj: K8sObject, index: int, user: str, groups: tuple[str, ...]
) -> AdmissionRequest:
    """The AdmissionReview request the API server would send for creating ``obj``: a namespaced
    object a manifest leaves unplaced lands in ``default``."""
    group, _, version = obj.ref.api_version.rpartition("/")
    namespace = obj.ref.namespace
    if not namespace and obj.ref.kind not in CLUSTER_SCOPED_KINDS and obj.ref.kind != "Namespace":
        namespace = "default"
    resource = API_RESOURCES.get(obj.ref.kind)
    return AdmissionRequest(
        api_version=API_VERSIONS[0],
        uid=f"what-if-{index}",
        group=group,
        version=version,
        kind=obj.ref.kind,
        resource=resource.plural if resource is not None else "",
        sub_resource="",
        operation="CREATE",
        namespace=namespace,
        name=obj.ref.name,
        user=user,
        groups=groups,
        object=obj.raw,
        old_object=None,
        dry_run=False,
    )


def replay(
    objects: Sequence[K8sObject],
    decider: Decider,
    now: dt.datetime,
    *,
    user: str = WHAT_IF_USER,
    groups: tuple[str, ...] = ("system:authenticated",),
    as_enforced: bool = False,
) -> Replay:
    """Decide every object the webhook would be asked about, as a CREATE by ``user``."""
    if as_enforced:
        decider = Decider(decider.registry, decider.policy, enforced(decider.admission))
    covered = inventory_coverage(Inventory(objects)).covered
    decisions: list[tuple[AdmissionDecision, SourceLocation | None]] = []
    rule_errors: dict[str, tuple[str, ...]] = {}
    not_admitted = skipped = 0
    for index, obj in enumerate(objects):
        if obj.ref.kind not in API_RESOURCES or not decider.registry.for_kind(obj.ref.kind):
            not_admitted += 1
            continue
        if id(obj) in covered:
            skipped += 1
            continue
        judged = decider.decide(creation_request(obj, index, user, groups), now)
        decisions.append((judged.decision, obj.location))
        if judged.rule_errors:
            rule_errors[judged.decision.uid] = judged.rule_errors
    return Replay(tuple(decisions), not_admitted, skipped, rule_errors)
