"""The fields a finding's transition adds to the alert document, beside the detection's ones
(``detection_fields``): why the finding changed and who changed its object, as the store records
them. ``event.reason`` (Elastic Common Schema) carries the store's reason when there is one; under
``kposture`` the finding's ``fingerprint`` and ``path``, ``reason`` (``fixed`` or ``deleted`` for a
resolution, the exception for a suppression, else empty), ``changed_by`` (who made the change, see
docs/watch.md) and ``suppressed_by`` (the exception of a suppression, else empty) are always
present. Pure.
"""

from __future__ import annotations

from typing import Any

from kposture.model.lifecycle import Change, Transition


def finding_fields(transition: Transition) -> dict[str, Any]:
    """The finding's part of the alert document, to merge into the shared fields."""
    fields: dict[str, Any] = {
        "kposture": {
            "fingerprint": transition.fingerprint,
            "path": transition.path,
            "reason": transition.reason,
            "changed_by": transition.changed_by,
            "suppressed_by": transition.reason if transition.change is Change.SUPPRESSED else "",
        }
    }
    if transition.reason:
        fields["event"] = {"reason": transition.reason}
    return fields
