"""Images and supply chain: mutable tags, unpinned digests and registries outside the allowlist
(CIS Kubernetes Benchmark 5.5.1, OWASP K02).
"""

from __future__ import annotations

from kposture.rules.base import Rule

RULES: tuple[Rule, ...] = ()
