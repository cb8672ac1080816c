"""Agreement of the workload-privilege rules with Polaris's own fixtures for the matching checks.

Each ``polaris/cases/<check>/failure*.yaml`` should make the mapped kposture rule(s) fire and each
``success*.yaml`` should not. Disagreements kposture makes on purpose are listed in ``EXPLAINED``
with the reason (the same reasons are in ``docs/accuracy.md`` and the rules' descriptions); an
unexplained disagreement, or an explanation that no longer applies, fails the test.

kposture reports each problem once, from the most specific rule, so a Polaris check maps to the
group of rules that share its ground: any of the three hostPath rules, any of the three capability
rules. ``linuxHardening`` asks whether each container runs with a confining seccomp profile:
``seccomp-profile-missing`` (nothing set) or a ``seccomp-unconfined`` finding in effect for some
container (without ``in_effect: false`` evidence); a pod-level Unconfined every container overrides
is a PSS failure Polaris does not share, so it does not count here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corpus.polaris_harness import (
    Case,
    assert_agreement_rate,
    assert_every_disagreement_is_explained,
    assert_every_mapped_check_has_cases,
    assert_no_stale_explanations,
    polaris_cases,
    polaris_root,
)
from kposture.inventory import Inventory
from kposture.model import K8sObject, Violation
from kposture.rules.workload_hardening import IN_EFFECT_NOWHERE
from support import RULES_BY_ID

Predicate = Callable[[dict[str, list[Violation]]], bool]
"""Decides "kposture fails this case" from the violations of each rule on the case's objects."""


def any_of(*rule_ids: str) -> Predicate:
    return lambda found: any(found[rule_id] for rule_id in rule_ids)


def both(first: Predicate, second: Predicate) -> Predicate:
    return lambda found: first(found) and second(found)


def unconfined_in_effect(found: dict[str, list[Violation]]) -> bool:
    """Some container runs with an explicit Unconfined seccomp profile in effect."""
    return any(
        IN_EFFECT_NOWHERE not in violation.evidence for violation in found["seccomp-unconfined"]
    )


def seccomp_not_confining(found: dict[str, list[Violation]]) -> bool:
    return bool(found["seccomp-profile-missing"]) or unconfined_in_effect(found)


HOST_PATH_RULES = ("host-path-volume", "sensitive-host-path", "container-runtime-socket")
CAPABILITY_RULES = ("capabilities-not-dropped", "added-capabilities", "dangerous-capabilities")


def missing_limit(resource: str) -> Predicate:
    """resource-limits-missing fires for ``resource`` (its path ends in ``limits`` or it)."""
    return lambda found: any(
        violation.path[-1] in ("limits", resource) for violation in found["resource-limits-missing"]
    )


CHECKS: dict[str, tuple[str, Predicate]] = {
    "hostIPCSet": ("host-ipc", any_of("host-ipc")),
    "hostNetworkSet": ("host-network", any_of("host-network")),
    "hostPIDSet": ("host-pid", any_of("host-pid")),
    "hostPathSet": ("any hostPath rule", any_of(*HOST_PATH_RULES)),
    "hostPortSet": ("host-ports", any_of("host-ports")),
    "hostProcess": ("windows-host-process", any_of("windows-host-process")),
    "dangerousCapabilities": ("dangerous-capabilities", any_of("dangerous-capabilities")),
    "insecureCapabilities": ("any capability rule", any_of(*CAPABILITY_RULES)),
    "privilegeEscalationAllowed": (
        "privilege-escalation-allowed",
        any_of("privilege-escalation-allowed"),
    ),
    "procMount": ("proc-mount-unmasked", any_of("proc-mount-unmasked")),
    "runAsPrivileged": ("privileged-container", any_of("privileged-container")),
    "runAsRootAllowed": ("runs-as-root", any_of("runs-as-root")),
    "notReadOnlyRootFilesystem": ("writable-root-filesystem", any_of("writable-root-filesystem")),
    "cpuLimitsMissing": ("resource-limits-missing (cpu)", missing_limit("cpu")),
    "memoryLimitsMissing": ("resource-limits-missing (memory)", missing_limit("memory")),
    "linuxHardening": (
        "seccomp not confining (missing, or Unconfined in effect) + any capability rule",
        both(seccomp_not_confining, any_of(*CAPABILITY_RULES)),
    ),
}
"""Polaris check -> (the kposture rule(s) it is compared with, and the predicate)."""

RESTRICTED_DROP = (
    "PSS restricted requires drop: [ALL]; Polaris accepts dropping its list of insecure "
    "capabilities by name, which leaves any capability outside that list (and future ones)"
)
NOT_SECCOMP = (
    "linuxHardening passes on any one hardening feature; kposture's restricted controls need a "
    "seccomp profile or drop: [ALL] and do not accept {} instead"
)
EXPLAINED: dict[str, str] = {
    "insecureCapabilities/success.yaml": RESTRICTED_DROP,
    "insecureCapabilities/success.case.yaml": RESTRICTED_DROP,
    "insecureCapabilities/success.pod.yaml": RESTRICTED_DROP,
    "linuxHardening/success.apparmor_2_containers.yaml": NOT_SECCOMP.format("AppArmor annotations"),
    "linuxHardening/success.selinux_container.yaml": NOT_SECCOMP.format("an SELinux level"),
    "linuxHardening/success.selinux_pod.yaml": NOT_SECCOMP.format("an SELinux level"),
    "linuxHardening/success.drop_capabilities.yaml": (
        "drop: [ALL] followed by add: [someCapabilities]: PSS restricted allows adding back only "
        "NET_BIND_SERVICE, so added-capabilities fires (and no seccomp profile is set)"
    ),
}
"""Polaris case -> why kposture deliberately disagrees with Polaris's label."""


def _violations(objects: list[K8sObject]) -> dict[str, list[Violation]]:
    inventory = Inventory(objects)
    found: dict[str, list[Violation]] = {}
    for rule_id, rule in RULES_BY_ID.items():
        found[rule_id] = [
            violation
            for obj in objects
            if obj.ref.kind in rule.meta.kinds
            for violation in rule.check(obj, inventory)
        ]
    return found


@pytest.fixture(scope="module")
def cases(corpus: Path) -> list[Case]:
    return polaris_cases(
        polaris_root(corpus), CHECKS, lambda check, objects: CHECKS[check][1](_violations(objects))
    )


def test_every_mapped_check_has_cases(cases: list[Case]) -> None:
    assert_every_mapped_check_has_cases(cases, CHECKS)


def test_every_disagreement_is_explained(cases: list[Case]) -> None:
    assert_every_disagreement_is_explained(cases, EXPLAINED)


def test_no_stale_explanations(cases: list[Case]) -> None:
    assert_no_stale_explanations(cases, EXPLAINED)


def test_agreement_rate(cases: list[Case]) -> None:
    # The raw floor is the measured figure (docs/accuracy.md); explained disagreements count as
    # agreement for the 95% target, since each is kposture following PSS where Polaris does not.
    assert_agreement_rate(cases, EXPLAINED, raw_floor=0.90)
