"""Whether the namespace an ``rbac`` view was asked about (``-n NS``) exists in manifest inputs.

A live cluster read warns about a namespace with no Namespace object itself (``sources.cluster``).
Manifests and snapshots need not define Namespaces at all, so only inputs that define some are
judged: ``-n shp`` over inputs defining ``shop`` would otherwise answer "nothing" silently. The
warning names the namespaces defined and the closest one (ignoring case: ``-n SHOP`` is
``shop``).
"""

from __future__ import annotations

from difflib import get_close_matches

from kposture.inventory import Inventory
from kposture.model import InputError

NAMES_SHOWN = 5
"""How many of the defined namespaces the warning names."""


def absent_namespace(inventory: Inventory, namespace: str) -> InputError | None:
    """A warning when the inputs define Namespaces and none is ``namespace``; else None."""
    defined = sorted({obj.ref.name for obj in inventory.of_kind("Namespace") if obj.ref.name})
    if not namespace or not defined or namespace in defined:
        return None
    shown = ", ".join(defined[:NAMES_SHOWN])
    if len(defined) > NAMES_SHOWN:
        shown += f" and {len(defined) - NAMES_SHOWN} more"
    message = f"-n {namespace}: the inputs define no Namespace {namespace} (they define {shown})"
    # Namespace names are lower case: -n SHOP means shop
    meant = get_close_matches(namespace.lower(), defined, n=1, cutoff=0.6)
    if meant:
        message += f"; did you mean {meant[0]}?"
    return InputError("", 0, message, "warning")
