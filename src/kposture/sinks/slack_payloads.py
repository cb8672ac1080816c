"""The Slack incoming-webhook payload for an alert: a plain ``text`` fallback (what notifications and
clients without blocks show) and Block Kit blocks with severity, rule, resource, change and message;
a finding's transition adds why (``fixed``, ``deleted``, the exception) and who changed the object.

Slack reads ``&``, ``<`` and ``>`` as markup in mrkdwn text, so every value is escaped; texts are cut
to Slack's limits (150 characters in a header, 2,000 in a field, 3,000 in a section) with an ellipsis.
Slack-compatible receivers that do not render blocks show ``text``.
"""

from __future__ import annotations

import json
from typing import Any

from kposture.model.lifecycle import Alert, FindingAlert
from kposture.model.rules import Severity
from kposture.sinks.documents import timestamp

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.HIGH: ":red_circle:",
    Severity.MEDIUM: ":large_orange_circle:",
    Severity.LOW: ":large_yellow_circle:",
    Severity.INFO: ":white_circle:",
}

HEADER_LIMIT = 150
FIELD_LIMIT = 2000
SECTION_LIMIT = 3000


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _what(alert: Alert) -> str:
    if alert.source == "detection":
        return "detected"
    return alert.change or "alert"


def _why(alert: Alert) -> tuple[str, str]:
    """A finding transition's reason and who changed the object (empty for other alerts)."""
    if isinstance(alert, FindingAlert):
        return alert.transition.reason, alert.transition.changed_by
    return "", ""


def summary(alert: Alert) -> str:
    """One line: ``[HIGH] privileged-container resolved (fixed) on Deployment/shop/web in prod by
    kubectl-patch: message``."""
    reason, by = _why(alert)
    what = f"{_what(alert)} ({reason})" if reason else _what(alert)
    where = f" on {alert.resource.display()}" if alert.resource else ""
    cluster = f" in {alert.cluster}" if alert.cluster else ""
    who = f" by {by}" if by else ""
    return f"[{alert.severity.value.upper()}] {alert.rule_id} {what}{where}{cluster}{who}: {alert.message}"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": cut(f"*{label}*\n{escape(value)}", FIELD_LIMIT)}


def slack_payload(alert: Alert) -> dict[str, Any]:
    emoji = SEVERITY_EMOJI[alert.severity]
    fields = [
        _field("Severity", alert.severity.value),
        _field("Rule", alert.rule_id),
        _field("Resource", alert.resource.display() if alert.resource else "-"),
        _field("Change", _what(alert)),
    ]
    if alert.cluster:
        fields.append(_field("Cluster", alert.cluster))
    reason, by = _why(alert)
    if reason:
        fields.append(_field("Reason", reason))
    if by:
        fields.append(_field("Changed by", by))
    event = alert.event or {}
    for label, key in (("User", "user"), ("Verb", "verb"), ("Source IP", "source_ip")):
        if event.get(key):
            fields.append(_field(label, event[key]))
    context = [timestamp(alert.at)]
    if event.get("audit_id"):
        context.append(f"audit ID {event['audit_id']}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": cut(
                    f"{emoji} {alert.severity.value.upper()} · {alert.rule_id}", HEADER_LIMIT
                ),
                "emoji": True,
            },
        },
        {"type": "section", "fields": fields[:10]},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(escape(alert.message), SECTION_LIMIT)},
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": escape(" · ".join(context))}],
        },
    ]
    return {"text": cut(escape(summary(alert)), SECTION_LIMIT), "blocks": blocks}


def slack_json(alert: Alert) -> bytes:
    return json.dumps(slack_payload(alert), ensure_ascii=False, separators=(",", ":")).encode()
