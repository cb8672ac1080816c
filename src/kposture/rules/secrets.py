"""Secrets: credentials written into manifests (environment variables, container arguments,
ConfigMaps, Secret manifests themselves) and Secrets exposed as environment variables (CIS Kubernetes
Benchmark 5.4, OWASP K08).

Owns ``secret-in-env``, ``secret-in-args``, ``secret-in-configmap``, ``secret-in-manifest`` and
``secret-env-reference``. What counts as a credential is decided by ``inventory.credentials``;
findings carry the key name, the credential kind and a redacted fingerprint, never the value (for
Secret manifests, the key names only: not even lengths). The cluster-scope secrets rules (encryption
at rest, external secret stores) live elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import re
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
from kposture.inventory.credential_keys import classify_key
from kposture.inventory.credentials import holds_secret_material
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


# --- secret-in-args -------------------------------------------------------------------------------

_BARE_FLAG = re.compile(r"^-{1,2}([A-Za-z][\w.\-]{0,127})$")


def _argument_matches(field: str, items: list[Any]) -> Iterator[tuple[int, CredentialMatch]]:
    """(index, match) for each credential in a ``command``/``args`` list: inside an element
    (``--db-password=...``, ``-Dspring.datasource.password=...``, a URL with a password, a known
    token format, a line of an inline script), or as the element after a bare credential flag
    (``["--password", "..."]``)."""
    for index, item in enumerate(items):
        if not isinstance(item, str):
            continue
        yield from ((index, match) for match in find_credentials(field, item))
        flag = _BARE_FLAG.match(item)
        following = items[index + 1] if index + 1 < len(items) else None
        if flag is None or not isinstance(following, str) or following.startswith("-"):
            continue
        cls = classify_key(flag.group(1))
        if cls is not None and cls.strong and not find_credentials(field, following):
            yield from ((index + 1, match) for match in find_credentials(flag.group(1), following))


def _secret_in_args(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        for field in ("command", "args"):
            for index, match in _argument_matches(field, _items(ref.container.get(field))):
                flag = f" after flag {match.key!r}" if match.key != field else ""
                yield Violation(
                    f"container {ref.name!r} passes a literal credential in {field}[{index}]"
                    f"{flag}: {match.kind}{_where(match)}",
                    (*ref.path, field, index),
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


# --- secret-in-manifest ---------------------------------------------------------------------------

SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
"""Filled in by the token controller and judged by ``long-lived-token-secret``."""
CLUSTER_ORIGIN = "cluster"
"""``SourceLocation.origin`` of objects listed from the API server (their data is stripped)."""


def _data_holds_material(value: object) -> bool:
    """Whether a base64 ``data`` value holds something worth protecting; undecodable or binary
    data counts (the API server would store it as is)."""
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        decoded = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return True
    try:
        return holds_secret_material(decoded.decode("utf-8"))
    except UnicodeDecodeError:
        return bool(decoded)


def _keys_with_material(obj: K8sObject) -> dict[str, list[str]]:
    """Field -> the keys of ``data``/``stringData`` whose values hold secret material."""
    found: dict[str, list[str]] = {}
    for field in ("data", "stringData"):
        entries = obj.raw.get(field)
        if not isinstance(entries, Mapping):
            continue
        keys = [
            str(key)
            for key, value in entries.items()
            if (
                _data_holds_material(value)
                if field == "data"
                else isinstance(value, str | int | float) and holds_secret_material(str(value))
            )
        ]
        if keys:
            found[field] = sorted(keys)
    return found


def _secret_in_manifest(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    location = obj.location
    if location is None or location.origin == CLUSTER_ORIGIN:
        return  # an admission request or a listed object: the Secret is where it belongs
    secret_type = _text(obj.raw.get("type")) or "Opaque"
    if secret_type == SERVICE_ACCOUNT_TOKEN:
        return
    found = _keys_with_material(obj)
    if not found:
        return
    keys = [key for field in found for key in found[field]]
    listed = "; ".join(f"{field}: {', '.join(names)}" for field, names in found.items())
    yield Violation(
        f"Secret of type {secret_type} is committed with {len(keys)} value(s) in the manifest "
        f"({listed}): base64 is an encoding, so anyone who can read the file or its history has "
        "the credential",
        (next(iter(found)),),
        (("type", secret_type), ("keys", ",".join(keys))),
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
                "variable name and a scrypt fingerprint, never the value: the fingerprint tracks "
                "one credential across files and scans and makes bulk guessing slow, but a weak "
                "value such as changeme can still be confirmed by a targeted guess, so treat "
                "reports as sensitive and rotate what was committed."
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
            "secret-in-args",
            "Credential written into a container's command or arguments",
            Severity.HIGH,
            Stage.CRAWL,
            WORKLOAD_KINDS,
            remediation=(
                "Pass the credential through a mounted Secret file (or a flag that names the file) "
                "instead of the command line, and rotate it."
            ),
            description=(
                "A credential on the command line is stored in plain text in the manifest, in Git "
                "history and in etcd, and at run time it is readable by any process on the node "
                "through /proc/PID/cmdline and shown by ps and container inspect commands. "
                "kposture runs the same detector as secret-in-env over every command and args "
                "element of every container: credential flags written as --db-password=..., "
                "-Dspring.datasource.password=... or a bare flag followed by its value "
                "(--password, then the value), URLs with passwords, known token formats and the "
                "lines of inline scripts ($(VAR) references to env vars do not count). Findings "
                "name the flag and carry a scrypt fingerprint (as for secret-in-env), never the value."
            ),
            references=(
                CIS_SECRETS_AS_FILES,
                K08,
                CREDENTIALS,
                CREDENTIALS_IN_FILES,
                SECRETS_GUIDANCE,
            ),
            fix_snippet=(
                "args:\n- --db-password-file=/var/run/secrets/app/db-password\nvolumeMounts:\n"
                "- name: app-secrets\n  mountPath: /var/run/secrets/app\n  readOnly: true\n"
            ),
        ),
        _secret_in_args,
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
                "references, templates, file paths and fill-in placeholders; findings carry the key "
                "and a scrypt fingerprint (as for secret-in-env), never the value."
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
            "secret-in-manifest",
            "Secret manifest committed with its values",
            Severity.HIGH,
            Stage.CRAWL,
            ("Secret",),
            remediation=(
                "Remove the values from the repository and rotate them, then deliver them with "
                "Sealed Secrets, External Secrets Operator, the Secrets Store CSI driver or "
                "SOPS-encrypted files."
            ),
            description=(
                "A Secret manifest with data or stringData in a repository is a leaked credential: "
                "base64 is an encoding, not encryption, and the value stays in Git history and in "
                "every clone after it is deleted. kposture reports each Secret once, naming its "
                "keys, never the values or their lengths; empty values, references and fill-in "
                "placeholders (${VAR}, {{ template }}, <password>), booleans and public "
                "certificates alone do not count, while TLS, docker config, basic-auth, SSH and "
                "bootstrap-token Secrets do. Service-account token Secrets are left to "
                "long-lived-token-secret, and objects read from a live cluster (values stripped) "
                "or from admission requests are not judged; a chart kposture renders may show a "
                "value generated at render time, suppress the finding there."
            ),
            references=(
                CIS_SECRETS_AS_FILES,
                CIS_EXTERNAL_STORE,
                K08,
                CREDENTIALS_IN_FILES,
                SECRETS_GUIDANCE,
            ),
            fix_snippet=(
                "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
                "  name: app-credentials\n  namespace: shop\nspec:\n  encryptedData:\n"
                "    db-password: AgB4... # kubeseal output, safe to commit\n"
            ),
        ),
        _secret_in_manifest,
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
