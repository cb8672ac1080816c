"""Tooling posture and GitOps drift: whether a cluster runs an admission policy engine, a log
shipper, runtime detection, a GitOps operator and an external secret store (CIS 5.2.1, 5.4.2;
OWASP Kubernetes Top 10 K04, K05, K08), and objects changed by hand in GitOps-managed namespaces.

Owns the tooling rules. What is installed comes from ``inventory.tools.detect_tools`` (workload
names and images, CRDs, custom resources, webhook configurations, Namespace labels); the "absent"
rules report once, on the cluster anchor (``Inventory.cluster_anchor``, the ClusterFacts object a
live source adds or the scan implies when it looks like a cluster), and never on an application
repository, which has no anchor. When the live listing was partial (``inventory.listing``: limited
to some namespaces, or a kind the tool shows as could not be listed) they report "not observable"
at info instead of claiming the tool is absent. ``manual-change`` reads ``metadata.managedFields``
and reports on the changed object itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from kposture.inventory import WORKLOAD_KINDS, Inventory, namespace_of
from kposture.inventory.components import CLUSTER_FACTS_KIND
from kposture.inventory.listing import listing
from kposture.inventory.tools import (
    EVIDENCE_KINDS,
    SIGNATURES,
    ToolCategory,
    detect_tools,
    gitops_namespaces,
    latest_manager,
)
from kposture.model import (
    BLOCKS_STAGE,
    NOT_OBSERVABLE,
    Domain,
    K8sObject,
    Reference,
    Severity,
    Stage,
    Violation,
)
from kposture.rules._references import (
    CIS,
    K04,
    K05,
    K08,
    LOGGING,
    POD_SECURITY_ENFORCEMENT,
    SECRETS_GUIDANCE,
    THREAT_DETECTION,
)
from kposture.rules._templates import rule_meta
from kposture.rules.base import Check, Rule

CLUSTER = (CLUSTER_FACTS_KIND,)
MANAGED_KINDS: tuple[str, ...] = (
    *WORKLOAD_KINDS,
    "Service",
    "Ingress",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "LimitRange",
    "ResourceQuota",
)
"""Namespaced kinds ``manual-change`` judges (the ones GitOps repositories usually hold)."""


def _looked_for(category: ToolCategory) -> str:
    names = dict.fromkeys(sig.tool for sig in SIGNATURES if sig.category is category)
    extra = {
        ToolCategory.POLICY_ENGINE: ["Pod Security Admission labels", "ValidatingAdmissionPolicy"],
        ToolCategory.EXTERNAL_SECRETS: [],
    }.get(category, [])
    return ", ".join([*names, *extra])


def absent_check(category: ToolCategory, what: str, *, blocks: bool = False) -> Check:
    """A check reporting, on the cluster anchor, that no tool of ``category`` was found.

    When the listing could have hidden the tool (a namespace-limited scan, or a kind the tool
    shows as that could not be listed), absence is not established: the check reports "not
    observable" at info instead. ``blocks`` marks an info finding that still keeps its maturity
    stage from being reached."""

    def check(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        if inventory.cluster_anchor is not obj:
            return
        if detect_tools(inventory).present(category):
            return
        evidence: tuple[tuple[str, str], ...] = (("looked_for", _looked_for(category)),)
        limited = listing(inventory).limits(EVIDENCE_KINDS[category])
        if limited:
            yield Violation(
                f"not observable: {limited}, so the scan cannot tell whether the cluster runs any "
                f"{what} (looked for {_looked_for(category)})",
                ("metadata", "name"),
                (NOT_OBSERVABLE, *evidence, ("listing", limited)),
                severity=Severity.INFO,
            )
            return
        yield Violation(
            f"no {what} found in the cluster (looked for {_looked_for(category)})",
            ("metadata", "name"),
            (*evidence, BLOCKS_STAGE) if blocks else evidence,
        )

    return check


HUMAN_MANAGERS = frozenset(
    {"kubectl", "kubectl-edit", "kubectl-patch", "kubectl-client-side-apply"}
)


def is_human_manager(manager: str) -> bool:
    """kubectl itself (server-side apply) and every ``kubectl-<verb>`` field manager."""
    return manager in HUMAN_MANAGERS or manager.startswith("kubectl-")


def _manual_change(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    if "managedFields" not in obj.metadata:
        return
    namespace = namespace_of(obj)
    managed_by = gitops_namespaces(inventory).get(namespace)
    if managed_by is None:
        return
    entry = latest_manager(obj)
    if entry is None or not is_human_manager(entry.manager):
        return
    when = entry.time or "an unknown time"
    yield Violation(
        f"last changed by {entry.manager} ({entry.operation or 'unknown operation'}) at {when}, "
        f"by hand, in namespace {namespace} managed by {managed_by}: the live object has drifted "
        "from Git until the operator reverts it",
        ("metadata", "managedFields", entry.index, "manager"),
        # The time is in the message only: the evidence is part of the fingerprint, and another
        # edit by hand is the same drift, not a new finding.
        (("manager", entry.manager),),
    )


_meta = partial(rule_meta, requires=CLUSTER)
_absent = partial(_meta, kinds=CLUSTER)

RULES: tuple[Rule, ...] = (
    Rule(
        _absent(
            "policy-engine-absent",
            "No admission policy engine or Pod Security Admission",
            Severity.MEDIUM,
            Stage.CRAWL,
            domain=Domain.ADMISSION_CONTROL,
            remediation=(
                "Label namespaces with pod-security.kubernetes.io/enforce or install a policy "
                "engine such as Kyverno, Gatekeeper or the kposture admission webhook."
            ),
            description=(
                "Without an admission policy mechanism nothing stops a privileged or host-mounting "
                "pod from being created, whatever a CI scan said. Counts as present: Pod Security "
                "Admission enforce labels on any namespace, ValidatingAdmissionPolicies, or a "
                "Kyverno, Gatekeeper, Kubewarden, jsPolicy or kposture workload, CRD or webhook."
            ),
            references=(Reference(CIS, "5.2.1"), K04, POD_SECURITY_ENFORCEMENT),
            fix_snippet=(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
                "    pod-security.kubernetes.io/enforce: restricted\n"
            ),
        ),
        absent_check(ToolCategory.POLICY_ENGINE, "admission policy engine"),
    ),
    Rule(
        _absent(
            "logging-agent-absent",
            "No log-shipping agent DaemonSet",
            Severity.MEDIUM,
            Stage.WALK,
            domain=Domain.CLUSTER_LOGGING,
            remediation=(
                "Run a log shipper such as Fluent Bit, Vector or the OpenTelemetry Collector as "
                "a DaemonSet that forwards node and container logs off the cluster."
            ),
            description=(
                "Container and node logs stay on the node, rotate away within hours and die with "
                "it, so an attacker's traces vanish before anyone looks. Counts as present: a "
                "DaemonSet whose name or image is a known shipper (Fluent Bit, Fluentd, Vector, "
                "Filebeat, Promtail, Alloy, OpenTelemetry Collector, Datadog and others)."
            ),
            references=(K05, LOGGING),
            fix_snippet=(
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: fluent-bit\n"
                "  namespace: logging\nspec:\n  template:\n    spec:\n      containers:\n"
                "      - name: fluent-bit\n        image: fluent/fluent-bit:3.1\n"
            ),
        ),
        absent_check(ToolCategory.LOGGING_AGENT, "log-shipping DaemonSet"),
    ),
    Rule(
        _absent(
            "runtime-detection-absent",
            "No runtime threat detection",
            Severity.MEDIUM,
            Stage.WALK,
            domain=Domain.REAL_TIME_MONITORING,
            remediation=(
                "Deploy a runtime detection agent such as Falco, Tetragon, Tracee or KubeArmor "
                "and route its alerts to on-call."
            ),
            description=(
                "Configuration scanning cannot see a shell spawned in a container, a crypto miner "
                "or a read of the service account token; runtime detection can. Counts as "
                "present: a workload, CRD or custom resource of Falco, Tetragon, Tracee, "
                "KubeArmor, Sysdig, NeuVector, Prisma Cloud or the kposture watcher."
            ),
            references=(K05, THREAT_DETECTION),
            fix_snippet="helm install falco falcosecurity/falco -n falco --create-namespace\n",
        ),
        absent_check(ToolCategory.RUNTIME_DETECTION, "runtime detection tool"),
    ),
    Rule(
        _absent(
            "gitops-operator-absent",
            "No GitOps operator (Argo CD, Flux)",
            Severity.INFO,
            Stage.WALK,
            domain=Domain.GITOPS,
            remediation=(
                "Deploy through a GitOps operator such as Argo CD or Flux so the cluster state "
                "is reviewed and versioned in Git."
            ),
            description=(
                "Without a GitOps operator changes reach the cluster from laptops and pipelines "
                "with broad credentials, unreviewed and hard to audit or roll back. Reported at "
                "info, but it keeps the GitOps domain from reaching walk."
            ),
            references=(),
            fix_snippet=(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\n"
                "  namespace: argocd\nspec:\n  source:\n    repoURL: https://git.example.com/shop\n"
                "    path: deploy\n  destination:\n    server: https://kubernetes.default.svc\n"
                "    namespace: shop\n  syncPolicy:\n    automated: {selfHeal: true}\n"
            ),
        ),
        absent_check(ToolCategory.GITOPS, "GitOps operator", blocks=True),
    ),
    Rule(
        _absent(
            "external-secret-store-absent",
            "No external secret store integration",
            Severity.INFO,
            Stage.RUN,
            domain=Domain.SECRETS,
            remediation=(
                "Keep secrets in an external store and sync or mount them with the External "
                "Secrets Operator, the Vault agent injector or the Secrets Store CSI driver."
            ),
            description=(
                "Secrets created by hand or committed to Git live only in etcd, with no rotation, "
                "versioning or access audit outside the cluster. Counts as present: the External "
                "Secrets Operator, Vault agent injector or Secrets Operator, Bank-Vaults, or the "
                "Secrets Store CSI driver (workloads, CRDs, custom resources, webhooks, the "
                "CSIDriver, vault.hashicorp.com/agent-inject annotations). Reported at info, but "
                "it keeps the secrets domain from reaching run."
            ),
            references=(Reference(CIS, "5.4.2"), K08, SECRETS_GUIDANCE),
            fix_snippet=(
                "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n"
                "  name: db\n  namespace: shop\nspec:\n  secretStoreRef: {name: vault, kind: "
                "ClusterSecretStore}\n  target: {name: db}\n  dataFrom:\n  - extract: {key: shop/db}\n"
            ),
        ),
        absent_check(
            ToolCategory.EXTERNAL_SECRETS, "external secret store integration", blocks=True
        ),
    ),
    Rule(
        _meta(
            "manual-change",
            "Object changed by hand in a GitOps-managed namespace",
            Severity.MEDIUM,
            Stage.RUN,
            MANAGED_KINDS,
            domain=Domain.GITOPS,
            remediation=(
                "Make the change in Git and let the GitOps operator apply it, and restrict kubectl "
                "write access to the namespace."
            ),
            description=(
                "The newest metadata.managedFields entry (status updates aside) names a kubectl "
                "field manager (kubectl, kubectl-edit, kubectl-patch, kubectl-client-side-apply or "
                "another kubectl-<verb>) in a namespace Argo CD or Flux manages (tracking labels "
                "or annotations on its objects, or an Application, Kustomization or HelmRelease "
                "targeting it). Hand edits drift from the reviewed state and may hide tampering."
            ),
            references=(),
            fix_snippet=(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  syncPolicy:\n"
                "    automated:\n      selfHeal: true\n"
            ),
        ),
        _manual_change,
    ),
)
