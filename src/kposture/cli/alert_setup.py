"""The alert sinks' configuration the verbs that raise alerts share (``watch``, ``serve``'s audit
sink): the policy file's ``alerts:`` block merged with ``--alert``, ``--alert-min-severity`` and
``--alert-dedup``. ``--alert`` flags replace the file's sinks (one ``--alert stdout`` to look at
alerts does not also post them to the file's receivers); the two defaults, when given, replace the
file's ``minSeverity`` and ``dedup``. Every mistake is a ``UsageError`` naming the policy file and
line (``policy.yaml:9: alerts.sinks[1].minSeverity: unknown severity 'urgent'``) or the flag.
Wiring only: the parsers are ``kposture.sinks.specs``.
"""

from __future__ import annotations

from collections.abc import Sequence

from kposture.cli.scanning import UsageError
from kposture.sinks import AlertsConfig, AlertSpecError, parse_alert_flags, parse_alerts_block
from kposture.sources.policy_file import PolicyFile


def alerts_config(
    policy: PolicyFile | None,
    flags: Sequence[str] = (),
    *,
    min_severity: str | None = None,
    dedup: str | None = None,
    default_min_severity: str | None = None,
    default_dedup: str | None = None,
) -> AlertsConfig:
    """The sinks and their defaults from the policy file (``None``: no file) and the flags. A
    default neither the flags nor the file's block set is the verb's own (``default_*``), else
    ``AlertsConfig``'s."""
    try:
        defaults = parse_alert_flags((), min_severity=default_min_severity, dedup=default_dedup)
        from_flags = parse_alert_flags(
            flags,
            min_severity=min_severity if min_severity is not None else default_min_severity,
            dedup=dedup if dedup is not None else default_dedup,
        )
    except AlertSpecError as exc:
        raise UsageError(str(exc)) from None
    if policy is None or policy.alerts is None:
        return from_flags
    try:
        from_file = parse_alerts_block(policy.alerts, defaults=defaults)
    except AlertSpecError as exc:
        line = exc.line_in(policy.alerts_lines)
        where = f"{policy.path}:{line}" if line is not None else policy.path
        raise UsageError(f"{where}: {exc}") from None
    given = {
        name
        for name, value in (("min_severity", min_severity), ("dedup_window", dedup))
        if value is not None
    }
    return from_file.merged(from_flags, flags_given=given)
