"""Workload-privilege rules: JSON paths of findings, precedence details, metadata quality."""

from __future__ import annotations

import pytest
import yaml

from kposture.model import Domain, Framework, format_path
from kposture.rules import workload_hardening, workload_host_access, workload_privileges
from support import RULES_BY_ID, objects_from_text, violations

WORKLOAD_RULES = [
    *workload_privileges.RULES,
    *workload_host_access.RULES,
    *workload_hardening.RULES,
]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        container.apparmor.security.beta.kubernetes.io/app: unconfined
    spec:
      securityContext:
        runAsUser: 0
        sysctls:
          - {name: kernel.msgmax, value: "1"}
      containers:
        - name: app
          image: registry.example/app:1.0
          securityContext:
            capabilities:
              add: [NET_BIND_SERVICE, cap_sys_admin]
          resources:
            limits: {memory: 64Mi}
      volumes:
        - name: sock
          hostPath: {path: /var/run/docker.sock}
"""

EXPECTED_PATHS = {
    "privilege-escalation-allowed": [
        "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation"
    ],
    "runs-as-root": ["spec.template.spec.securityContext.runAsUser"],
    "dangerous-capabilities": [
        "spec.template.spec.containers[0].securityContext.capabilities.add[1]"
    ],
    "capabilities-not-dropped": [
        "spec.template.spec.containers[0].securityContext.capabilities.drop",
        "spec.template.spec.containers[0].securityContext.capabilities.add[1]",
    ],
    "seccomp-profile-missing": [
        "spec.template.spec.containers[0].securityContext.seccompProfile.type"
    ],
    "apparmor-unconfined": [
        'spec.template.metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]'
    ],
    "unsafe-sysctls": ["spec.template.spec.securityContext.sysctls[0].name"],
    "container-runtime-socket": ["spec.template.spec.volumes[0].hostPath.path"],
    "resource-limits-missing": ["spec.template.spec.containers[0].resources.limits.cpu"],
    "restricted-volume-types": ["spec.template.spec.volumes[0].hostPath"],
}


@pytest.mark.parametrize("rule_id", sorted(EXPECTED_PATHS))
def test_findings_point_at_the_field(rule_id: str) -> None:
    found = violations(rule_id, objects_from_text(DEPLOYMENT))
    assert [format_path(violation.path) for violation in found] == EXPECTED_PATHS[rule_id]


def test_messages_name_container_and_value() -> None:
    objs = objects_from_text(DEPLOYMENT)
    (socket,) = violations("container-runtime-socket", objs)
    assert "'sock'" in socket.message and "/var/run/docker.sock" in socket.message
    (dangerous,) = violations("dangerous-capabilities", objs)
    assert "'app'" in dangerous.message and "SYS_ADMIN" in dangerous.message


def test_pod_seccomp_path_when_pod_level_is_unconfined() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {seccompProfile: {type: Unconfined}}
  containers: [{name: a, image: x:1}, {name: b, image: x:1}]
"""
    found = violations("seccomp-profile-missing", objects_from_text(pod))
    assert [format_path(v.path) for v in found] == ["spec.securityContext.seccompProfile.type"] * 2
    assert [v.evidence for v in found] == [(("container", "a"),), (("container", "b"),)]


def test_container_annotation_wins_over_pod_field() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {container.seccomp.security.alpha.kubernetes.io/a: unconfined}
spec:
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers: [{name: a, image: x:1}, {name: b, image: x:1}]
"""
    found = violations("seccomp-profile-missing", objects_from_text(pod))
    assert [v.evidence for v in found] == [(("container", "a"),)]


def test_runs_as_root_reports_pod_uid_zero_once() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsUser: 0, runAsNonRoot: true}
  containers: [{name: a, image: x:1}, {name: b, image: x:1, securityContext: {runAsUser: 1000}}]
"""
    found = violations("runs-as-root", objects_from_text(pod))
    assert [format_path(v.path) for v in found] == ["spec.securityContext.runAsUser"]


def test_sensitive_host_path_normalises() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: x:1}]
  volumes:
    - {name: a, hostPath: {path: "//etc/./kubernetes/"}}
    - {name: b, hostPath: {path: /etcd-backup}}
    - {name: c, hostPath: {path: /var}}
"""
    found = violations("sensitive-host-path", objects_from_text(pod))
    assert [dict(v.evidence)["host_path"] for v in found] == ["/etc/kubernetes", "/var"]


@pytest.mark.parametrize("rule", WORKLOAD_RULES, ids=lambda rule: rule.id)
def test_metadata_quality(rule: object) -> None:
    meta = RULES_BY_ID[rule.id].meta  # type: ignore[attr-defined]
    assert meta.domain is Domain.WORKLOAD_PRIVILEGES
    assert len(meta.title) < 80
    assert meta.remediation.endswith(".") and meta.remediation.count(". ") == 0
    sentences = meta.description.count(". ") + 1
    assert 1 <= sentences <= 5, meta.description
    frameworks = {reference.framework for reference in meta.references}
    assert Framework.OWASP in frameworks
    assert frameworks & {Framework.PSS, Framework.NSA_CISA}
    assert isinstance(yaml.safe_load(meta.fix_snippet), (dict, list, type(None)))


def test_catalogue_ids_are_all_present() -> None:
    expected = {
        "privileged-container", "privilege-escalation-allowed", "runs-as-root", "host-pid",
        "host-ipc", "host-network", "host-ports", "host-path-volume", "sensitive-host-path",
        "container-runtime-socket", "added-capabilities", "dangerous-capabilities",
        "capabilities-not-dropped", "seccomp-unconfined", "seccomp-profile-missing",
        "apparmor-unconfined", "selinux-custom-options", "proc-mount-unmasked", "unsafe-sysctls",
        "writable-root-filesystem", "restricted-volume-types", "windows-host-process",
        "resource-limits-missing",
    }  # fmt: skip
    assert {rule.id for rule in WORKLOAD_RULES} == expected
