"""East-west traffic: namespaces and workloads without NetworkPolicy isolation, permissive service
mesh mTLS and exposed Services and Ingresses (CIS Kubernetes Benchmark 5.3.2, OWASP K07).
"""

from __future__ import annotations

from kposture.rules.base import Rule

RULES: tuple[Rule, ...] = ()
