"""Workload-privilege rules: JSON paths of findings, precedence details, which of the overlapping
rules reports a case (hostPath, capabilities, seccomp), metadata quality."""

from __future__ import annotations

import pytest
import yaml

from kposture.model import Domain, Framework, format_path
from kposture.rules import workload_hardening, workload_host_access, workload_privileges
from kposture.rules.workload_host_access import (
    PLAIN,
    RUNTIME_SOCKET,
    SENSITIVE,
    host_path_class,
)
from kposture.rules.workload_privileges import capability_rule
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
    # SYS_ADMIN is dangerous-capabilities' alone; capabilities-not-dropped only misses drop: [ALL].
    "added-capabilities": [],
    "capabilities-not-dropped": [
        "spec.template.spec.containers[0].securityContext.capabilities.drop"
    ],
    "seccomp-profile-missing": [
        "spec.template.spec.containers[0].securityContext.seccompProfile.type"
    ],
    "apparmor-unconfined": [
        'spec.template.metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]'
    ],
    "unsafe-sysctls": ["spec.template.spec.securityContext.sysctls[0].name"],
    # The docker socket is container-runtime-socket's alone.
    "container-runtime-socket": ["spec.template.spec.volumes[0].hostPath.path"],
    "sensitive-host-path": [],
    "host-path-volume": [],
    "restricted-volume-types": [],
    "resource-limits-missing": ["spec.template.spec.containers[0].resources.limits.cpu"],
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


UNCONFINED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {seccompProfile: {type: Unconfined}}
  containers: [{name: a, image: x:1}, {name: b, image: x:1}]
"""


def test_pod_level_unconfined_is_one_seccomp_unconfined_finding() -> None:
    objs = objects_from_text(UNCONFINED_POD)
    assert violations("seccomp-profile-missing", objs) == []
    (found,) = violations("seccomp-unconfined", objs)
    assert format_path(found.path) == "spec.securityContext.seccompProfile.type"
    assert found.evidence == ()  # the containers are named in the message, not fingerprinted
    assert "in effect for containers 'a', 'b'" in found.message


def test_pod_level_unconfined_overridden_by_every_container_still_fails() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {seccompProfile: {type: Unconfined}}
  containers:
    - {name: a, image: x:1, securityContext: {seccompProfile: {type: RuntimeDefault}}}
"""
    objs = objects_from_text(pod)
    (found,) = violations("seccomp-unconfined", objs)
    assert found.evidence == (("in_effect", "false"),)
    assert "overridden by every container" in found.message
    assert violations("seccomp-profile-missing", objs) == []


def test_missing_seccomp_message_matches_title() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: x:1}, {name: b, image: x:1}]
"""
    found = violations("seccomp-profile-missing", objects_from_text(pod))
    assert [v.message for v in found] == [
        "container 'a' has no seccomp profile set",
        "container 'b' has no seccomp profile set",
    ]
    assert RULES_BY_ID["seccomp-profile-missing"].meta.title == "No seccomp profile set"


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
    objs = objects_from_text(pod)
    assert violations("seccomp-profile-missing", objs) == []
    (found,) = violations("seccomp-unconfined", objs)
    assert found.evidence == (("container", "a"),)


def test_unrecognised_profile_is_reported_as_missing() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {container.seccomp.security.alpha.kubernetes.io/a: docker/unknown}
spec:
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers: [{name: a, image: x:1}, {name: b, image: x:1}]
"""
    objs = objects_from_text(pod)
    (found,) = violations("seccomp-profile-missing", objs)
    assert found.evidence == (("container", "a"),)
    assert "'docker/unknown', which is neither RuntimeDefault nor Localhost" in found.message
    assert violations("seccomp-unconfined", objs) == []


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


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/var/run/docker.sock", RUNTIME_SOCKET),
        ("/run/containerd/containerd.sock", RUNTIME_SOCKET),
        ("/run/k3s/containerd/containerd.sock", RUNTIME_SOCKET),
        ("/var/run", RUNTIME_SOCKET),
        ("/run", RUNTIME_SOCKET),
        ("/run/containerd", RUNTIME_SOCKET),
        ("/var/run/crio", RUNTIME_SOCKET),
        ("/", SENSITIVE),
        ("/var", SENSITIVE),
        ("/run/secrets", SENSITIVE),
        ("/var/lib/docker", SENSITIVE),
        ("/etc/kubernetes/admin.conf", SENSITIVE),
        ("/usr/bin/containerd", PLAIN),
        ("/opt/app/sockets/app.sock", PLAIN),
        ("/etcetera", PLAIN),
        ("", PLAIN),
    ],
)
def test_each_host_path_has_one_rule(path: str, expected: str) -> None:
    assert host_path_class(path) == expected


HOST_PATH_RULES = ("container-runtime-socket", "sensitive-host-path", "host-path-volume")


