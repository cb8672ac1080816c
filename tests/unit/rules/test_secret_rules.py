"""The Secrets family: secret-in-env, secret-in-args, secret-in-configmap, secret-in-manifest and
secret-env-reference — which fields they read, the paths and messages they report, and their
metadata."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from kposture.model import Domain, Framework, K8sObject, Severity, Stage, format_path
from kposture.rules import secrets
from support import RULES_BY_ID, objects_from_text, violations

SENTINEL = "Zq7SENTINELvalue9x"

WORKLOAD = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  template:
    spec:
      initContainers:
      - name: init
        env:
        - {{name: LOG_LEVEL, value: info}}
        - {{name: API_TOKEN, value: {SENTINEL}}}
      containers:
      - name: app
        env:
        - {{name: DB_PASSWORD, valueFrom: {{secretKeyRef: {{name: db, key: password}}}}}}
        - {{name: DATABASE_URL, value: "postgres://app:{SENTINEL}@db/orders"}}
        envFrom:
        - configMapRef: {{name: app-config}}
        - secretRef: {{name: app-secrets}}
      ephemeralContainers:
      - name: debug
        env:
        - {{name: ADMIN_PASSWORD, value: {SENTINEL}}}
"""


def test_secret_in_env_reports_every_container_list_with_exact_paths() -> None:
    found = violations("secret-in-env", objects_from_text(WORKLOAD))
    base = "spec.template.spec."
    assert [format_path(v.path) for v in found] == [
        base + "initContainers[0].env[1].value",
        base + "containers[0].env[1].value",
        base + "ephemeralContainers[0].env[0].value",
    ]
    first = found[0]
    assert first.message == (
        "container 'init' sets env var 'API_TOKEN' to a literal credential: token-like key"
    )
    evidence = dict(first.evidence)
    assert evidence["container"] == "init" and evidence["key"] == "API_TOKEN"
    assert evidence["fingerprint"].startswith("scrypt:")
    assert "URL with a password" in found[1].message


def test_secret_in_env_never_carries_the_value() -> None:
    for violation in violations("secret-in-env", objects_from_text(WORKLOAD)):
        assert SENTINEL not in repr(violation)


def test_value_from_and_env_from_are_never_literals() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    env:
    - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
    - {name: API_TOKEN, valueFrom: {configMapKeyRef: {name: c, key: token}}}
    envFrom:
    - secretRef: {name: s}
"""
    assert violations("secret-in-env", objects_from_text(text)) == []


def test_secret_env_reference_reports_secret_key_refs_and_env_from() -> None:
    found = violations("secret-env-reference", objects_from_text(WORKLOAD))
    base = "spec.template.spec.containers[0]."
    assert [format_path(v.path) for v in found] == [
        base + "env[0].valueFrom.secretKeyRef",
        base + "envFrom[1].secretRef",
    ]
    assert found[0].message == (
        "container 'app' reads key 'password' of Secret 'db' into env var 'DB_PASSWORD'"
    )
    assert dict(found[1].evidence) == {"container": "app", "secret": "app-secrets"}


CONFIGMAP = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: app-config, namespace: shop}}
data:
  LOG_LEVEL: info
  db_password: {SENTINEL}
  app.properties: |
    server.port=8080
    spring.datasource.password={SENTINEL}
binaryData:
  legacy.env: {base64.b64encode(f"token={SENTINEL}".encode()).decode()}
"""


def test_secret_in_configmap_paths_lines_and_binary_data() -> None:
    found = violations("secret-in-configmap", objects_from_text(CONFIGMAP))
    assert [format_path(v.path) for v in found] == [
        "data.db_password",
        'data["app.properties"]',
        'binaryData["legacy.env"]',
    ]
    assert found[0].message == (
        "ConfigMap data key 'db_password' holds a credential: password-like key"
    )
    assert found[1].message == (
        "ConfigMap data key 'app.properties' holds a credential: password-like key under "
        "'spring.datasource.password' on line 2 of the value"
    )
    assert dict(found[1].evidence)["line"] == "2"
    assert found[2].message.startswith("ConfigMap base64-decoded binaryData key 'legacy.env'")
    for violation in found:
        assert SENTINEL not in repr(violation)
        assert base64.b64encode(SENTINEL.encode()).decode()[:12] not in repr(violation)


def test_configmap_without_data_or_with_odd_values() -> None:
    text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: odd}
data:
  password: null
  count: 3
