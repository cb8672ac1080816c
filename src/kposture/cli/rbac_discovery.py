"""Which API group serves a resource named without one, asked of the live cluster (``--cluster``):
``who-can bind clusterroles`` means ``clusterroles.rbac.authorization.k8s.io`` there, as
``kubectl auth can-i`` resolves it. Manifests have no discovery: they keep the name as given (and
the hint of ``rbac_commands.resource_notes``).
"""

from __future__ import annotations

from kposture.sources.cluster_config import ClusterError, connect
from kposture.sources.cluster_listing import groups_serving


def discovered_group(plural: str, kubeconfig: str | None, context: str | None) -> str | None:
    """The one API group other than core that serves ``plural`` on the cluster; None when core
    serves it, no group or several do, or discovery cannot be read."""
    try:
        connection = connect(kubeconfig, context)
    except ClusterError:
        return None
    groups = groups_serving(connection.transport, plural)
    return groups[0] if len(groups) == 1 and groups[0] else None