@pytest.mark.parametrize(
    ("host_path", "rule_id"),
    [
        ("/var/run/docker.sock", "container-runtime-socket"),
        ("/", "sensitive-host-path"),
        ("/opt/data", "host-path-volume"),
    ],
)
def test_host_path_is_reported_once(host_path: str, rule_id: str) -> None:
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers: [{{name: a, image: x:1}}]
  volumes: [{{name: v, hostPath: {{path: "{host_path}"}}}}]
"""
    objs = objects_from_text(pod)
    found = {
        rid: len(violations(rid, objs)) for rid in (*HOST_PATH_RULES, "restricted-volume-types")
    }
    assert found == {rid: int(rid == rule_id) for rid in found}


def test_runtime_socket_messages_say_socket_or_directory() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: x:1}]
  volumes:
    - {name: sock, hostPath: {path: /run/containerd/containerd.sock}}
    - {name: run, hostPath: {path: /var/run}}
"""
    first, second = violations("container-runtime-socket", objects_from_text(pod))
    assert first.message == (
        "volume 'sock' mounts the container runtime socket /run/containerd/containerd.sock"
    )
    assert "mounts /var/run, the directory holding the container runtime socket" in second.message


def test_restricted_volume_types_still_reports_other_types_beside_host_path() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: x:1}]
  volumes:
    - {name: h, hostPath: {path: /data}}
    - {name: n, nfs: {server: nfs.example, path: /export}}
"""
    found = violations("restricted-volume-types", objects_from_text(pod))
    assert [format_path(v.path) for v in found] == ["spec.volumes[1].nfs"]


@pytest.mark.parametrize(
    ("capability", "rule_id"),
    [
        ("SYS_ADMIN", "dangerous-capabilities"),
        ("NET_ADMIN", "dangerous-capabilities"),
        ("ALL", "dangerous-capabilities"),
        ("NET_RAW", "added-capabilities"),
        ("SYS_TIME", "added-capabilities"),
        ("CHOWN", "capabilities-not-dropped"),
        ("NET_BIND_SERVICE", None),
    ],
)
def test_each_added_capability_has_one_rule(capability: str, rule_id: str | None) -> None:
    assert capability_rule(capability) == rule_id
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
    - name: a
      image: x:1
      securityContext: {{capabilities: {{drop: [ALL], add: [{capability.lower()}]}}}}
"""
    objs = objects_from_text(pod)
    rule_ids = ("dangerous-capabilities", "added-capabilities", "capabilities-not-dropped")
    reporters = [rid for rid in rule_ids if violations(rid, objs)]
    assert reporters == ([rule_id] if rule_id else [])


def test_net_admin_without_drop_is_two_findings_on_two_fields() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - {name: a, image: x:1, securityContext: {capabilities: {add: [NET_ADMIN]}}}
"""
    objs = objects_from_text(pod)
    rule_ids = ("dangerous-capabilities", "added-capabilities", "capabilities-not-dropped")
    found = {rid: [format_path(v.path) for v in violations(rid, objs)] for rid in rule_ids}
    assert found == {
        "dangerous-capabilities": ["spec.containers[0].securityContext.capabilities.add[0]"],
        "added-capabilities": [],
        "capabilities-not-dropped": ["spec.containers[0].securityContext.capabilities.drop"],
    }


HANDED_OVER_REFERENCES = {
    # Each hostPath has one reporting rule, so each cites what restricted-volume-types and
    # host-path-volume used to add to every hostPath: CIS 5.2.12 and both PSS levels.
    "host-path-volume": {"CIS 5.2.12", "PSS baseline", "PSS restricted"},
    "sensitive-host-path": {"CIS 5.2.12", "PSS baseline", "PSS restricted"},
    "container-runtime-socket": {"CIS 5.2.12", "PSS baseline", "PSS restricted"},
    # Each added capability has one reporting rule, so each cites every capability control an
    # add used to fail through the others (capabilities-not-dropped cited 5.2.8, 5.2.10, restricted).
    "dangerous-capabilities": {"CIS 5.2.8", "CIS 5.2.9", "CIS 5.2.10", "PSS baseline", "PSS restricted"},
    "added-capabilities": {"CIS 5.2.8", "CIS 5.2.9", "CIS 5.2.10", "PSS baseline", "PSS restricted"},
    "capabilities-not-dropped": {"CIS 5.2.8", "CIS 5.2.10", "PSS restricted"},
    # An explicit Unconfined is seccomp-unconfined's alone (seccomp-profile-missing cited restricted).
    "seccomp-unconfined": {"CIS 5.7.2", "PSS baseline", "PSS restricted"},
    "seccomp-profile-missing": {"CIS 5.7.2", "PSS restricted"},
}  # fmt: skip


@pytest.mark.parametrize("rule_id", sorted(HANDED_OVER_REFERENCES))
def test_rules_taking_over_a_case_keep_its_references(rule_id: str) -> None:
    cited = {
        f"{reference.framework.value} {reference.id}"
        for reference in RULES_BY_ID[rule_id].meta.references
    }
    assert HANDED_OVER_REFERENCES[rule_id] <= cited, cited


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