binaryData: not-a-mapping
"""
    assert violations("secret-in-configmap", objects_from_text(text)) == []


@pytest.mark.parametrize("rule", secrets.RULES, ids=lambda rule: rule.id)
def test_metadata(rule: secrets.Rule) -> None:
    meta = rule.meta
    assert meta.domain is Domain.SECRETS
    assert len(meta.title) < 80
    assert meta.remediation.endswith(".") and meta.remediation.count(". ") == 0
    assert 2 <= meta.description.count(". ") + 1 <= 4
    assert meta.fix_snippet
    frameworks = {ref.framework for ref in meta.references}
    assert {Framework.OWASP, Framework.MITRE, Framework.NSA_CISA} <= frameworks


def test_ids_severities_and_stages_follow_the_catalogue() -> None:
    expected = {
        "secret-in-env": (Severity.HIGH, Stage.CRAWL),
        "secret-in-args": (Severity.HIGH, Stage.CRAWL),
        "secret-in-configmap": (Severity.HIGH, Stage.CRAWL),
        "secret-in-manifest": (Severity.HIGH, Stage.CRAWL),
        "secret-env-reference": (Severity.LOW, Stage.WALK),
    }
    assert {rule.id: (rule.meta.severity, rule.meta.stage) for rule in secrets.RULES} == expected
    assert RULES_BY_ID["secret-in-configmap"].meta.kinds == ("ConfigMap",)
    assert "CronJob" in RULES_BY_ID["secret-in-env"].meta.kinds


ARGS = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  template:
    spec:
      initContainers:
      - name: init
        command: [java, "-Dspring.datasource.password={SENTINEL}", -jar, app.jar]
      containers:
      - name: app
        args:
        - --db-password={SENTINEL}
        - --password
        - {SENTINEL}
        - --token
        - $(API_TOKEN)
        - --url=postgres://app:{SENTINEL}@db/orders
        - --port=8080
"""


def test_secret_in_args_paths_flags_and_fingerprints() -> None:
    found = violations("secret-in-args", objects_from_text(ARGS))
    base = "spec.template.spec."
    assert [format_path(v.path) for v in found] == [
        base + "initContainers[0].command[1]",
        base + "containers[0].args[0]",
        base + "containers[0].args[2]",
        base + "containers[0].args[5]",
    ]
    assert found[1].message == (
        "container 'app' passes a literal credential in args[0]: password-like key under "
        "'db-password'"
    )
    assert found[2].message == (
        "container 'app' passes a literal credential in args[2] after flag 'password': "
        "password-like key"
    )
    assert "URL with a password" in found[3].message
    prints = {dict(v.evidence)["fingerprint"] for v in found[:3]}
    assert len(prints) == 1  # the same credential correlates across places
    for violation in found:
        assert SENTINEL not in repr(violation)


def _secret(body: str, file: str = "secret.yaml") -> list[K8sObject]:
    text = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\n{body}"
    return objects_from_text(text, file)


def test_secret_in_manifest_names_keys_never_values_or_lengths() -> None:
    encoded = base64.b64encode(SENTINEL.encode()).decode()
    objects = _secret(
        f"type: kubernetes.io/basic-auth\ndata: {{password: {encoded}, blank: ''}}\n"
        f"stringData: {{username: admin, note: '<fill me>'}}\n"
    )
    (found,) = violations("secret-in-manifest", objects)
    assert found.message == (
        "Secret of type kubernetes.io/basic-auth is committed with 2 value(s) in the manifest "
        "(data: password; stringData: username): base64 is an encoding, so anyone who can read "
        "the file or its history has the credential"
    )
    assert found.path == ("data",)
    assert found.evidence == (("type", "kubernetes.io/basic-auth"), ("keys", "password,username"))
    text = repr(found)
    assert SENTINEL not in text and encoded[:12] not in text and str(len(SENTINEL)) not in text


def test_secret_in_manifest_skips_cluster_and_admission_objects() -> None:
    (obj,) = _secret("stringData: {token: abcdefghijkl}\n")
    assert violations("secret-in-manifest", [obj])
    listed = replace(obj, location=replace(obj.location, origin="cluster"))
    assert violations("secret-in-manifest", [listed]) == []
    assert violations("secret-in-manifest", [replace(obj, location=None)]) == []


def test_secret_in_manifest_counts_undecodable_and_binary_data() -> None:
    binary = base64.b64encode(bytes(range(200, 256))).decode()
    objects = _secret(f"data: {{keystore.p12: {binary}, broken: '!!notbase64'}}\n")
    (found,) = violations("secret-in-manifest", objects)
    assert dict(found.evidence)["keys"] == "broken,keystore.p12"
