"""Workload privileges: rules that prevent container escapes (Pod Security Standards and CIS 5.2)."""

from __future__ import annotations

from collections.abc import Iterator

from kposture.inventory import WORKLOAD_KINDS, Inventory, containers
from kposture.model import (
    Domain,
    Framework,
    K8sObject,
    Reference,
    RuleMeta,
    Severity,
    Stage,
    Violation,
)
from kposture.rules.base import Rule


def _privileged(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        context = ref.container.get("securityContext")
        if isinstance(context, dict) and context.get("privileged") is True:
            yield Violation(
                f"container {ref.name!r} runs privileged",
                (*ref.path, "securityContext", "privileged"),
            )


RULES: tuple[Rule, ...] = (
    Rule(
        RuleMeta(
            id="privileged-container",
            title="Privileged container",
            severity=Severity.CRITICAL,
            domain=Domain.WORKLOAD_PRIVILEGES,
            stage=Stage.CRAWL,
            kinds=WORKLOAD_KINDS,
            remediation="Remove privileged: true and grant only the capabilities the container needs.",
            description="A privileged container has every capability and access to host devices.",
            references=(
                Reference(Framework.CIS, "5.2.2"),
                Reference(Framework.PSS, "baseline"),
                Reference(Framework.OWASP, "K01"),
                Reference(Framework.MITRE, "T1611"),
            ),
        ),
        _privileged,
    ),
)
