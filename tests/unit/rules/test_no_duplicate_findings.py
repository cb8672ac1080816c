"""One misconfiguration, one finding: no two findings on a workload point at the same field.

Every built-in rule runs over a set of representative workloads (the cases of the user review that
produced four findings for one docker socket, a workload with every privilege problem at once, the
workload rules' fixtures and, when the corpus is present, Kubernetes Goat). Two findings on the same
resource and JSON path are allowed only for the rule pairs listed in ``ALLOWED_SHARED_PATHS``, each
with the reason the two rules judge different things; one rule never reports the same path twice.
The ``pass-*-reported-elsewhere`` fixtures show the hand-over: the rule they belong to stays quiet
and the rule named in ``HANDED_OVER`` reports the case instead, so no coverage is lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from kposture.inventory import WORKLOAD_KINDS, Inventory
from kposture.model import JsonPath, K8sObject, ResourceRef, RunPolicy, format_path
from kposture.rules import workload_hardening, workload_host_access, workload_privileges
from support import RULES_BY_ID, load_objects, objects_from_text

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"
WORKLOAD_RULE_IDS = frozenset(
    rule.id
    for family in (workload_privileges, workload_host_access, workload_hardening)
    for rule in family.RULES
)

ALLOWED_SHARED_PATHS: dict[frozenset[str], str] = {
    frozenset({"image-tag-mutable", "image-not-pinned"}): (
        "both point at containers[].image: one judges the tag (latest or none), the other the "
        "missing digest; a tagged image without a digest fails only the second"
    ),
    frozenset({"workload-not-isolated", "workload-egress-unrestricted"}): (
        "both point at the workload: one judges ingress isolation, the other egress"
    ),
}
"""Rule pairs that may report the same field of the same resource, and why. None of the 23 workload
rules is in a pair: hostPath volumes, added capabilities and seccomp Unconfined each have exactly
one reporting rule, and privileged-container / privilege-escalation-allowed, runs-as-root,
seccomp-unconfined / seccomp-profile-missing and the host namespace rules point at distinct fields."""

HANDED_OVER: dict[str, str] = {
    "host-path-volume/pass-docker-socket-reported-elsewhere": "container-runtime-socket",
    "host-path-volume/pass-sensitive-reported-elsewhere": "sensitive-host-path",
    "sensitive-host-path/pass-runtime-socket-reported-elsewhere": "container-runtime-socket",
    "container-runtime-socket/pass-root-reported-elsewhere": "sensitive-host-path",
    "restricted-volume-types/pass-host-path-reported-elsewhere": "sensitive-host-path",
    "added-capabilities/pass-dangerous-reported-elsewhere": "dangerous-capabilities",
    "dangerous-capabilities/pass-non-dangerous-reported-elsewhere": "added-capabilities",
    "capabilities-not-dropped/pass-dangerous-added-reported-elsewhere": "dangerous-capabilities",
    "capabilities-not-dropped/pass-non-baseline-added-reported-elsewhere": "added-capabilities",
    "seccomp-profile-missing/pass-container-unconfined-reported-elsewhere": "seccomp-unconfined",
    "seccomp-profile-missing/pass-legacy-annotation-unconfined-reported-elsewhere": (
        "seccomp-unconfined"
    ),
    "seccomp-profile-missing/pass-pod-unconfined-reported-elsewhere": "seccomp-unconfined",
}
"""Pass fixture -> the rule that reports its case instead."""

REPRESENTATIVE = """
apiVersion: v1
kind: Pod
metadata: {name: docker-socket, namespace: shop}
spec:
  containers: [{name: app, image: registry.example/app:1.0}]
  volumes: [{name: docker, hostPath: {path: /var/run/docker.sock}}]
---
apiVersion: v1
kind: Pod
metadata: {name: host-root, namespace: shop}
spec:
  containers: [{name: app, image: registry.example/app:1.0}]
  volumes: [{name: host, hostPath: {path: /}}]
---
apiVersion: v1
kind: Pod
metadata: {name: net-admin, namespace: shop}
spec:
  containers:
    - {name: app, image: registry.example/app:1.0, securityContext: {capabilities: {add: [NET_ADMIN]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: unconfined, namespace: shop}
spec:
  securityContext: {seccompProfile: {type: Unconfined}}
  containers:
    - {name: a, image: registry.example/app:1.0}
    - {name: b, image: registry.example/app:1.0}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everything, namespace: shop}
spec:
  selector: {matchLabels: {app: everything}}
  template:
    metadata:
      labels: {app: everything}
      annotations:
        seccomp.security.alpha.kubernetes.io/pod: unconfined
        container.apparmor.security.beta.kubernetes.io/app: unconfined
    spec:
      hostPID: true
      hostIPC: true
      hostNetwork: true
      securityContext:
        runAsUser: 0
        seccompProfile: {type: Unconfined}
        seLinuxOptions: {user: system_u, type: spc_t}
        sysctls: [{name: kernel.msgmax, value: "1"}]
      initContainers:
        - name: init
          image: registry.example/init:latest
          securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN, CHOWN]}}
      containers:
        - name: app
          image: registry.example/app
          ports: [{containerPort: 80, hostPort: 80}]
          securityContext:
            privileged: true
            allowPrivilegeEscalation: true
            runAsUser: 0
            readOnlyRootFilesystem: false
            procMount: Unmasked
            seccompProfile: {type: Unconfined}
            appArmorProfile: {type: Unconfined}
            capabilities: {drop: [NET_RAW], add: [ALL, NET_RAW, SYS_TIME, CHOWN, NET_BIND_SERVICE]}
            windowsOptions: {hostProcess: true}
      ephemeralContainers:
        - name: debug
          image: registry.example/debug:1.0
          securityContext: {capabilities: {add: [SYS_PTRACE]}}
      volumes:
        - {name: root, hostPath: {path: /}}
        - {name: var, hostPath: {path: /var}}
        - {name: run, hostPath: {path: /run}}
        - {name: sock, hostPath: {path: /run/containerd/containerd.sock}}
        - {name: kubelet, hostPath: {path: /var/lib/kubelet}}
        - {name: data, hostPath: {path: /opt/data}}
        - {name: empty, hostPath: {}}
        - {name: share, nfs: {server: nfs.example, path: /export}}
        - {name: repo, gitRepo: {repository: "https://git.example/r.git"}}
        - {name: scratch, emptyDir: {}}
