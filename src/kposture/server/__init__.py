"""The HTTPS server (``kposture serve``): the validating admission webhook, /metrics and health.
Started by the CLI; it judges one object per request with the engine's ``evaluate_one`` and never
runs a scan inside a request."""
