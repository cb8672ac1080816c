"""Semantic parity of the exported built-in rules: the ValidatingAdmissionPolicy CEL of every
exportable built-in rule, evaluated the way the API server would (``vap_simulation``), gives the
rule's own verdict on every object of its pass and fail fixtures, and on variations of them.

Also checks the table itself: every entry names a registered rule whose kinds have API resources,
and every exported manifest is valid against the Kubernetes 1.30 OpenAPI schema.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from kposture.inventory import Inventory
from kposture.model import K8sObject
from kposture.policy.builtin_cel import BUILTIN_CEL, EXPORTABLE_RULE_IDS
from kposture.policy.vap_export import (
    ExportSettings,
    builtin_export_rule,
    export_rules,
    policy_manifest,
)
from support import RULES_BY_ID, load_objects, object_from_mapping
from vap_simulation import evaluate_policy, message_of

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"
SCHEMA_VERSION = "1.30.0"


def _cases() -> list[tuple[str, Path]]:
    return [
        (rule_id, path)
        for rule_id in sorted(BUILTIN_CEL)
        for path in sorted((FIXTURES / rule_id).glob("*.yaml"))
        if path.stem.startswith(("pass-", "fail-"))
    ]


def _engine_verdict(rule_id: str, obj: K8sObject, inventory: Inventory) -> str:
    rule = RULES_BY_ID[rule_id]
    return "fail" if list(rule.check(obj, inventory)) else "pass"


def _policy(rule_id: str) -> dict[str, Any]:
    return policy_manifest(builtin_export_rule(RULES_BY_ID[rule_id].meta, BUILTIN_CEL[rule_id]))


def _vap_verdict(policy: dict[str, Any], obj: K8sObject, inventory: Inventory) -> str:
    namespace = inventory.get("Namespace", "", obj.ref.namespace) if obj.ref.namespace else None
    return evaluate_policy(
        policy, obj.raw, namespace_object=namespace.raw if namespace is not None else None
    )


def test_table_names_registered_rules() -> None:
    assert not EXPORTABLE_RULE_IDS - set(RULES_BY_ID)
    assert len(EXPORTABLE_RULE_IDS) >= 15


@pytest.mark.parametrize(("rule_id", "path"), _cases(), ids=[f"{r}/{p.stem}" for r, p in _cases()])
def test_exported_cel_gives_the_rules_verdict_on_its_fixtures(rule_id: str, path: Path) -> None:
    objects = load_objects([path])
    inventory = Inventory(objects)
    policy = _policy(rule_id)
    kinds = RULES_BY_ID[rule_id].meta.kinds
    verdicts = []
    for obj in objects:
        # An object of a kind the rule does not judge must not be matched by the policy either.
        expected = _engine_verdict(rule_id, obj, inventory) if obj.ref.kind in kinds else "skip"
        assert _vap_verdict(policy, obj, inventory) == expected, f"{rule_id} on {obj.ref}"
        verdicts.append(expected)
    if path.stem.startswith("fail-"):
        assert "fail" in verdicts


def _pod(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", **meta},
        "spec": spec,
    }


def _container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "registry.example/app:1.0", **fields}


VARIATIONS: list[dict[str, Any]] = [
    _pod({"containers": [_container()]}),
    _pod({"containers": [_container(securityContext={"privileged": True})]}),
    _pod({"containers": [_container(securityContext={"privileged": "true"})]}),
    _pod({"initContainers": [_container(securityContext={"privileged": True})], "containers": []}),
    _pod({"os": {"name": "windows"}, "containers": [_container()]}),
    _pod(
        {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 0},
            "containers": [_container(securityContext={"runAsUser": 1000})],
        }
    ),
    _pod({"securityContext": {"runAsUser": 1000}, "containers": [_container()]}),
    _pod(
        {
            "securityContext": {"runAsNonRoot": True},
            "containers": [_container(securityContext={"runAsNonRoot": False})],
        }
    ),
    _pod({"containers": [_container(securityContext={"runAsUser": "0"})]}),
    _pod(
        {
            "containers": [
                _container(
                    securityContext={
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "capabilities": {"drop": ["all"], "add": ["net_bind_service"]},
                        "procMount": "Default",
                    },
                    resources={"limits": {"cpu": "1", "memory": "1Gi"}},
                )
            ]
        }
    ),
    _pod(
        {"containers": [_container(securityContext={"capabilities": {"add": [" cap_sys_admin "]}})]}
    ),
    _pod({"containers": [_container(securityContext={"capabilities": {"add": ["NET_RAW"]}})]}),
    _pod({"containers": [_container(securityContext={"capabilities": {"add": ["CHOWN"]}})]}),
    _pod(
        {"containers": [_container(securityContext={"capabilities": {"drop": ["NET_RAW", "ALL"]}})]}
    ),
    _pod({"hostPID": True, "hostIPC": False, "hostNetwork": True, "containers": [_container()]}),
    _pod({"containers": [_container(ports=[{"containerPort": 80, "hostPort": 0}])]}),
    _pod({"containers": [_container(ports=[{"containerPort": 80, "hostPort": 8080}])]}),
    _pod(
        {
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
            "containers": [],
        }
    ),
    _pod(
        {
            "securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]},
            "containers": [_container()],
        }
    ),
    _pod({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/x"}}]}),
    _pod({"volumes": [{"name": "n", "nfs": {"server": "nfs", "path": "/"}}]}),
    _pod({"containers": [_container(resources={"limits": {"cpu": "", "memory": "1Gi"}})]}),
    _pod({"ephemeralContainers": [_container("debug")], "containers": []}),
    _pod({"containers": [_container(image="nginx")]}),
    _pod({"containers": [_container(image="nginx:latest")]}),
    _pod({"containers": [_container(image="localhost:5000/app")]}),
    _pod({"containers": [_container(image="localhost:5000/app:2.1")]}),
    _pod({"containers": [_container(image=" nginx@sha256:abc ")]}),
    _pod({"containers": [_container(image="nginx:1.25@sha256:")]}),
    _pod({"containers": [_container(image="   ")]}),
    _pod({"containers": [_container(image="nginx:")]}),
    _pod({"hostIPC": True, "containers": [_container(securityContext={"procMount": "Unmasked"})]}),
    _pod({"securityContext": {"windowsOptions": {"hostProcess": True}}, "containers": []}),
    _pod(
        {
            "containers": [
                _container(securityContext={"windowsOptions": {"hostProcess": False}}),
                _container("side", securityContext={"windowsOptions": {"hostProcess": True}}),
            ]
        }
    ),
    _pod({"containers": [_container()]}, namespace="default"),
    _pod({"containers": [_container()]}, namespace=""),
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default"},
    },
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}},
]


def _as_kinds(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod as itself and inside a Deployment and a CronJob; other objects unchanged."""
    if raw["kind"] != "Pod":
        return [raw]
    template = {"metadata": {"labels": {"app": "web"}}, "spec": copy.deepcopy(raw["spec"])}
    meta = raw["metadata"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template},
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta,
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    return [raw, deployment, cronjob]


