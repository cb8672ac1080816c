"""Node components and etcd: kubelet authentication, authorization and read-only port (CIS
Kubernetes Benchmark 4.2.1, 4.2.2, 4.2.4) and etcd client and peer certificate authentication (CIS
2.2-2.6).

Owns the kubelet and etcd rules. Kubelet settings come from ``KubeletConfiguration`` documents
(files from ``/var/lib/kubelet/config.yaml``, kubeadm's ``kube-system/kubelet-config`` ConfigMap,
or the ``kubelets`` a live source puts in ClusterFacts from each node's ``/configz``) through
``inventory.components.config_documents``; a ``kubelet.config.k8s.io/v1beta1`` document defaults to
anonymous off, authorization Webhook and readOnlyPort 0, so absent fields pass. etcd flags come from
its static pod. When a cluster-like scan shows neither, each rule reports "not observable" at info
on the cluster anchor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from kposture.inventory import Inventory
from kposture.inventory.components import (
    CLUSTER_FACTS_KIND,
    ETCD,
    KUBELET_CONFIG_KIND,
    Component,
    ConfigDocument,
    config_documents,
    control_plane,
    is_true,
    last,
)
from kposture.model import (
    Domain,
    K8sObject,
    Reference,
    Severity,
    Stage,
    Violation,
    controls_evidence,
)
from kposture.rules._cluster import (
    API_KINDS,
    CLUSTER,
    cis,
    component_check,
    mapping,
    missing_path,
    not_observable,
)
from kposture.rules._references import (
    AUTHENTICATION,
    AUTHN_AUTHZ,
    CONTROL_PLANE_HARDENING,
    K06,
    K09,
    NSA,
)
from kposture.rules._templates import rule_meta
from kposture.rules.base import Check, Rule

KUBELET_KINDS: tuple[str, ...] = (KUBELET_CONFIG_KIND, "ConfigMap", CLUSTER_FACTS_KIND)
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"

# --- etcd -----------------------------------------------------------------------------------------


ETCD_CONTROLS = {
    "client-cert-auth": "2.2",
    "auto-tls": "2.3",
    "peer-client-cert-auth": "2.5",
    "peer-auto-tls": "2.6",
}
"""The CIS control each etcd flag answers: each finding names its own (``controls`` evidence), so
a missing --client-cert-auth fails 2.2 without failing 2.3 (--auto-tls) in the framework view."""


def _etcd(component: Component) -> Iterator[Violation]:
    flags = component.flags
    for name, why in (
        ("client-cert-auth", "any client that reaches etcd reads and writes every object"),
        ("peer-client-cert-auth", "any host that reaches the peer port can join the cluster"),
    ):
        flag = last(flags, name)
        if flag is None or not is_true(flag.value):
            path = flag.path if flag is not None else missing_path(component)
            evidence = (("flag", name), controls_evidence(*cis(ETCD_CONTROLS[name])))
            yield Violation(f"--{name} is not true: {why}", path, evidence)
    for name in ("auto-tls", "peer-auto-tls"):
        flag = last(flags, name)
        if flag is not None and is_true(flag.value):
            yield Violation(
                f"--{name}={flag.value}: self-signed certificates nobody verifies",
                flag.path,
                (("flag", name), controls_evidence(*cis(ETCD_CONTROLS[name]))),
            )


# --- kubelet --------------------------------------------------------------------------------------


def kubelet_check(judge: Callable[[ConfigDocument], Iterator[Violation]]) -> Check:
    """A check judging every kubelet configuration of an object; on the cluster anchor it reports
    "not observable" when the scan looks like a cluster but holds no kubelet configuration."""

    def check(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        if obj.ref.kind == CLUSTER_FACTS_KIND and inventory.cluster_anchor is obj:
            plane = control_plane(inventory)
            if not plane.kubelet_configs and plane.cluster_like:
                yield not_observable("kubelet configuration", plane.signs)
        for doc in config_documents(obj, KUBELET_CONFIG_KIND):
            yield from judge(doc)

    return check


def _kubelet_anonymous(doc: ConfigDocument) -> Iterator[Violation]:
    anonymous = mapping(mapping(doc.config.get("authentication")).get("anonymous"))
    if anonymous.get("enabled") is True:
        yield Violation(
            f"{doc.label}: authentication.anonymous.enabled is true: anyone reaching port 10250 "
            "is served as system:anonymous",
            doc.field_path("authentication", "anonymous", "enabled"),
        )


def _kubelet_authorization(doc: ConfigDocument) -> Iterator[Violation]:
    mode = mapping(doc.config.get("authorization")).get("mode")
    if mode == "AlwaysAllow":
        yield Violation(
            f"{doc.label}: authorization.mode is AlwaysAllow: every request to the kubelet API "
            "(exec, logs, pod listing) is allowed",
            doc.field_path("authorization", "mode"),
        )


def _kubelet_read_only(doc: ConfigDocument) -> Iterator[Violation]:
    port = doc.config.get("readOnlyPort")
    if isinstance(port, int) and not isinstance(port, bool) and port != 0:
        yield Violation(
            f"{doc.label}: readOnlyPort is {port}: pods, node and metrics data are served "
            "without authentication",
            doc.field_path("readOnlyPort"),
            (("port", str(port)),),
        )


_meta = partial(rule_meta, requires=CLUSTER, domain=Domain.CONTROL_PLANE_ACCESS)
_kubelet = partial(_meta, kinds=KUBELET_KINDS)

RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "etcd-client-auth-disabled",
            "etcd accepts clients or peers without certificates",
            Severity.HIGH,
            Stage.WALK,
            API_KINDS,
            remediation=(
                "Start etcd with --client-cert-auth=true and --peer-client-cert-auth=true and "
                "without --auto-tls or --peer-auto-tls."
            ),
            description=(
                "etcd holds every object of the cluster, Secrets included; without client "
                "certificate authentication anyone who reaches its port reads and rewrites them, "
                "and auto-TLS certificates are self-signed and unverified. Each finding counts "
                "only for the CIS control of its flag in the framework view: --client-cert-auth "
                "2.2, --auto-tls 2.3, --peer-client-cert-auth 2.5, --peer-auto-tls 2.6."
            ),
            references=(*cis("2.2", "2.3", "2.5", "2.6"), K09, Reference(NSA, "Etcd")),
            fix_snippet=(
                "# /etc/kubernetes/manifests/etcd.yaml\n    - --client-cert-auth=true\n"
                "    - --peer-client-cert-auth=true\n"
            ),
        ),
        component_check(ETCD, _etcd, what="etcd"),
    ),
    Rule(
        _kubelet(
            "kubelet-anonymous-auth",
            "Kubelet accepts anonymous requests",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Set authentication.anonymous.enabled: false in the KubeletConfiguration.",
            description=(
                "An anonymous kubelet API lets anyone who reaches port 10250 list pods and, with "
                "a permissive authorizer, exec into them. Judged on KubeletConfiguration documents "
                "(files, kubeadm's kubelet-config ConfigMap, ClusterFacts from /configz), whose "
                "v1beta1 default is false."
            ),
            references=(*cis("4.2.1"), K06, AUTHENTICATION),
            fix_snippet=(
                f"# {KUBELET_CONFIG}\nauthentication:\n  anonymous:\n    enabled: false\n"
            ),
        ),
        kubelet_check(_kubelet_anonymous),
    ),
    Rule(
        _kubelet(
            "kubelet-authorization-always-allow",
            "Kubelet authorizes every request (AlwaysAllow)",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Set authorization.mode: Webhook in the KubeletConfiguration.",
            description=(
                "With AlwaysAllow the kubelet lets any authenticated (or anonymous) caller run "
                "commands in containers, read logs and list pods; Webhook asks the API server "
                "(SubjectAccessReview). The v1beta1 default is Webhook."
            ),
            references=(*cis("4.2.2"), K09, AUTHN_AUTHZ),
            fix_snippet=f"# {KUBELET_CONFIG}\nauthorization:\n  mode: Webhook\n",
        ),
        kubelet_check(_kubelet_authorization),
    ),
    Rule(
        _kubelet(
            "kubelet-read-only-port",
            "Kubelet serves the unauthenticated read-only port",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Set readOnlyPort: 0 in the KubeletConfiguration.",
            description=(
                "The read-only port (10255 when enabled) serves pod specs, environment and "
                "metrics without authentication, a reconnaissance gift to any pod on the node "
                "network. The v1beta1 default is 0 (off)."
            ),
            references=(*cis("4.2.4"), K09, CONTROL_PLANE_HARDENING),
            fix_snippet=f"# {KUBELET_CONFIG}\nreadOnlyPort: 0\n",
        ),
        kubelet_check(_kubelet_read_only),
    ),
)
