"""RBAC least privilege: over-broad Roles and ClusterRoles, and bindings that hand out cluster-admin,
``system:masters`` or access to anonymous users (CIS Kubernetes Benchmark 5.1).
"""

from __future__ import annotations

from kposture.rules.base import Rule

RULES: tuple[Rule, ...] = ()
