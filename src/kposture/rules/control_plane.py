"""Control plane and authentication: kube-apiserver settings (CIS Kubernetes Benchmark 1.2 and
3.2; OWASP Kubernetes Top 10 K05, K06, K08, K09), encryption at rest, and what a live source
observed of the API endpoint and anonymous access (``ClusterFacts``).

Owns the kube-apiserver rules (kubelet and etcd are in ``node_components``). Components and their
flags come from ``inventory.components``
(static pods in kube-system or read from ``/etc/kubernetes/manifests``, hyperkube, ``sh -c``
command lines); each flag finding points at the ``command[i]``/``args[i]`` element that sets it, or
at the container's ``command`` when a flag is missing and its Kubernetes default is unsafe. When a
scan looks like a cluster but shows no kube-apiserver (a managed control plane), each rule reports
once, at info, "not observable" on the cluster anchor (``Inventory.cluster_anchor``, the
ClusterFacts object) — never a pass. Plain manifest folders get no cluster-scope result at all.

Defaults applied when a flag is absent (kube-apiserver and kubelet command-line references, 1.20
to 1.31): kube-apiserver ``--anonymous-auth`` true, ``--profiling`` true, ``--authorization-mode``
AlwaysAllow (when ``--authorization-config`` is not used), NodeRestriction not among the default
admission plugins; a ``kubelet.config.k8s.io/v1beta1`` KubeletConfiguration defaults to anonymous
authentication off, authorization mode Webhook and readOnlyPort 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from kposture.inventory import Inventory
from kposture.inventory.components import (
    API_SERVER,
    ENCRYPTION_CONFIG_KIND,
    Component,
    ConfigDocument,
    config_documents,
    flag_list,
    is_true,
    last,
)
from kposture.model import (
    BLOCKS_STAGE,
    Domain,
    K8sObject,
    Reference,
    Severity,
    Stage,
    Violation,
)
from kposture.rules._cluster import (
    API_KINDS,
    CLUSTER,
    cis,
    component_check,
    mapping,
    missing_path,
)
from kposture.rules._references import (
    AUTHENTICATION,
    AUTHN_AUTHZ,
    CONTROL_PLANE_HARDENING,
    ENCRYPTION,
    K05,
    K06,
    K08,
    K09,
    LOGGING,
    MITRE,
    SECRETS_GUIDANCE,
)
from kposture.rules._templates import rule_meta
from kposture.rules.base import Rule

ENCRYPTION_KINDS: tuple[str, ...] = (*API_KINDS, ENCRYPTION_CONFIG_KIND, "ConfigMap")

# --- kube-apiserver -------------------------------------------------------------------------------


def _anonymous_auth(component: Component) -> Iterator[Violation]:
    flag = last(component.flags, "anonymous-auth")
    if flag is None:
        yield Violation(
            "--anonymous-auth is not set and kube-apiserver defaults to true: requests without "
            "credentials are served as system:anonymous",
            missing_path(component),
            (("flag", "anonymous-auth"),),
        )
    elif is_true(flag.value):
        yield Violation(
            f"--anonymous-auth={flag.value}: requests without credentials are served as "
            "system:anonymous",
            flag.path,
            (("flag", "anonymous-auth"),),
        )


def _anonymous_probe(obj: K8sObject) -> tuple[list[Violation], bool]:
    probe = mapping(obj.raw.get("anonymousAccess"))
    codes = {key: probe.get(key) for key in ("version", "api") if isinstance(probe.get(key), int)}
    if not codes:
        return [], False
    found: list[Violation] = []
    for endpoint, code in codes.items():
        path = ("anonymousAccess", endpoint)
        url = "/version" if endpoint == "version" else "/api"
        if code == 200:
            found.append(
                Violation(
                    f"an unauthenticated GET {url} was answered 200: anonymous requests are "
                    "authenticated and authorized",
                    path,
                    (("probe", url), ("status", "200")),
                )
            )
        elif code == 403:
            found.append(
                Violation(
                    f"an unauthenticated GET {url} got 403, not 401: anonymous authentication is "
                    "on (the request ran as system:anonymous and RBAC denied it)",
                    path,
                    (("probe", url), ("status", "403")),
                    severity=Severity.MEDIUM,
                )
            )
    return found, True


def _static_token(component: Component) -> Iterator[Violation]:
    flag = last(component.flags, "token-auth-file")
    if flag is not None and flag.value not in ("", "true"):
        yield Violation(
            f"--token-auth-file={flag.value}: static bearer tokens never expire and need an API "
            "server restart to revoke",
            flag.path,
            (("flag", "token-auth-file"),),
        )


def _authorization(component: Component) -> Iterator[Violation]:
    if last(component.flags, "authorization-config") is not None:
        return  # structured authorization (1.29+): the chain lives in a file the scan cannot see
    modes = flag_list(component.flags, "authorization-mode")
    flag = last(component.flags, "authorization-mode")
    if flag is None:
        yield Violation(
            "--authorization-mode is not set and defaults to AlwaysAllow: every authenticated "
            "(and anonymous) request is allowed",
            missing_path(component),
            (("mode", "AlwaysAllow"),),
        )
        return
    if "AlwaysAllow" in modes:
        yield Violation(
            f"--authorization-mode={flag.value} includes AlwaysAllow: every request is allowed",
            flag.path,
            (("mode", "AlwaysAllow"),),
        )
    for needed, why in (("RBAC", "RBAC is not enforced"), ("Node", "kubelets are not confined")):
        if needed not in modes:
            yield Violation(
                f"--authorization-mode={flag.value} does not include {needed}: {why}",
                flag.path,
                (("missing", needed),),
                # Missing Node weakens node isolation; missing RBAC (or AlwaysAllow) is critical.
                severity=Severity.HIGH if needed == "Node" else None,
            )


def _oidc(component: Component) -> Iterator[Violation]:
    for name in ("oidc-issuer-url", "authentication-config"):
        if last(component.flags, name) is not None:
            return
    yield Violation(
        "no OIDC issuer (--oidc-issuer-url) or structured authentication (--authentication-config)"
        ": users authenticate with client certificates or tokens that cannot be revoked centrally",
        missing_path(component),
        (BLOCKS_STAGE,),
    )


def _audit(component: Component) -> Iterator[Violation]:
    policy = last(component.flags, "audit-policy-file")
    if policy is None:
        yield Violation(
            "--audit-policy-file is not set: the API server writes no audit log",
            missing_path(component),
            (("missing", "audit-policy-file"),),
        )
        return
    if last(component.flags, "audit-log-path") is None and (
        last(component.flags, "audit-webhook-config-file") is None
    ):
        yield Violation(
            "--audit-policy-file is set but neither --audit-log-path nor "
            "--audit-webhook-config-file: audit events go nowhere",
            policy.path,
            (("missing", "audit-log-path"),),
        )


def _profiling(component: Component) -> Iterator[Violation]:
    flag = last(component.flags, "profiling")
    if flag is None:
        yield Violation(
            "--profiling is not set and defaults to true: /debug/pprof exposes profiling data",
            missing_path(component),
            (("flag", "profiling"),),
        )
    elif is_true(flag.value):
        yield Violation(
            f"--profiling={flag.value}: /debug/pprof exposes profiling data",
            flag.path,
            (("flag", "profiling"),),
        )


def _admission(component: Component) -> Iterator[Violation]:
    flags = component.flags
    enabled = flag_list(flags, "enable-admission-plugins") + flag_list(flags, "admission-control")
    disabled = flag_list(flags, "disable-admission-plugins")
    where = last(flags, "enable-admission-plugins") or last(flags, "admission-control")
    path = where.path if where is not None else missing_path(component)
    if "NodeRestriction" not in enabled or "NodeRestriction" in disabled:
        yield Violation(
            "admission plugin NodeRestriction is not enabled: a kubelet's credentials can modify "
            "any Node and Pod object",
            path,
            (("plugin", "NodeRestriction"),),
        )
    if "AlwaysAdmit" in enabled:
        yield Violation(
            "admission plugin AlwaysAdmit is enabled: it admits every request",
            path,
            (("plugin", "AlwaysAdmit"),),
        )
    off = last(flags, "disable-admission-plugins")
    for plugin in ("ServiceAccount", "NamespaceLifecycle"):
        if plugin in disabled and off is not None:
            yield Violation(
                f"admission plugin {plugin} is disabled", off.path, (("plugin", plugin),)
            )


# --- encryption at rest ---------------------------------------------------------------------------


def _encryption_flag(component: Component) -> Iterator[Violation]:
    if last(component.flags, "encryption-provider-config") is None:
        yield Violation(
            "--encryption-provider-config is not set: Secrets are stored in etcd in plain text",
            missing_path(component),
            (("flag", "encryption-provider-config"),),
        )


def _covers_secrets(resources: object) -> bool:
    names = resources if isinstance(resources, list) else []
    return any(name in ("secrets", "*.", "*.*") for name in names)


def _encryption_document(doc: ConfigDocument) -> Iterator[Violation]:
    entries = doc.config.get("resources")
    covered = False
    for index, item in enumerate(entries if isinstance(entries, list) else []):
        entry = mapping(item)
        if not _covers_secrets(entry.get("resources")):
            continue
        covered = True
        providers = entry.get("providers")
        first = providers[0] if isinstance(providers, list) and providers else None
        if isinstance(first, Mapping) and "identity" in first:
            yield Violation(
                f"{doc.label}: the first provider for Secrets is identity, so new Secrets are "
                "written unencrypted",
                doc.field_path("resources", index, "providers", 0),
                (("provider", "identity"),),
            )
        break  # the first entry covering secrets is the one that applies
    if not covered:
        yield Violation(
            f"{doc.label}: no resources entry covers secrets, so they are stored unencrypted",
            doc.field_path("resources"),
            (("missing", "secrets"),),
        )


_encryption_components = component_check(API_SERVER, _encryption_flag)


def _encryption(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    if obj.ref.kind in (ENCRYPTION_CONFIG_KIND, "ConfigMap"):
        for doc in config_documents(obj, ENCRYPTION_CONFIG_KIND):
            yield from _encryption_document(doc)
        return
    yield from _encryption_components(obj, inventory)


# --- ClusterFacts: the endpoint -------------------------------------------------------------------


def _public_endpoint(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    endpoint = mapping(obj.raw.get("endpoint"))
    if endpoint.get("public") is True:
        host = str(endpoint.get("host", "?"))
        yield Violation(
            f"the API endpoint in use ({host}) resolves to a public address: anyone on the "
            "internet can reach the API server and try credentials or exploits",
            ("endpoint", "public"),
            (("host", host),),
        )


# --- metadata -------------------------------------------------------------------------------------

_meta = partial(rule_meta, requires=CLUSTER)
_api = partial(_meta, kinds=API_KINDS)
MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"


def _flag_fix(*flags: str) -> str:
    lines = "\n".join(f"    - {flag}" for flag in flags)
    return f"# {MANIFEST}\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n{lines}\n"


def _apiserver_rule(
    rule_id: str, judge: Callable[[Component], Iterator[Violation]], **kwargs: Any
) -> Rule:
    facts = kwargs.pop("facts", None)
    return Rule(_api(rule_id, **kwargs), component_check(API_SERVER, judge, facts=facts))


RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "api-server-public-endpoint",
            "API server endpoint on a public address",
            Severity.HIGH,
            Stage.CRAWL,
            CLUSTER,
            domain=Domain.CONTROL_PLANE_ACCESS,
            remediation=(
                "Serve the API on a private endpoint (private cluster, VPN or bastion) or restrict "
                "it to authorised source ranges."
            ),
            description=(
                "An API server reachable from the internet is exposed to credential stuffing, "
                "token replay and unauthenticated exploits. The cluster source resolves the "
                "endpoint of the context in use and records it in ClusterFacts; manifests cannot "
                "tell, so this rule only judges live scans and their snapshots."
            ),
            references=(K09, CONTROL_PLANE_HARDENING, Reference(MITRE, "T1133")),
            fix_snippet=(
                "# EKS: private endpoint only\n"
                "aws eks update-cluster-config --name NAME \\\n"
                "  --resources-vpc-config endpointPublicAccess=false,endpointPrivateAccess=true\n"
            ),
        ),
        _public_endpoint,
    ),
    _apiserver_rule(
        "api-server-anonymous-auth",
        _anonymous_auth,
        facts=_anonymous_probe,
        title="API server accepts anonymous requests",
        severity=Severity.HIGH,
        stage=Stage.CRAWL,
        domain=Domain.AUTHENTICATION,
        remediation="Start kube-apiserver with --anonymous-auth=false.",
        description=(
            "With anonymous authentication on, requests without credentials run as "
            "system:anonymous in group system:unauthenticated, one RoleBinding away from full "
            "access. Judged from the --anonymous-auth flag (default true) and, on live scans, "
            "from an unauthenticated GET /version and /api: 200 or 403 means anonymous "
            "requests are authenticated (403 reported at medium), 401 means they are refused."
        ),
        references=(*cis("1.2.1"), K06, AUTHENTICATION),
        fix_snippet=_flag_fix("--anonymous-auth=false"),
    ),
    _apiserver_rule(
        "api-server-static-token-file",
        _static_token,
        title="API server authenticates with a static token file",
        severity=Severity.HIGH,
        stage=Stage.CRAWL,
        domain=Domain.AUTHENTICATION,
        remediation="Remove --token-auth-file and authenticate users with OIDC or certificates.",
        description=(
            "Tokens in a --token-auth-file are long-lived clear-text credentials kept on the "
            "control-plane disk; they never expire and only an API server restart revokes them."
        ),
        references=(*cis("1.2.2"), K06, AUTHENTICATION),
        fix_snippet=_flag_fix("--oidc-issuer-url=https://issuer.example.com"),
    ),
    _apiserver_rule(
        "api-server-authorization-unsafe",
        _authorization,
        title="API server authorization allows everything or lacks RBAC/Node",
        severity=Severity.CRITICAL,
        stage=Stage.CRAWL,
        domain=Domain.CONTROL_PLANE_ACCESS,
        remediation="Start kube-apiserver with --authorization-mode=Node,RBAC and never AlwaysAllow.",
        description=(
            "AlwaysAllow (the default when --authorization-mode is unset) lets every request "
            "through, so any credential is cluster-admin. Without RBAC, Roles and bindings are "
            "not enforced; without Node, kubelets can read every Secret (reported at high). A "
            "structured --authorization-config file is not judged."
        ),
        references=(*cis("1.2.6", "1.2.7", "1.2.8"), K09, AUTHN_AUTHZ),
        fix_snippet=_flag_fix("--authorization-mode=Node,RBAC"),
    ),
    _apiserver_rule(
        "api-server-no-oidc",
        _oidc,
        title="API server has no OIDC or structured authentication",
        severity=Severity.INFO,
        stage=Stage.WALK,
        domain=Domain.AUTHENTICATION,
        remediation=(
            "Configure an OIDC issuer (--oidc-issuer-url or --authentication-config) for human users."
        ),
        description=(
            "Without an identity provider, people use client certificates or tokens that cannot be "
            "revoked centrally and carry no group membership from the organisation's directory. "
            "Reported at info, but it keeps the authentication domain from reaching walk."
        ),
        references=(*cis("3.1.1"), K06, AUTHENTICATION),
        fix_snippet=_flag_fix(
            "--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kubernetes"
        ),
    ),
    _apiserver_rule(
        "audit-logging-disabled",
        _audit,
        title="API server audit logging disabled",
        severity=Severity.HIGH,
        stage=Stage.CRAWL,
        domain=Domain.CLUSTER_LOGGING,
        remediation=(
            "Set --audit-policy-file with --audit-log-path or --audit-webhook-config-file."
        ),
        description=(
            "Without an audit policy and a log path or webhook, the API server records nothing "
            "about who did what, so an intrusion leaves no trace to detect or investigate."
        ),
        references=(*cis("1.2.16", "3.2.1"), K05, LOGGING),
        fix_snippet=_flag_fix(
            "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
            "--audit-log-path=/var/log/kubernetes/audit.log",
            "--audit-log-maxage=30",
        ),
    ),
    _apiserver_rule(
        "api-server-profiling",
        _profiling,
        title="API server profiling enabled",
        severity=Severity.LOW,
        stage=Stage.WALK,
        domain=Domain.CONTROL_PLANE_ACCESS,
        remediation="Start kube-apiserver with --profiling=false.",
        description=(
            "Profiling (on by default) serves /debug/pprof, which reveals internals and can be "
            "used to degrade the API server; production clusters do not need it."
        ),
        references=(*cis("1.2.15"), K09, CONTROL_PLANE_HARDENING),
        fix_snippet=_flag_fix("--profiling=false"),
    ),
    _apiserver_rule(
        "admission-plugins-weak",
        _admission,
        title="API server admission plugins weak (NodeRestriction off, AlwaysAdmit on)",
        severity=Severity.MEDIUM,
        stage=Stage.WALK,
        domain=Domain.ADMISSION_CONTROL,
        remediation=(
            "Enable NodeRestriction, never AlwaysAdmit, and keep ServiceAccount and "
            "NamespaceLifecycle enabled."
        ),
        description=(
            "NodeRestriction (not enabled by default) limits each kubelet to its own Node and "
            "its pods, so one compromised node cannot relabel others or attract workloads. "
            "AlwaysAdmit disables admission control; ServiceAccount and NamespaceLifecycle "
            "are on by default and must not be disabled."
        ),
        references=(*cis("1.2.10", "1.2.12", "1.2.13", "1.2.14"), K09, CONTROL_PLANE_HARDENING),
        fix_snippet=_flag_fix("--enable-admission-plugins=NodeRestriction"),
    ),
    Rule(
        _meta(
            "secrets-not-encrypted-at-rest",
            "Secrets not encrypted at rest in etcd",
            Severity.HIGH,
            Stage.WALK,
            ENCRYPTION_KINDS,
            domain=Domain.SECRETS,
            remediation=(
                "Set --encryption-provider-config to a file whose first provider for secrets is "
                "kms, aescbc, aesgcm or secretbox."
            ),
            description=(
                "Without an encryption provider, Secrets sit in etcd and its backups in plain "
                "text. Fails when kube-apiserver lacks --encryption-provider-config, and when an "
                "EncryptionConfiguration in the scan (a file or a ConfigMap value) lists "
                "identity first for secrets or does not cover secrets at all."
            ),
            references=(*cis("1.2.27", "1.2.28"), K08, ENCRYPTION, SECRETS_GUIDANCE),
            fix_snippet=(
                "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
                "resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n"
                "      - name: key1\n        secret: <base64 32-byte key>\n  - identity: {}\n"
            ),
        ),
        _encryption,
    ),
)
