"""Accuracy of the audit-log detections on Falco's labelled audit events (``auditlogs/falco``).

Every file labelled suspicious must raise an alert of the detection that corresponds to the Falco
rule Falco expects; no benign file may raise any alert; activity-only and policy-dependent files are
held to the exact table in docs/accuracy.md, so any change in what fires there is seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kposture.detections import Detector
from kposture.sources.audit_logs import AuditLogReader

FALCO_TO_DETECTION = {
    "Anonymous Request Allowed": "anonymous-request-allowed",
    "Attach to cluster-admin Role": "cluster-admin-granted",
    "Attach/Exec Pod": "pod-exec",
    "ClusterRole With Pod Exec Created": "sensitive-role-created",
    "ClusterRole With Wildcard Created": "sensitive-role-created",
    "ClusterRole With Write Privileges Created": "sensitive-role-created",
    "Create/Modify Configmap With Private Credentials": "configmap-credentials-written",
    "Create HostNetwork Pod": "privileged-pod-created",
    "Create Privileged Pod": "privileged-pod-created",
    "Create Sensitive Mount Pod": "privileged-pod-created",
    "Create NodePort Service": "nodeport-service-created",
    # Falco's files have the replicaset-controller create the pod: Kubernetes' own identity, which
    # pod-in-system-namespace does not judge; the pod's image from outside the system registries is
    # what gives it away.
    "Pod Created in Kube Namespace": "system-namespace-foreign-image",
    "Service Account Created in Kube Namespace": "serviceaccount-in-system-namespace",
    "System ClusterRole Modified/Deleted": "system-role-modified",
}

# What fires on files that are neither suspicious nor benign (Falco: informational rules only, or
# a verdict that depends on a user's rule overrides), and besides the wanted detection on
# suspicious files. Empty unless listed.
EXPECTED_OTHERS: dict[str, set[str]] = {}


def _labels(corpus: Path) -> list[dict[str, object]]:
    path = corpus / "auditlogs" / "falco" / "expected.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    files: list[dict[str, object]] = json.loads(path.read_text())["files"]
    return files


def _fired(corpus: Path, trace: str) -> tuple[set[str], int]:
    reader = AuditLogReader()
    detector = Detector()
    alerts = detector.process_all(reader.read_file(corpus / "auditlogs" / "falco" / trace))
    assert detector.stats.errors == 0, detector.stats.error_messages
    return {alert.detection_id for alert in alerts}, reader.stats.events


def test_every_labelled_file_file_by_file(corpus: Path) -> None:
    files = _labels(corpus)
    assert len(files) == 47
    events = 0
    table: dict[str, list[str]] = {"suspicious": [], "benign": [], "other": []}
    for entry in files:
        trace = str(entry["trace_file"])
        name = Path(trace).name
        label = str(entry["label"])
        fired, count = _fired(corpus, trace)
        events += count
        if label == "suspicious":
            wanted = {FALCO_TO_DETECTION[rule] for rule in entry["falco_rules_expected"]}  # type: ignore[attr-defined]
            assert wanted <= fired, f"{name}: wanted {wanted}, fired {fired}"
            extra = fired - wanted
            assert extra == EXPECTED_OTHERS.get(name, set()) - wanted, f"{name}: also {extra}"
            table["suspicious"].append(name)
        elif label.startswith("benign"):
            assert fired == set(), f"{name} is benign but raised {fired}"
            table["benign"].append(name)
        else:
            assert fired == EXPECTED_OTHERS.get(name, set()), f"{name}: {fired}"
            table["other"].append(name)
    # 52 events in 47 files, one of which is the malformed record {"kind": 0}.
    assert events == 51
    assert (len(table["suspicious"]), len(table["benign"]), len(table["other"])) == (22, 7, 18)


def test_the_malformed_benign_record_is_skipped_not_judged(corpus: Path) -> None:
    _labels(corpus)
    reader = AuditLogReader()
    path = corpus / "auditlogs" / "falco" / "trace_files" / "fal_01_003.json"
    assert list(reader.read_file(path)) == []
    assert reader.stats.skipped_total == 1
    assert reader.stats.issues[0].line == 1
