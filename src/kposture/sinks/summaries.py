"""How a sink's delivery reads to people: counts with the right plural, and the one-line summary a
driver prints when its sinks close (what was sent, and what is still waiting in a spool). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping


def counted(count: int, noun: str, plural: str = "") -> str:
    """``1 alert``, ``2 alerts`` (``plural`` when the noun does not take an ``s``)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def delivery_summary(name: str, counts: Mapping[str, int]) -> str:
    """One line about sink ``name`` from its counters (``SinkStats.snapshot()``), read after the sink
    closed: ``pending`` is then what its spool still holds for the next start."""
    queued = f"{counted(counts.get('queued', 0), 'alert')} queued"
    already = counts.get("already_queued", 0)
    if already:
        queued += f", {already} already queued (the same alert was waiting)"
    parts = [f"{queued}, {counts.get('sent', 0)} sent"]
    pending = counts.get("pending", 0)
    if pending:
        parts.append(
            f"{counted(pending, 'alert')} not delivered yet, kept in its spool "
            "(sent when a sink with the same URL starts again)"
        )
    extras = (
        ("dropped", "{} dropped (queue full or lost on close)", ""),
        ("rejected", "{} refused by the receiver", ""),
        ("filtered", "{} below its minimum severity", ""),
        ("deduplicated", "{} not sent", "duplicate"),
        ("errors", "{} raised an error in the sink", ""),
    )
    parts.extend(
        what.format(counted(counts[key], noun) if noun else counts[key])
        for key, what, noun in extras
        if counts.get(key)
    )
    return f"alert sink {name}: " + "; ".join(parts)
