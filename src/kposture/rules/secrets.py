"""Secrets: credentials written into manifests (environment variables, ConfigMaps) and Secrets
exposed as environment variables (CIS Kubernetes Benchmark 5.4, OWASP K08).

Owns ``secret-in-env``, ``secret-in-configmap`` and ``secret-env-reference``. What counts as a
credential is decided by ``inventory.credentials``; findings carry the key name, the credential kind
and a redacted fingerprint, never the value. The cluster-scope secrets rules (encryption at rest,
external secret stores) live elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from kposture.inventory import (
    WORKLOAD_KINDS,
    ContainerRef,
    CredentialMatch,
    Inventory,
    containers,
    find_credentials,
    find_credentials_in_base64,
)
from kposture.model import (
    Domain,
    JsonPath,
    K8sObject,
    Reference,
    Severity,
    Stage,
    Violation,
)
from kposture.rules._references import (
    CIS,
    CONTAINER_API_CREDENTIALS,
    CREDENTIALS,
    CREDENTIALS_IN_FILES,
    K08,
    SECRETS_GUIDANCE,
)
from kposture.rules._templates import rule_meta
from kposture.rules.base import Rule


def _items(node: object) -> list[Any]:
    return node if isinstance(node, list) else []


def _text(node: object) -> str:
    return node if isinstance(node, str) else ""


def _evidence(match: CredentialMatch) -> tuple[tuple[str, str], ...]:
    evidence = [("key", match.key), ("kind", match.kind), ("fingerprint", match.fingerprint)]
    if match.line:
        evidence.append(("line", str(match.line)))
    if match.inner_key:
        evidence.append(("inner_key", match.inner_key))
    return tuple(evidence)


def _where(match: CredentialMatch) -> str:
    """Where inside the value the credential is (a line of it, a key on that line), or nothing when
    the whole value is the credential. Names positions and keys only, never content."""
    parts = []
    if match.inner_key:
        parts.append(f"under {match.inner_key!r}")
    if match.line:
        parts.append(f"on line {match.line} of the value")
    return " " + " ".join(parts) if parts else ""


# --- secret-in-env --------------------------------------------------------------------------------


def _env_literals(ref: ContainerRef) -> Iterator[tuple[str, object, JsonPath]]:
    """(name, literal value, path of the value) of each env entry with a ``value``."""
    for index, entry in enumerate(_items(ref.container.get("env"))):
        if isinstance(entry, Mapping) and "value" in entry:
            yield _text(entry.get("name")), entry.get("value"), (*ref.path, "env", index, "value")


def _secret_in_env(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        for name, value, path in _env_literals(ref):
            for match in find_credentials(name, value):
                yield Violation(
                    f"container {ref.name!r} sets env var {name!r} to a literal credential: "
                    f"{match.kind}{_where(match)}",
                    path,
                    (("container", ref.name), *_evidence(match)),
                )


# --- secret-in-configmap --------------------------------------------------------------------------


def _secret_in_configmap(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for field, finder in (("data", find_credentials), ("binaryData", find_credentials_in_base64)):
        entries = obj.raw.get(field)
        if not isinstance(entries, Mapping):
            continue
        for key, value in entries.items():
            name = str(key)
            for match in finder(name, value):
                source = "base64-decoded binaryData" if field == "binaryData" else "data"
                yield Violation(
                    f"ConfigMap {source} key {name!r} holds a credential: {match.kind}"
                    f"{_where(match)}",
                    (field, name),
                    _evidence(match),
                )


# --- secret-env-reference -------------------------------------------------------------------------


def _secret_env_reference(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        container = ("container", ref.name)
        for index, entry in enumerate(_items(ref.container.get("env"))):
            value_from = entry.get("valueFrom") if isinstance(entry, Mapping) else None
            selector = value_from.get("secretKeyRef") if isinstance(value_from, Mapping) else None
            if not isinstance(selector, Mapping):
                continue
            name, secret, key = (
                _text(entry.get("name")),
                _text(selector.get("name")),
                _text(selector.get("key")),
            )
            yield Violation(
                f"container {ref.name!r} reads key {key!r} of Secret {secret!r} into env var "
                f"{name!r}",
                (*ref.path, "env", index, "valueFrom", "secretKeyRef"),
                (container, ("env", name), ("secret", secret), ("secret_key", key)),
            )
        for index, entry in enumerate(_items(ref.container.get("envFrom"))):
            source = entry.get("secretRef") if isinstance(entry, Mapping) else None
            if not isinstance(source, Mapping):
                continue
            secret = _text(source.get("name"))
            yield Violation(
                f"container {ref.name!r} imports every key of Secret {secret!r} as env vars "
                "(envFrom)",
                (*ref.path, "envFrom", index, "secretRef"),
                (container, ("secret", secret)),
            )


# --- metadata -------------------------------------------------------------------------------------

CIS_SECRETS_AS_FILES = Reference(
    CIS, "5.4.1", "Prefer using Secrets as files over Secrets as environment variables"
)
CIS_EXTERNAL_STORE = Reference(CIS, "5.4.2", "Consider external secret storage")

_SECRET_VOLUME_SNIPPET = """\
env:
- name: DB_PASSWORD_FILE
  value: /var/run/secrets/app/db-password
