"""What a live scan could list: the ``listing`` block of the ClusterFacts object.

A live source records ``listing: {namespaces: [..] or null, unlisted: [kinds]}``: the namespaces it
was limited to (null for every namespace) and the kinds it could not list (RBAC denied them). A
scan without the block (manifests, older snapshots) counts as a full listing. Rules that conclude
from the *absence* of an object ask here first whether the object could have been seen at all.
Pure; computed once per inventory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kposture.inventory.components import CLUSTER_FACTS_KIND

if TYPE_CHECKING:
    from kposture.inventory.objects import Inventory


@dataclass(frozen=True, slots=True)
class Listing:
    """The namespaces a scan listed (``None``: all of them) and the kinds it could not list."""

    namespaces: tuple[str, ...] | None = None
    unlisted: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return self.namespaces is None and not self.unlisted

    def limits(self, kinds: Iterable[str]) -> str:
        """Why objects of ``kinds`` anywhere in the cluster may be missing from the scan (a
        namespace-limited listing, or kinds that could not be listed); ``""`` when nothing hides
        them."""
        reasons: list[str] = []
        if self.namespaces is not None:
            shown = ", ".join(self.namespaces) or "none"
            reasons.append(f"the scan listed only namespace(s) {shown}")
        hidden = sorted(set(kinds) & self.unlisted)
        if hidden:
            reasons.append(f"it could not list {', '.join(hidden)}")
        return "; ".join(reasons)

    def hides(self, kind: str, namespace: str) -> str:
        """Why objects of ``kind`` in ``namespace`` may be missing from the scan; ``""`` when the
        scan listed them."""
        reasons: list[str] = []
        if self.namespaces is not None and namespace not in self.namespaces:
            shown = ", ".join(self.namespaces) or "none"
            reasons.append(f"the scan did not list namespace {namespace} (only {shown})")
        if kind in self.unlisted:
            reasons.append(f"it could not list {kind}")
        return "; ".join(reasons)


FULL = Listing()


def _parse(raw: object) -> Listing:
    if not isinstance(raw, Mapping):
        return FULL
    namespaces = raw.get("namespaces")
    unlisted = raw.get("unlisted")
    return Listing(
        tuple(str(n) for n in namespaces) if isinstance(namespaces, list) else None,
        frozenset(str(k) for k in unlisted) if isinstance(unlisted, list) else frozenset(),
    )


def listing(inventory: Inventory) -> Listing:
    """What the scan listed, from the first ClusterFacts object; a full listing without one."""
    cached: Listing | None = inventory.derived.get("listing")
    if cached is not None:
        return cached
    facts = next(iter(inventory.of_kind(CLUSTER_FACTS_KIND)), None)
    result = _parse(facts.raw.get("listing")) if facts is not None else FULL
    inventory.derived["listing"] = result
    return result


__all__ = ["FULL", "Listing", "listing"]
