"""Workload host access: the rules that keep a pod out of the node's namespaces and filesystem.

Owns the host namespaces (PID, IPC, network), host ports and hostPath volumes — the Pod Security
Standards "baseline" host controls and CIS Kubernetes Benchmark 5.2.3-5.2.5, 5.2.12 and 5.2.13. Each
hostPath volume is reported by exactly one of three rules, the most specific that applies
(``host_path_class``): ``container-runtime-socket``, else ``sensitive-host-path``, else
``host-path-volume``. All three cite CIS 5.2.12 and PSS baseline and restricted (restricted forbids
hostPath among its volume types), so those controls fail whichever of them reports. Privilege
controls live in ``workload_privileges``, hardening controls (including the other volume types PSS
restricted forbids) in ``workload_hardening``.
"""

from __future__ import annotations

from collections.abc import Iterator

from kposture.inventory import Inventory, containers
from kposture.inventory.host_paths import (
    PLAIN,
    RUNTIME_SOCKET,
    RUNTIME_SOCKET_DIRS,
    RUNTIME_SOCKET_NAMES,
    SENSITIVE,
    SENSITIVE_HOST_PATHS,
    host_path_class,
)
from kposture.model import K8sObject, Reference, Severity, Stage, Violation
from kposture.rules._references import (
    BASELINE,
    CIS,
    ESCAPE,
    K01,
    MITRE,
    POD_SECURITY,
    RESTRICTED,
)
from kposture.rules._templates import (
    host_path_check,
    mapping,
    pod_flag_check,
    workload_meta,
)
from kposture.rules.base import Rule

# The path classes live in the inventory, shared with the audit-log detections; re-exported here.
__all__ = [
    "PLAIN",
    "RULES",
    "RUNTIME_SOCKET",
    "RUNTIME_SOCKET_DIRS",
    "RUNTIME_SOCKET_NAMES",
    "SENSITIVE",
    "SENSITIVE_HOST_PATHS",
    "host_path_class",
]


# --- checks ---------------------------------------------------------------------------------------

_host_pid = pod_flag_check("hostPID", "the pod shares the host's PID namespace (hostPID: true)")
_host_ipc = pod_flag_check("hostIPC", "the pod shares the host's IPC namespace (hostIPC: true)")
_host_network = pod_flag_check(
    "hostNetwork", "the pod shares the host's network namespace (hostNetwork: true)"
)


