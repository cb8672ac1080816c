"""Service accounts and namespaces: default ServiceAccounts, token automounting, long-lived tokens
and objects left in the ``default`` namespace (CIS Kubernetes Benchmark 5.1.5, 5.1.6, 5.7.4).
"""

from __future__ import annotations

from kposture.rules.base import Rule

RULES: tuple[Rule, ...] = ()
