"""Recall of the workload-privilege rules on Kubernetes Goat's hand-labelled manifest findings.

For every resource in ``goat/expected.json`` ``manifest_findings`` and every workload-privilege tag
it carries (privileged, host namespaces, hostPath mounts, runtime sockets, added capabilities, root,
missing limits, no security context...), the corresponding kposture rule must fire on that resource,
pointing at the tagged value where the tag names one (a host path, a capability). Recall must be
100%. The two Helm charts are rendered by the sources loader.

kposture reports each hostPath and each added capability once, from the most specific rule, so a
``hostpath:<path>`` tag is found when any of the three hostPath rules reports that path (the
socket and ``/`` tags also name the specific rule), and ``cap_add:<CAP>`` when any of the three
capability rules reports that capability.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corpus.goat_harness import Found, TagResult, assert_recall_complete, goat_root, tag_results

NO_SECURITY_CONTEXT_RULES = (
    "privilege-escalation-allowed",
    "runs-as-root",
    "seccomp-profile-missing",
    "capabilities-not-dropped",
    "writable-root-filesystem",
)
HOST_PATH_RULES = ("container-runtime-socket", "sensitive-host-path", "host-path-volume")
CAPABILITY_RULES = ("dangerous-capabilities", "added-capabilities", "capabilities-not-dropped")
SIMPLE_TAGS: dict[str, tuple[str, ...]] = {
    "privileged": ("privileged-container",),
    "allow_privilege_escalation_true": ("privilege-escalation-allowed",),
    "allow_privilege_escalation_unset": ("privilege-escalation-allowed",),
    "host_pid": ("host-pid",),
    "host_ipc": ("host-ipc",),
    "host_network": ("host-network",),
    "docker_socket": ("container-runtime-socket",),
    "containerd_socket": ("container-runtime-socket",),
    "run_as_root": ("runs-as-root",),
    "no_resource_limits": ("resource-limits-missing",),
    "no_security_context": NO_SECURITY_CONTEXT_RULES,
}


def _has(found: Found, rule_ids: tuple[str, ...], key: str, value: str) -> bool:
    return any(
        (key, value) in violation.evidence for rule_id in rule_ids for violation in found[rule_id]
    )


def tag_check(tag: str, tags: list[str]) -> Callable[[Found], bool] | None:
    """How to verify one tag, or None when the tag is not about workload privileges."""
    if tag in SIMPLE_TAGS:
        rules = SIMPLE_TAGS[tag]
        return lambda found: all(found[rule_id] for rule_id in rules)
    if tag == "hostpath_root":
        return lambda found: _has(found, ("sensitive-host-path",), "host_path", "/")
    if tag.startswith("hostpath:("):
        more = int(tag.removeprefix("hostpath:(").split()[0])
        named = sum(1 for other in tags if other.startswith("hostpath:/"))
        return lambda found: sum(len(found[rule_id]) for rule_id in HOST_PATH_RULES) >= named + more
    if tag.startswith("hostpath:"):
        path = tag.removeprefix("hostpath:")
        return lambda found: _has(found, HOST_PATH_RULES, "host_path", path)
    if tag.startswith("cap_add:"):
        capability = tag.removeprefix("cap_add:")
        return lambda found: _has(found, CAPABILITY_RULES, "capability", capability)
    return None


@pytest.fixture(scope="module")
def results(corpus: Path) -> list[TagResult]:
    """(resource, tag, kposture found it) for every workload-privilege tag of the goat labels."""
    return tag_results(goat_root(corpus), tag_check)


def test_recall_is_complete(results: list[TagResult]) -> None:
    assert len(results) >= 40
    assert_recall_complete(results, "workload-privilege tags")