@pytest.mark.parametrize("rule_id", sorted(BUILTIN_CEL))
def test_exported_cel_gives_the_rules_verdict_on_variations(rule_id: str) -> None:
    policy = _policy(rule_id)
    kinds = RULES_BY_ID[rule_id].meta.kinds
    verdicts = set()
    for raw in VARIATIONS:
        for variant in _as_kinds(raw):
            obj = object_from_mapping(variant)
            if obj.ref.kind not in kinds:
                continue
            inventory = Inventory([obj])
            expected = _engine_verdict(rule_id, obj, inventory)
            assert _vap_verdict(policy, obj, inventory) == expected, f"{rule_id} on {variant}"
            verdicts.add(expected)
    assert verdicts == {"pass", "fail"}, f"{rule_id}: the variations only give {verdicts}"


@pytest.mark.parametrize("rule_id", sorted(BUILTIN_CEL))
def test_message_expression_renders(rule_id: str) -> None:
    policy = _policy(rule_id)
    for path in sorted((FIXTURES / rule_id).glob("fail-*.yaml")):
        for obj in load_objects([path]):
            if obj.ref.kind in RULES_BY_ID[rule_id].meta.kinds:
                for message in message_of(policy, obj.raw):
                    assert message.startswith(f"{rule_id}: "), message


def test_every_exported_builtin_manifest_is_valid_for_kubernetes_1_30() -> None:
    rules = [builtin_export_rule(RULES_BY_ID[r].meta, e) for r, e in BUILTIN_CEL.items()]
    exported = export_rules(rules, ExportSettings())
    assert not exported.errors
    assert len(exported.manifests) == 2 * len(rules)
    for manifest in exported.manifests:
        kubernetes_validate.validate(dict(manifest), SCHEMA_VERSION, strict=True)


def test_schema_validation_rejects_a_broken_policy() -> None:
    policy = _policy("host-pid")
    policy["spec"]["validations"][0]["expresion"] = policy["spec"]["validations"][0].pop(
        "expression"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, SCHEMA_VERSION, strict=True)
