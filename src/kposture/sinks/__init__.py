"""Alert sinks: where finding transitions and detections are sent — JSON lines on stdout, a generic
webhook with retries and an on-disk queue, a Slack-compatible webhook. Imports only the model."""
