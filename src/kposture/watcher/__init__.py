"""The real-time watcher (``kposture watch``): list then watch the kinds the rules need, keep the
inventory current, re-evaluate only what a change affects, and hand finding transitions to the
store and the alert sinks."""