"""

Key = tuple[str, ResourceRef, JsonPath]


def _workload_fixtures() -> list[Path]:
    return sorted(
        path
        for rule_id in WORKLOAD_RULE_IDS
        for path in (FIXTURES / rule_id).glob("*.yaml")
        if path.name != "policy.yaml"
    )


def _findings(objects: list[K8sObject]) -> dict[Key, list[str]]:
    """(file, resource, path) -> the ids of the rules reporting it, one entry per finding."""
    inventory = Inventory(objects)
    found: dict[Key, list[str]] = defaultdict(list)
    for obj in objects:
        if obj.ref.kind not in WORKLOAD_KINDS:
            continue
        file = obj.location.file if obj.location else ""
        for rule_id, rule in RULES_BY_ID.items():
            check = rule.configured(RunPolicy()).check
            if check is None or obj.ref.kind not in rule.meta.kinds:
                continue
            for violation in check(obj, inventory):
                found[(file, obj.ref, violation.path)].append(rule_id)
    return found


def _shared(found: dict[Key, list[str]]) -> list[str]:
    """Every field reported twice by one rule, or by two rules not allowed to share it."""
    problems = []
    for (file, ref, path), rule_ids in sorted(found.items(), key=str):
        where = f"{Path(file).name} {ref.kind}/{ref.name} {format_path(path)}"
        repeated = sorted({rule_id for rule_id in rule_ids if rule_ids.count(rule_id) > 1})
        if repeated:
            problems.append(f"{where}: reported more than once by {repeated}")
        distinct = sorted(set(rule_ids))
        for index, first in enumerate(distinct):
            for second in distinct[index + 1 :]:
                if frozenset({first, second}) not in ALLOWED_SHARED_PATHS:
                    problems.append(f"{where}: {first} and {second}")
    return problems


SOURCES: dict[str, Callable[[], list[K8sObject]]] = {
    "representative": lambda: objects_from_text(REPRESENTATIVE),
    "workload-fixtures": lambda: load_objects(_workload_fixtures()),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_no_two_findings_share_a_field(source: str) -> None:
    found = _findings(SOURCES[source]())
    assert found, f"{source}: no findings at all"
    problems = _shared(found)
    assert not problems, "\n".join(problems)


def test_no_two_findings_share_a_field_on_goat(corpus: Path) -> None:
    root = corpus / "goat"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Kubernetes Goat corpus not found under {root}")
    problems = _shared(_findings(load_objects([root / "scenarios", root / "infrastructure"])))
    assert not problems, "\n".join(problems)


def _rules_firing(objects: list[K8sObject]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for rule_ids in _findings(objects).values():
        for rule_id in rule_ids:
            counts[rule_id] += 1
    return counts


def test_review_cases_are_one_finding_each() -> None:
    """The user review's cases: one hostPath, one capability, one Unconfined -> one finding."""
    objects = objects_from_text(REPRESENTATIVE)
    by_pod: dict[str, list[str]] = defaultdict(list)
    for (_file, ref, _path), rule_ids in _findings(objects).items():
        by_pod[ref.name].extend(rule_id for rule_id in rule_ids if rule_id in WORKLOAD_RULE_IDS)
    assert by_pod["docker-socket"].count("container-runtime-socket") == 1
    assert not {"host-path-volume", "sensitive-host-path", "restricted-volume-types"} & set(
        by_pod["docker-socket"]
    )
    assert by_pod["host-root"].count("sensitive-host-path") == 1
    assert not {"host-path-volume", "container-runtime-socket", "restricted-volume-types"} & set(
        by_pod["host-root"]
    )
    assert by_pod["net-admin"].count("dangerous-capabilities") == 1
    assert "added-capabilities" not in by_pod["net-admin"]
    assert by_pod["net-admin"].count("capabilities-not-dropped") == 1  # "does not drop ALL"
    assert by_pod["unconfined"].count("seccomp-unconfined") == 1
    assert "seccomp-profile-missing" not in by_pod["unconfined"]


@pytest.mark.parametrize("fixture", sorted(HANDED_OVER))
def test_handed_over_cases_are_reported_by_the_other_rule(fixture: str) -> None:
    rule_id, _, stem = fixture.partition("/")
    counts = _rules_firing(load_objects([FIXTURES / rule_id / f"{stem}.yaml"]))
    assert counts.get(rule_id, 0) == 0
    assert counts.get(HANDED_OVER[fixture], 0) >= 1


def test_every_reported_elsewhere_fixture_names_its_reporter() -> None:
    stems = {
        f"{path.parent.name}/{path.stem}"
        for path in _workload_fixtures()
        if path.stem.endswith("-reported-elsewhere")
    }
    assert stems == set(HANDED_OVER)