def _host_ports(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        ports = ref.container.get("ports")
        if not isinstance(ports, list):
            continue
        for index, port in enumerate(ports):
            host_port = mapping(port).get("hostPort")
            if host_port:  # PSS allows 0 and unset
                yield Violation(
                    f"container {ref.name!r} binds host port {host_port}",
                    (*ref.path, "ports", index, "hostPort"),
                    (("container", ref.name), ("host_port", str(host_port))),
                )


def _describe_socket(name: str, path: str) -> str:
    if path in RUNTIME_SOCKET_DIRS:
        return f"volume {name!r} mounts {path}, the directory holding the container runtime socket"
    return f"volume {name!r} mounts the container runtime socket {path}"


_host_path = host_path_check(
    lambda path: host_path_class(path) == PLAIN,
    lambda name, path: f"volume {name!r} mounts host path {path}",
)

_sensitive_host_path = host_path_check(
    lambda path: host_path_class(path) == SENSITIVE,
    lambda name, path: f"volume {name!r} mounts sensitive host path {path}",
)

_runtime_socket = host_path_check(
    lambda path: host_path_class(path) == RUNTIME_SOCKET, _describe_socket
)


# --- metadata -------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        workload_meta(
            "host-pid",
            "Pod shares the host PID namespace",
            Severity.CRITICAL,
            Stage.CRAWL,
            remediation="Remove hostPID: true from the pod spec.",
            description=(
                "With hostPID the container sees every process on the node, can read their "
                "environment and /proc entries (tokens, secrets) and, with ptrace or root, inject "
                "into them or nsenter into the host. It is a classic escape step."
            ),
            references=(Reference(CIS, "5.2.3"), BASELINE, K01, ESCAPE, POD_SECURITY),
            fix_snippet="spec:\n  hostPID: false\n",
        ),
        _host_pid,
    ),
    Rule(
        workload_meta(
            "host-ipc",
            "Pod shares the host IPC namespace",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Remove hostIPC: true from the pod spec.",
            description=(
                "With hostIPC the container shares System V IPC and POSIX shared memory with every "
                "process on the node, so it can read or corrupt other workloads' shared memory "
                "segments and message queues."
            ),
            references=(Reference(CIS, "5.2.4"), BASELINE, K01, POD_SECURITY),
            fix_snippet="spec:\n  hostIPC: false\n",
        ),
        _host_ipc,
    ),
    Rule(
        workload_meta(
            "host-network",
            "Pod shares the host network namespace",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Remove hostNetwork: true and expose the pod through a Service instead.",
            description=(
                "With hostNetwork the container uses the node's interfaces: it can sniff node "
                "traffic, reach services bound to localhost (kubelet, etcd, cloud metadata "
                "endpoints) and bypass NetworkPolicies, which do not apply to host-network pods."
            ),
            references=(Reference(CIS, "5.2.5"), BASELINE, K01, POD_SECURITY),
            fix_snippet="spec:\n  hostNetwork: false\n",
        ),
        _host_network,
    ),
    Rule(
        workload_meta(
            "host-ports",
            "Container binds a host port",
            Severity.MEDIUM,
            Stage.CRAWL,
            remediation="Remove hostPort and expose the container through a Service.",
            description=(
                "A hostPort opens a port on the node's own address, bypassing Services and most "
                "NetworkPolicy implementations, and ties the pod to nodes where the port is free. "
                "hostPort: 0 is treated as unset, as PSS does."
            ),
            references=(Reference(CIS, "5.2.13"), BASELINE, K01, POD_SECURITY),
            fix_snippet="ports:\n  - containerPort: 8080  # no hostPort\n",
        ),
        _host_ports,
    ),
    Rule(
        workload_meta(
            "host-path-volume",
            "Pod mounts a hostPath volume",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Replace the hostPath volume with an emptyDir, ConfigMap, Secret or PVC.",
            description=(
                "A hostPath volume exposes part of the node's filesystem to the container; written "
                "to, it can plant binaries or cron jobs on the node, and read, it leaks node "
                "credentials. Symlink tricks can reach beyond the mounted directory. Each hostPath "
                "is reported once, by the most specific rule: runtime sockets by "
                "container-runtime-socket, sensitive directories by sensitive-host-path and every "
                "other hostPath (an empty path included) here; together the three rules cover CIS "
                "5.2.12 and the PSS HostPath Volumes control."
            ),
            references=(Reference(CIS, "5.2.12"), BASELINE, RESTRICTED, K01, ESCAPE, POD_SECURITY),
            fix_snippet="volumes:\n  - name: scratch\n    emptyDir: {}\n",
        ),
        _host_path,
    ),
    Rule(
        workload_meta(
            "sensitive-host-path",
            "Pod mounts a sensitive host directory",
            Severity.CRITICAL,
            Stage.CRAWL,
            remediation="Remove the hostPath volume; never mount the host's system directories.",
            description=(
                "Mounting /, /etc, /proc, /sys, /root, /boot, /dev, /var/log, the kubelet, docker, "
                "containerd or etcd state, anything below /run or /var/run, or a directory that "
                "contains one of them hands the container node credentials or a direct write path "
                "to the host (a chroot into / is a full escape; a writable /var/log lets kubelet "
                "follow symlinks to any host file). Runtime sockets and the directories that "
                "directly hold one (/run, /var/run, /run/containerd...) are reported by "
                "container-runtime-socket instead; / and /var hold the socket too but are reported "
                "here, as the wider exposure. These hostPaths are not reported by host-path-volume, "
                "so this rule cites CIS 5.2.12 and PSS restricted as well."
            ),
            references=(
                Reference(CIS, "5.2.12"),
                BASELINE,
                RESTRICTED,
                K01,
                ESCAPE,
                Reference(MITRE, "T1552.001"),
                POD_SECURITY,
            ),
            fix_snippet=(
                "volumes:\n  - name: data\n    persistentVolumeClaim:\n      claimName: data\n"
            ),
        ),
        _sensitive_host_path,
    ),
    Rule(
        workload_meta(
            "container-runtime-socket",
            "Pod mounts the container runtime socket",
            Severity.CRITICAL,
            Stage.CRAWL,
            remediation=(
                "Remove the runtime socket mount; use a dedicated build or metrics service."
            ),
            description=(
                "The docker, containerd, CRI-O, cri-dockerd or podman socket gives whoever reaches "
                "it the runtime's full API: start a privileged container with the host's root "
                "mounted and the node is taken. Mounting a directory that directly holds the socket "
                "(/run, /var/run, /run/containerd, /run/crio, /run/k3s/containerd...) exposes it "
                "the same way and is reported here; / and /var are left to sensitive-host-path. "
                "These hostPaths are reported here only, not by sensitive-host-path or "
                "host-path-volume, so this rule cites CIS 5.2.12 and PSS restricted as well."
            ),
            references=(
                Reference(CIS, "5.2.12"),
                BASELINE,
                RESTRICTED,
                K01,
                ESCAPE,
                Reference(MITRE, "T1610"),
                POD_SECURITY,
            ),
            fix_snippet=(
                "# remove:\n# - name: docker-sock\n#   hostPath:\n#     path: "
                "/var/run/docker.sock\n"
            ),
        ),
        _runtime_socket,
    ),
)
