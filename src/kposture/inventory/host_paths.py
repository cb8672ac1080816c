"""Host paths a pod may mount, classified: the container runtime socket, sensitive node directories,
and the rest.

Owned here (and not in the workload rule family) because both the hostPath rules and the audit-log
detection of privileged pods judge the same paths the same way.
"""

from __future__ import annotations

import posixpath

SENSITIVE_HOST_PATHS = frozenset(
    {
        "/etc",
        "/proc",
        "/sys",
        "/root",
        "/boot",
        "/dev",
        "/run",
        "/var/run",
        "/var/log",
        "/var/lib/kubelet",
        "/var/lib/docker",
        "/var/lib/containerd",
        "/var/lib/etcd",
        "/etc/kubernetes",
    }
)
"""Host directories whose contents (or parents) hand over the node: "/" matches everything."""
# /run and /var/run stay here so that their subdirectories (/run/secrets...) and ancestors (/var)
# are sensitive; the two directories themselves are runtime-socket directories, reported as such.

RUNTIME_SOCKET_NAMES = (
    "docker.sock",
    "containerd.sock",
    "crio.sock",
    "cri-dockerd.sock",
    "dockershim.sock",
    "podman.sock",
)
RUNTIME_SOCKET_DIRS = frozenset(
    {
        "/run",
        "/var/run",
        "/run/containerd",
        "/var/run/containerd",
        "/run/crio",
        "/var/run/crio",
        "/run/podman",
        "/var/run/podman",
        "/run/k3s",
        "/run/k3s/containerd",
    }
)
"""Directories that directly hold a container runtime socket on common distributions, so mounting
one exposes the socket. Their ancestors (``/``, ``/var``) expose it too, but hand over far more of the
node: they are sensitive host paths, reported as such."""

RUNTIME_SOCKET = "runtime-socket"
SENSITIVE = "sensitive"
PLAIN = "plain"


def normalize_host_path(path: str) -> str:
    """``/var/run/`` and ``//var/./run`` are ``/var/run``; a relative path is read from the root."""
    # POSIX keeps a leading "//", so strip every leading slash before adding one back.
    return posixpath.normpath("/" + path.strip().lstrip("/"))


def path_overlaps(path: str, prefixes: frozenset[str]) -> bool:
    """Whether ``path`` is one of ``prefixes``, lies below one, or is an ancestor of one."""
    if not path:
        return False
    if path == "/" or path in prefixes:
        return True
    for prefix in prefixes:
        if path.startswith(prefix) and path[len(prefix)] == "/":
            return True
        if prefix.startswith(path) and prefix[len(path)] == "/":
            return True
    return False


def host_path_class(path: str) -> str:
    """Which hostPath rule reports a normalised host path: the most specific one that applies.

    A runtime socket, or a directory that directly holds one, is ``RUNTIME_SOCKET``; any other
    path that is, lies below or contains a sensitive directory is ``SENSITIVE``; everything else
    (an empty path included) is ``PLAIN``.
    """
    if path in RUNTIME_SOCKET_DIRS or any(name in path for name in RUNTIME_SOCKET_NAMES):
        return RUNTIME_SOCKET
    if path_overlaps(path, SENSITIVE_HOST_PATHS):
        return SENSITIVE
    return PLAIN
