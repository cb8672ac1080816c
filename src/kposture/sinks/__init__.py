"""Alert sinks: where finding transitions and detections are sent — JSON lines on stdout, a generic
webhook with retries and an on-disk queue, a Slack-compatible webhook. Imports only the model.

A driver builds the sinks once from configuration and hands every ``Alert`` to the fan-out::

    config = parse_alert_flags(["stdout", "webhook[min=high]=https://..."], min_severity="medium")
    sinks = build_sinks(config)      # starts the webhook delivery threads
    sinks.send(alert)                # never blocks on the network
    sinks.stats()                    # {sink name: {"sent": ..., "pending": ...}} for metrics
    sinks.close(timeout=5)           # delivers what it can; spooled alerts wait for the next start

The shapes, the flag syntax and the policy file block are documented in docs/alerts.md.
"""

from kposture.sinks.base import COUNTERS, Sink, SinkStats
from kposture.sinks.building import AlertSetupError, build_sinks, default_spool_root
from kposture.sinks.delivering import Backoff, Response
from kposture.sinks.documents import ALERT_SCHEMA, alert_document, alert_json
from kposture.sinks.fanning import Sinks
from kposture.sinks.json_lines import JsonLinesSink
from kposture.sinks.routing import Deduplicator, Route
from kposture.sinks.slack_payloads import slack_json, slack_payload
from kposture.sinks.specs import (
    AlertsConfig,
    AlertSpecError,
    SinkSpec,
    parse_alert_flag,
    parse_alert_flags,
    parse_alerts_block,
)
from kposture.sinks.spools import DirectorySpool, MemorySpool, SpoolError
from kposture.sinks.webhooks import WebhookSink, slack_sink

__all__ = [
    "ALERT_SCHEMA",
    "COUNTERS",
    "AlertSetupError",
    "AlertSpecError",
    "AlertsConfig",
    "Backoff",
    "Deduplicator",
    "DirectorySpool",
    "JsonLinesSink",
    "MemorySpool",
    "Response",
    "Route",
    "Sink",
    "SinkSpec",
    "SinkStats",
    "Sinks",
    "SpoolError",
    "WebhookSink",
    "alert_document",
    "alert_json",
    "build_sinks",
    "default_spool_root",
    "parse_alert_flag",
    "parse_alert_flags",
    "parse_alerts_block",
    "slack_json",
    "slack_payload",
    "slack_sink",
]
