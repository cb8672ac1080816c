"""Secrets: credentials written into manifests (environment variables, ConfigMaps) and Secrets
exposed as environment variables (CIS Kubernetes Benchmark 5.4, OWASP K08).
"""

from __future__ import annotations

from kposture.rules.base import Rule

RULES: tuple[Rule, ...] = ()
