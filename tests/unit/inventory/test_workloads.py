"""Pod-spec accessors for every workload kind, with init and ephemeral containers and exact paths."""

from __future__ import annotations

from typing import Any

import pytest

from kposture.inventory import WORKLOAD_KINDS, containers, pod_spec, pod_template_metadata
from kposture.model import K8sObject, ResourceRef

POD_SPEC: dict[str, Any] = {
    "initContainers": [{"name": "init"}],
    "containers": [{"name": "app"}, {"name": "sidecar"}],
    "ephemeralContainers": [{"name": "debug"}],
}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}

# (apiVersion, kind, raw without apiVersion/kind/metadata, path of the pod spec)
CASES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("v1", "Pod", {"spec": POD_SPEC}, ("spec",)),
    ("v1", "PodTemplate", {"template": TEMPLATE}, ("template", "spec")),
    ("v1", "ReplicationController", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "Deployment", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "ReplicaSet", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "StatefulSet", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "DaemonSet", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("batch/v1", "Job", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    *[
        (
            version,
            "CronJob",
            {"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}},
            ("spec", "jobTemplate", "spec", "template", "spec"),
        )
        for version in ("batch/v1", "batch/v1beta1")
    ],
]


def make(api_version: str, kind: str, body: dict[str, Any]) -> K8sObject:
    raw = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, **body}
    return K8sObject(ResourceRef(api_version, kind, "ns", "w"), raw)


@pytest.mark.parametrize(("api_version", "kind", "body", "spec_path"), CASES)
def test_every_workload_kind(
    api_version: str, kind: str, body: dict[str, Any], spec_path: tuple[str, ...]
) -> None:
    obj = make(api_version, kind, body)
    ref = pod_spec(obj)
    assert ref is not None
    assert ref.path == spec_path
    assert ref.spec is POD_SPEC
    found = [(c.name, c.list_name, c.path) for c in containers(obj)]
    assert found == [
        ("init", "initContainers", (*spec_path, "initContainers", 0)),
        ("app", "containers", (*spec_path, "containers", 0)),
        ("sidecar", "containers", (*spec_path, "containers", 1)),
        ("debug", "ephemeralContainers", (*spec_path, "ephemeralContainers", 0)),
    ]
    metadata = pod_template_metadata(obj)
    assert metadata is not None
    assert metadata.path == (*spec_path[:-1], "metadata")


def test_kinds_covered() -> None:
    assert {kind for _, kind, _, _ in CASES} == set(WORKLOAD_KINDS)


@pytest.mark.parametrize(
    "body",
    [
        {"spec": None},
        {"spec": {"containers": "oops"}},
        {"spec": {"containers": [None, 5, {"name": "ok"}]}},
    ],
)
def test_malformed_specs_yield_only_real_containers(body: dict[str, Any]) -> None:
    names = [c.name for c in containers(make("v1", "Pod", body))]
    assert names in ([], ["ok"])


def test_non_workloads_have_no_pod_spec() -> None:
    service = make("v1", "Service", {"spec": {"containers": [{"name": "x"}]}})
    assert pod_spec(service) is None
    assert containers(service) == ()
    assert pod_template_metadata(service) is None