volumeMounts:
- name: app-secrets
  mountPath: /var/run/secrets/app
  readOnly: true
# pod spec
volumes:
- name: app-secrets
  secret:
    secretName: app-secrets
    defaultMode: 0400
"""


_meta = partial(rule_meta, domain=Domain.SECRETS)


RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "secret-in-env",
            "Credential written as a literal environment variable",
            Severity.HIGH,
            Stage.CRAWL,
            WORKLOAD_KINDS,
            remediation=(
                "Move the value into a Secret (or an external secret store) and mount it as a "
                "read-only file instead of writing it into the manifest."
            ),
            description=(
                "A literal env value is stored in plain text in the manifest, in Git history, in "
                "etcd as part of the pod spec, and is shown to anyone who can get or describe the "
                "workload, so one leaked manifest or read-only role hands over the credential. "
                "kposture flags a value by its format (private keys, cloud and forge tokens, JWTs, "
                "URLs with passwords) or by a credential-like variable name with a literal, "
                "non-reference value; masks like xxx and default passwords count, empty values, "
                "$(VAR) references, templates, paths and fill-in placeholders do not. Findings carry the "
                "variable name and a fingerprint, never the value."
            ),
            references=(
                CIS_SECRETS_AS_FILES,
                K08,
                CREDENTIALS,
                CREDENTIALS_IN_FILES,
                CONTAINER_API_CREDENTIALS,
                SECRETS_GUIDANCE,
            ),
            fix_snippet=_SECRET_VOLUME_SNIPPET,
        ),
        _secret_in_env,
    ),
    Rule(
        _meta(
            "secret-in-configmap",
            "Credential stored in a ConfigMap",
            Severity.HIGH,
            Stage.CRAWL,
            ("ConfigMap",),
            remediation=(
                "Move the credential out of the ConfigMap into a Secret (or an external secret "
                "store) and rotate it, since it has been readable as plain configuration."
            ),
            description=(
                "ConfigMaps are not treated as sensitive: they are readable by broad roles such as "
                "the default view ClusterRole, are printed by kubectl and logged by tools, and are "
                "never encrypted at rest, so a credential in one is effectively public inside the "
                "cluster. kposture checks every data value (line by line in multi-line files, "
                "naming the line) and base64-decoded binaryData for private keys, cloud and forge "
                "tokens, JWTs, URLs with passwords and credential-like keys with literal values. "
                "Like Polaris it counts masks such as xxxxx under a credential key, but it ignores "
                "references, templates, file paths and fill-in placeholders."
            ),
            references=(
                K08,
                CIS_EXTERNAL_STORE,
                CREDENTIALS,
                CREDENTIALS_IN_FILES,
                CONTAINER_API_CREDENTIALS,
                SECRETS_GUIDANCE,
            ),
            fix_snippet=(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-credentials\ntype: Opaque\n"
                "stringData:\n  db-password: <set at deploy time, never committed>\n"
            ),
        ),
        _secret_in_configmap,
    ),
    Rule(
        _meta(
            "secret-env-reference",
            "Secret exposed as an environment variable",
            Severity.LOW,
            Stage.WALK,
            WORKLOAD_KINDS,
            remediation=(
                "Mount the Secret as a read-only volume and have the application read the file "
                "instead of an environment variable."
            ),
            description=(
                "Environment variables are copied into every child process, shown by container "
                "runtime inspect commands and /proc/PID/environ, and routinely dumped into logs "
                "and crash reports, so a Secret passed through env (secretKeyRef or envFrom "
                "secretRef) leaks far more easily than a mounted file. Mounted Secrets are also "
                "updated in place when rotated, while env vars keep the old value until restart."
            ),
            references=(CIS_SECRETS_AS_FILES, K08, CONTAINER_API_CREDENTIALS, SECRETS_GUIDANCE),
            fix_snippet=_SECRET_VOLUME_SNIPPET,
        ),
        _secret_env_reference,
    ),
)
