"""The admission webhook's install manifests: kposture's own scan finds nothing above low, every kind
a rule judges is admitted, and the documents have the shapes the API server expects."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kposture.engine import Registry, evaluate
from kposture.inventory import Inventory
from kposture.model import RunPolicy, Severity
from kposture.model.results import ScanResult
from kposture.reports import admission_manifests as am
from kposture.reports.admission_resources import (
    API_RESOURCES,
    NOT_ADMITTED_KINDS,
    resources_for_kinds,
)
from kposture.rules import builtin_rules
from kposture.server import certificates as certs
from kposture.sources.manifests import load_manifests

NOW = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)
DIGEST = "ghcr.io/kposture/kposture@sha256:" + "0" * 64
TAGGED = "ghcr.io/kposture/kposture:v0.1.0"
RULE_KINDS = {kind for rule in builtin_rules() for kind in rule.meta.kinds}


def _settings(**overrides: Any) -> am.InstallSettings:
    authority = certs.new_authority(now=NOW, days=30)
    resources, _ = resources_for_kinds(RULE_KINDS)
    values: dict[str, Any] = {
        "image": TAGGED,
        "version": "0.1.0",
        "ca_bundle_pem": certs.certificate_pem(authority.certificate),
        "resources": resources,
    }
    values.update(overrides)
    return am.InstallSettings(**values)


def _scan(text: str, tmp_path: Path) -> ScanResult:
    path = tmp_path / "install.yaml"
    path.write_text(text)
    loaded = load_manifests([str(path)])
    assert not loaded.errors
    # Every rule on, untrusted-registry too (it needs an allowlist).
    policy = RunPolicy(allowed_registries=("ghcr.io/kposture",))
    return evaluate(Inventory(loaded.objects), Registry(builtin_rules()), policy, NOW.date())


def _by_kind(settings: am.InstallSettings) -> dict[str, Mapping[str, Any]]:
    return {doc.body["kind"]: doc.body for doc in am.documents(settings)}


def test_every_kind_a_rule_judges_is_admitted_or_explained() -> None:
    resources, unknown = resources_for_kinds(RULE_KINDS)
    assert unknown == ()
    assert set(NOT_ADMITTED_KINDS).isdisjoint(API_RESOURCES)
    admitted = {r.plural for r in resources}
    assert {"pods", "deployments", "cronjobs", "clusterrolebindings", "secrets"} <= admitted
    assert len(resources) == len(RULE_KINDS - set(NOT_ADMITTED_KINDS))


def test_a_new_kind_is_reported_not_dropped() -> None:
    _, unknown = resources_for_kinds({"Pod", "Gadget"})
    assert unknown == ("Gadget",)


@pytest.mark.parametrize(
    ("overrides", "allowed_low"),
    [
        ({}, {"image-not-pinned"}),
        ({"image": DIGEST}, set()),
        ({"image": DIGEST, "policy_text": "apiVersion: kposture.io/v1\nkind: Policy\n"}, set()),
        ({"image": DIGEST, "replicas": 3, "failure_policy": "Ignore"}, set()),
    ],
)
def test_own_scan_finds_nothing_above_low(
    tmp_path: Path, overrides: dict[str, Any], allowed_low: set[str]
) -> None:
    result = _scan(am.render_yaml(am.documents(_settings(**overrides))), tmp_path)
    assert result.errors == ()
    above_low = [f for f in result.findings if f.severity > Severity.LOW]
    assert above_low == []
    assert {f.rule_id for f in result.findings} == allowed_low


def test_with_the_secret_only_secret_in_manifest_is_above_low(tmp_path: Path) -> None:
    """The one exception is deliberate: --include-secret puts the private key in the output, and
    the rule is right to say that such a file must not be committed."""
    authority = certs.new_authority(now=NOW, days=30)
    serving = certs.issue_serving_certificate(
        authority, dns_names=["kposture-webhook.kposture.svc"], now=NOW, days=10
    )
    secret = am.TlsSecretData(
        certs.certificate_pem(serving.certificate), certs.private_key_pem(serving.key)
    )
    result = _scan(
        am.render_yaml(am.documents(_settings(image=DIGEST, tls_secret=secret))), tmp_path
    )
    above_low = {(f.rule_id, f.resource.kind) for f in result.findings if f.severity > Severity.LOW}
    assert above_low == {("secret-in-manifest", "Secret")}
    assert "PRIVATE KEY" not in repr(secret)


def test_yaml_and_json_carry_the_same_documents() -> None:
    docs = am.documents(_settings())
    from_yaml = [d for d in yaml.safe_load_all(am.render_yaml(docs, header="hello")) if d]
    listed = json.loads(am.render_json(docs))
    assert listed["kind"] == "List"
    assert from_yaml == listed["items"] == [dict(d.body) for d in docs]
    assert [d["kind"] for d in from_yaml] == [
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "NetworkPolicy",
        "ValidatingWebhookConfiguration",
    ]


def test_every_document_is_commented_and_labelled() -> None:
    settings = _settings(policy_text="x: 1\n")
    text = am.render_yaml(am.documents(settings))
    chunks = text.split("---\n")[1:]
    assert all(chunk.startswith("# ") for chunk in chunks)
    for doc in am.documents(settings):
        meta = doc.body["metadata"]
        assert meta["labels"]["app.kubernetes.io/name"] == "kposture"
        assert ("namespace" in meta) == (
            doc.body["kind"] not in {"Namespace", "ValidatingWebhookConfiguration"}
        )


def test_webhook_configuration() -> None:
    settings = _settings(excluded_namespaces=("kube-system", "ops"), timeout_seconds=7)
    webhook = _by_kind(settings)["ValidatingWebhookConfiguration"]
    assert webhook["apiVersion"] == "admissionregistration.k8s.io/v1"
    (hook,) = webhook["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["timeoutSeconds"] == 7
    assert hook["sideEffects"] == "None"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["admissionReviewVersions"] == ["v1", "v1beta1"]
    assert hook["clientConfig"]["service"] == {
        "namespace": "kposture",
        "name": "kposture-webhook",
        "path": "/validate",
        "port": 443,
    }
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == settings.ca_bundle_pem
    (expression,) = hook["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kposture", "kube-system", "ops"],
    }
    resources = [r for rule in hook["rules"] for r in rule["resources"]]
    # One subresource: kubectl debug adds (possibly privileged) containers through it.
    assert [r for r in resources if "/" in r] == ["pods/ephemeralcontainers"]
    plain = [r for r in resources if "/" not in r]  # not status, scale, exec
    assert len(plain) == len(set(plain)) == len(settings.resources)
    for rule in hook["rules"]:
        assert rule["operations"] == ["CREATE", "UPDATE"]
        assert rule["scope"] == "*"
    core = next(rule for rule in hook["rules"] if rule["apiGroups"] == [""])
    assert "pods" in core["resources"]
    assert "namespaces" in core["resources"]


def test_deployment_is_hardened() -> None:
    settings = _settings(image=DIGEST, image_pull_policy="Always")
    deployment = _by_kind(settings)["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "kposture-webhook"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert pod["affinity"]["podAntiAffinity"]
    (container,) = pod["containers"]
    assert container["image"] == DIGEST
    assert container["imagePullPolicy"] == "Always"
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsUser"] != 0
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "https", "scheme": "HTTPS"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    args = container["args"]
    assert args[args.index("--tls-cert") + 1] == "/etc/kposture/tls/tls.crt"
    assert args[args.index("--tls-key") + 1] == "/etc/kposture/tls/tls.key"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts) == set(volumes)
    assert volumes["tls"]["secret"]["secretName"] == "kposture-webhook-tls"
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]


def test_service_pdb_and_network_policy_select_the_pods() -> None:
    by_kind = _by_kind(_settings())
    labels = by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = by_kind["Service"]["spec"]
    assert service["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]
    assert service["selector"].items() <= labels.items()
    assert (
        by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    )
    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    policy = by_kind["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8443}]}]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    assert by_kind["ServiceAccount"]["automountServiceAccountToken"] is False
    namespace_labels = by_kind["Namespace"]["metadata"]["labels"]
    assert namespace_labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_policy_file_is_mounted_from_a_config_map() -> None:
    settings = _settings(policy_text="apiVersion: kposture.io/v1\nkind: Policy\n")
    by_kind = _by_kind(settings)
    assert by_kind["ConfigMap"]["data"] == {"policy.yaml": settings.policy_text}
    args = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--policy") + 1] == "/etc/kposture/policy/policy.yaml"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image": "ghcr.io/kposture/kposture"}, "no explicit tag"),
        ({"image": "ghcr.io/kposture/kposture:latest"}, "no explicit tag"),
        ({"image": "localhost:5000/kposture"}, "no explicit tag"),
        ({"failure_policy": "Maybe"}, "failure policy"),
        ({"timeout_seconds": 31}, "1 to 30"),
        ({"replicas": 0}, "replicas"),
        ({"resources": ()}, "no API resources"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    settings = _settings(**overrides)
    assert any(message in problem for problem in am.problems(settings))
    with pytest.raises(ValueError, match=message):
        am.documents(settings)


def test_pinned_images() -> None:
    assert am.image_is_pinned("localhost:5000/kposture:v1")
    assert am.image_is_pinned(DIGEST)
    assert not am.image_is_pinned("kposture")
