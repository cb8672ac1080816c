"""RBAC least privilege: over-broad Roles and ClusterRoles, and bindings that hand out cluster-admin,
``system:masters`` or access to anonymous users (CIS Kubernetes Benchmark 5.1).

Owns the RBAC rule family. Role rules judge every PolicyRule in force for a Role or ClusterRole
through ``inventory.rbac``, one finding per offending PolicyRule, pointing at the resource (or verb)
entry that grants it. A rule held through ClusterRole aggregation is reported once, on the source
role that states it, not again on ``view``, ``edit``, ``admin`` or another aggregating role (a
default's rule pulled into a user's aggregating role is judged on that role, at the aggregation
selector). Binding rules report one finding per offending subject. Kubernetes' own bootstrap roles and
bindings are reported at info: a violation is capped when both the judged object and the origin of
the rule (or the subject, for bindings) are defaults, so a user rule aggregated into ``view`` or a
user added to the ``cluster-admin`` binding is judged normally.

The role rules also judge RoleBindings and ClusterRoleBindings: since a default role's own findings
are info, a binding that hands one (``admin``, ``edit``, a ``system:controller:`` role) to a
subject that is not Kubernetes' own is reported once on the binding, within its scope. Grants are
scope-aware: a Role, or a ClusterRole bound by a RoleBinding, grants nothing on cluster-scoped
resources (nodes, persistentvolumes, CSRs, webhook configurations...); a ClusterRole on its own is
judged as if bound cluster-wide.
"""

from __future__ import annotations

from functools import partial

from kposture.inventory import BINDING_KINDS, ROLE_KINDS
from kposture.inventory.rbac_capabilities import (
    APPROVE_CSRS,
    CREATE_PERSISTENT_VOLUMES,
    CREATE_TOKENS,
    CREATE_WORKLOADS,
    ESCALATE_BIND,
    EXEC_PODS,
    IMPERSONATE,
    MODIFY_WEBHOOKS,
    NODES_PROXY,
    READ_SECRETS,
)
from kposture.model import Domain, Reference, Severity, Stage
from kposture.rules._rbac_checks import (
    BINDING_NOTE,
    FULL_ACCESS_NOTE,
    anonymous_access,
    binding_note,
    cluster_admin_binding,
    cluster_scoped,
    escalation_path,
    grant_check,
    system_masters,
    wildcard_rbac,
)
from kposture.rules._rbac_shapes import SHAPE_RULES
from kposture.rules._references import (
    AUTHN_AUTHZ,
    CIS,
    CONTAINER_API_CREDENTIALS,
    K03,
    K06,
    MITRE,
)
from kposture.rules._templates import rule_meta
from kposture.rules.base import Rule

# --- metadata ---------------------------------------------------------------------------------------

ROLE_RULE_KINDS = (*ROLE_KINDS, *BINDING_KINDS)
"""Role rules judge roles, and bindings that hand out a default role (see ``binding_note``)."""
BINDING_RULE_KINDS = BINDING_KINDS


CLUSTER_ROLES = Reference(MITRE, "T1098.006")
"""MITRE ATT&CK: account manipulation, additional container cluster roles."""

WEBSOCKET_NOTE = (
    "; get alone is enough: a WebSocket exec/attach is an HTTP GET, authorized as get unless the "
    "cluster enforces create on WebSocket upgrades (AuthorizePodWebsocketUpgradeCreatePermission, "
    "Kubernetes 1.30+)"
)


_meta = partial(rule_meta, domain=Domain.RBAC)


_NAMED_ROLE_SNIPPET = """rules:
- apiGroups: [""]
  resources: ["{resource}"]
  resourceNames: ["{name}"]
  verbs: ["get"]
"""

RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "cluster-admin-binding",
            "Subject bound to cluster-admin or an equivalent all-powerful role",
            Severity.HIGH,
            Stage.CRAWL,
            BINDING_RULE_KINDS,
            remediation=(
                "Bind the subject to a role that lists only the resources and verbs it needs, "
                "scoped to a namespace with a RoleBinding where possible."
            ),
            description=(
                "A subject bound to cluster-admin, or to a role granting every verb (or every read "
                "and write verb) on every resource of every API group, controls the whole cluster "
                "or namespace: it reads every Secret and ServiceAccount token and runs pods as any "
                "identity. A stolen token of such a subject is a full compromise. The role is "
                "resolved from the scan (aggregation included); a binding to cluster-admin counts "
                "even when the scanned cluster-admin looks harmless, because the API server "
                "restores its permissions at start-up unless it is annotated autoupdate: false, "
                "while a role neither scanned nor a Kubernetes default is not guessed at. The "
                "role itself is reported once by wildcard-rbac (medium): a role grants nothing "
                "until bound, so the binding that hands out full access is rated above it."
            ),
            references=(Reference(CIS, "5.1.1"), K03, CLUSTER_ROLES, AUTHN_AUTHZ),
            fix_snippet=(
                "kind: RoleBinding\nmetadata:\n  name: deployer\n  namespace: shop\nroleRef:\n"
                "  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: edit\n"
                "subjects:\n- kind: ServiceAccount\n  name: deployer\n  namespace: shop\n"
            ),
        ),
        cluster_admin_binding,
    ),
    Rule(
        _meta(
            "system-masters-group",
            "Binding or certificate request for the system:masters group",
            Severity.CRITICAL,
            Stage.CRAWL,
            (*BINDING_RULE_KINDS, "CertificateSigningRequest"),
            remediation=(
                "Remove system:masters from bindings and deny certificate requests for it; grant "
                "administrators a revocable RBAC binding instead."
            ),
            description=(
                "Members of system:masters bypass RBAC and every authorization webhook, and a "
                "client certificate naming the group cannot be revoked before it expires. A "
                "CertificateSigningRequest whose subject asks for O=system:masters is a request "
                "for permanent cluster-admin. The request's PEM subject is decoded to find the "
                "group; Kubernetes' own cluster-admin binding to the group is reported as info."
            ),
            references=(
                Reference(CIS, "5.1.7"),
                K06,
                Reference(MITRE, "T1649"),
                AUTHN_AUTHZ,
            ),
            fix_snippet=(
                "subjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n"
                "  name: platform-admins   # a group your identity provider manages\n"
            ),
        ),
        system_masters,
    ),
    Rule(
        _meta(
            "wildcard-rbac",
            "Role uses * in verbs, resources or API groups",
            Severity.MEDIUM,
            Stage.CRAWL,
            ROLE_RULE_KINDS,
            remediation="List the exact verbs, resources and API groups the role needs instead of *.",
            description=(
                "A wildcard grants every current and future resource or verb, including "
                "subresources such as pods/exec, escalate and impersonate, and the custom resources "
                "of every operator installed later. Wildcard roles routinely grant far more than "
                "intended and turn a minor token leak into a cluster compromise. A rule that "
                "grants nothing where it is in force is not reported: * verbs on nodes in a Role "
                "(nodes are cluster-scoped, a Role only grants requests in its namespace). A rule "
                "with full access (every verb, or every read and write verb, on every resource of "
                "every API group) is reported once, naming every risky capability it holds, "
                "instead of once per capability rule; each subject bound to it is reported by "
                "cluster-admin-binding (high), since the binding, not the unbound role, hands "
                "the access out."
                + binding_note("a default role with wildcard rules (a system:controller: role)")
            ),
            references=(Reference(CIS, "5.1.3"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: ["apps"]\n  resources: ["deployments"]\n'
                '  verbs: ["get", "list", "watch", "update", "patch"]\n'
            ),
        ),
        wildcard_rbac,
    ),
    Rule(
        _meta(
            "rbac-secrets-read",
            "Role can read Secrets",
            Severity.HIGH,
            Stage.CRAWL,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove get, list and watch on secrets, or restrict get to the named Secrets the "
                "workload needs with resourceNames."
            ),
            description=(
                "Reading Secrets yields database passwords, API keys and, where legacy token "
                "Secrets exist, ServiceAccount tokens that let the reader act as more privileged "
                "identities. list and watch return every Secret's contents, not just names. A rule "
                "limited by resourceNames still exposes those Secrets and is reported with that note."
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(Reference(CIS, "5.1.2"), K03, CONTAINER_API_CREDENTIALS, AUTHN_AUTHZ),
            fix_snippet=_NAMED_ROLE_SNIPPET.format(resource="secrets", name="app-config"),
        ),
        grant_check(READ_SECRETS.targets),
    ),
    Rule(
        _meta(
            "rbac-pod-exec",
            "Role can exec into or attach to pods",
            Severity.HIGH,
            Stage.CRAWL,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove pods/exec, pods/attach and pods/ephemeralcontainers from the role and give "
                "interactive access only through a just-in-time, audited break-glass role."
            ),
            description=(
                "Exec, attach and ephemeral debug containers (kubectl debug: update or patch on "
                "pods/ephemeralcontainers) run commands inside running pods with their "
                "ServiceAccount tokens, mounted Secrets and network position. get counts as well "
                "as create: WebSocket clients exec with an HTTP GET, which clusters before "
                "Kubernetes 1.30 authorize as get. Unlike Polaris, a role named system:... or like "
                "a default is exempt only when it carries the bootstrap markers, since anyone who "
                "can create roles can choose such a name." + BINDING_NOTE + FULL_ACCESS_NOTE
            ),
            references=(Reference(MITRE, "T1609"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: [""]\n  resources: ["pods", "pods/log"]\n'
                '  verbs: ["get", "list", "watch"]\n'
            ),
        ),
        grant_check(EXEC_PODS.targets, note=WEBSOCKET_NOTE),
    ),
    Rule(
        _meta(
            "rbac-workload-create",
            "Role can create pods or pod controllers",
            Severity.MEDIUM,
            Stage.WALK,
            ROLE_RULE_KINDS,
            remediation=(
                "Grant workload creation only to deployment pipelines, in namespaces whose "
                "ServiceAccounts hold no more than the pipeline may use."
            ),
            description=(
                "Whoever can create a pod, or a Deployment, DaemonSet, StatefulSet, ReplicaSet, "
                "Job, CronJob or ReplicationController that makes one, can run it as any "
                "ServiceAccount of the namespace and read that token, mount any Secret or "
                "ConfigMap there, and, without admission policy, a privileged pod or host path. "
                "A role that also impersonates ServiceAccounts in that namespace gains nothing "
                "more from it: the impersonation is named in this finding's evidence (folded) "
                "instead of a critical rbac-escalate-bind-impersonate finding of its own."
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(Reference(CIS, "5.1.4"), Reference(MITRE, "T1610"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: ["apps"]\n  resources: ["deployments"]\n'
                '  verbs: ["get", "list", "watch"]\n'
            ),
        ),
        grant_check(CREATE_WORKLOADS.targets, names_folded=True),
    ),
    Rule(
        _meta(
            "rbac-escalate-bind-impersonate",
            "Role can escalate, bind roles or impersonate",
            Severity.CRITICAL,
            Stage.CRAWL,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove escalate, bind and impersonate from the role; only the RBAC administrators "
                "of the cluster should hold them."
            ),
            description=(
                "RBAC stops users from granting permissions they do not hold, except for those with "
                "escalate (edit roles beyond their own rights), bind (bind any role, cluster-admin "
                "included) or impersonate (act as any user, group or ServiceAccount). Each of them "
                "is a direct path to cluster-admin. Scope counts: escalate on clusterroles and "
                "impersonation of users and groups are checked without a namespace, so a Role "
                "(or a ClusterRole in a RoleBinding) holding them grants nothing; bind on "
                "clusterroles is checked in the namespace of the RoleBinding being written, so a "
                "Role holding it lets its holder bind cluster-admin in that namespace and is "
                "reported. Impersonating the ServiceAccounts of a namespace where the role also "
                "creates pods or pod controllers (edit or admin in a developer's namespace) is no "
                "more than those give, a pod running as any ServiceAccount of its namespace: it "
                "is folded into rbac-workload-create; cluster-wide, or of users and groups, it is "
                "reported." + BINDING_NOTE + FULL_ACCESS_NOTE
            ),
            references=(
                Reference(CIS, "5.1.8"),
                Reference(MITRE, "T1078"),
                CLUSTER_ROLES,
                K03,
                AUTHN_AUTHZ,
            ),
            fix_snippet=(
                'rules:\n- apiGroups: ["rbac.authorization.k8s.io"]\n  resources: ["roles", '
                '"rolebindings"]\n  verbs: ["get", "list", "watch"]\n'
            ),
        ),
        grant_check((*ESCALATE_BIND.targets, *IMPERSONATE.targets), point_at_verb=True),
    ),
    Rule(
        _meta(
            "rbac-nodes-proxy",
            "Role can use the nodes/proxy subresource (kubelet API)",
            Severity.HIGH,
            Stage.WALK,
            ROLE_RULE_KINDS,
            remediation="Remove nodes/proxy from the role; use metrics endpoints for monitoring.",
            description=(
                "nodes/proxy forwards requests to the kubelet API of any node, which can run "
                "commands in every pod on that node and read their logs. Those requests bypass "
                "admission control and are not audited as pod exec by the API server."
                + cluster_scoped("Nodes are")
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(Reference(CIS, "5.1.10"), Reference(MITRE, "T1609"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: [""]\n  resources: ["nodes", "nodes/metrics"]\n'
                '  verbs: ["get", "list"]\n'
            ),
        ),
        grant_check(NODES_PROXY.targets),
    ),
    Rule(
        _meta(
            "rbac-csr-approve",
            "Role can approve certificate signing requests",
            Severity.HIGH,
            Stage.WALK,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove update and patch on certificatesigningrequests/approval; leave approval to "
                "the controller manager and named administrators."
            ),
            description=(
                "Approving CertificateSigningRequests lets a user who can also create them mint "
                "client certificates for any user or group the signer allows, including node "
                "identities; certificates cannot be revoked before they expire. Approval also "
                "needs the approve verb on the signer, which is not checked here."
                + cluster_scoped("CertificateSigningRequests are")
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(Reference(CIS, "5.1.11"), Reference(MITRE, "T1649"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: ["certificates.k8s.io"]\n'
                '  resources: ["certificatesigningrequests"]\n  verbs: ["get", "list", "watch"]\n'
            ),
        ),
        grant_check(APPROVE_CSRS.targets),
    ),
    Rule(
        _meta(
            "rbac-webhook-modify",
            "Role can change admission webhooks or admission policies",
            Severity.HIGH,
            Stage.WALK,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove write verbs on admission webhook and admission policy configurations "
                "from the role."
            ),
            description=(
                "Whoever can write validating or mutating webhook configurations (or admission "
                "policies and their bindings) can switch off the policy engine, or register a "
                "mutating webhook that sees every object, Secrets included, and injects containers "
                "into every new pod."
                + cluster_scoped("Webhook configurations and admission policies are")
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(
                Reference(CIS, "5.1.12"),
                Reference(MITRE, "T1562.001"),
                K03,
                AUTHN_AUTHZ,
            ),
            fix_snippet=(
                'rules:\n- apiGroups: ["admissionregistration.k8s.io"]\n'
                '  resources: ["validatingwebhookconfigurations"]\n  verbs: ["get", "list"]\n'
            ),
        ),
        grant_check(MODIFY_WEBHOOKS.targets),
    ),
    Rule(
        _meta(
            "rbac-token-create",
            "Role can create ServiceAccount tokens",
            Severity.HIGH,
            Stage.WALK,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove create on serviceaccounts/token, or restrict it with resourceNames to the "
                "ServiceAccount that really needs tokens issued."
            ),
            description=(
                "create on serviceaccounts/token issues a fresh token for any ServiceAccount in "
                "scope, with an expiry the caller chooses, so the holder acts with every "
                "permission of every such ServiceAccount, controller accounts included."
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(Reference(CIS, "5.1.13"), Reference(MITRE, "T1528"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: [""]\n  resources: ["serviceaccounts/token"]\n'
                '  resourceNames: ["ci-deployer"]\n  verbs: ["create"]\n'
            ),
        ),
        grant_check(CREATE_TOKENS.targets),
    ),
    Rule(
        _meta(
            "rbac-pv-create",
            "Role can create PersistentVolumes",
            Severity.MEDIUM,
            Stage.WALK,
            ROLE_RULE_KINDS,
            remediation=(
                "Remove create on persistentvolumes and let a StorageClass provisioner create "
                "volumes for claims."
            ),
            description=(
                "A PersistentVolume can point at a hostPath, so whoever creates one and claims it "
                "from a pod mounts any directory of the node, bypassing Pod Security admission "
                "rules on hostPath volumes."
                + cluster_scoped("PersistentVolumes are")
                + BINDING_NOTE
                + FULL_ACCESS_NOTE
            ),
            references=(Reference(CIS, "5.1.9"), Reference(MITRE, "T1611"), K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: [""]\n  resources: ["persistentvolumeclaims"]\n'
                '  verbs: ["get", "list", "create"]\n'
            ),
        ),
        grant_check(CREATE_PERSISTENT_VOLUMES.targets),
    ),
    Rule(
        _meta(
            "rbac-escalation-path",
            "Binding opens an escalation path to cluster-admin, webhooks or every Secret",
            Severity.CRITICAL,
            Stage.WALK,
            BINDING_RULE_KINDS,
            remediation=(
                "Break the path at its first hop: remove the permission this binding grants, or "
                "take the powerful rights away from the identity the path reaches (every hop is "
                "listed in the finding; `kposture rbac paths` shows them all)."
            ),
            description=(
                "Permissions that look harmless on their own chain into full control: whoever can create "
                "pods in a namespace can run them as any ServiceAccount of that namespace; exec or the "
                "kubelet API "
                "(nodes/proxy) read the tokens mounted in running pods; reading Secrets yields legacy "
                "ServiceAccount token Secrets; token creation and impersonation act as others outright; bind"
                " or escalate in a namespace with create on RoleBindings grants the namespace's admin role; "
                "CSR approval with creation mints a client certificate for any user or group but "
                "system:masters (which the CertificateSubjectRestriction admission plugin refuses). Each "
                "finding is one shortest path from a subject that does not hold the goal itself to full "
                "access (critical), to changing admission webhooks or to reading every Secret (high), "
                "reported on the binding that grants its first hop. Paths that start by group membership are"
                " reported once, for the group (system:authenticated included); a member's own path, "
                "starting at a binding of its own, is reported as well, even when longer. Kubernetes' "
                "own identities "
                "(system: users and groups, ServiceAccounts of the system namespaces) have such paths by "
                "design and are not reported; `kposture rbac paths --include-defaults` lists them."
            ),
            references=(
                Reference(MITRE, "T1078"),
                Reference(MITRE, "T1098.006"),
                Reference(CIS, "5.1.1"),
                K03,
                AUTHN_AUTHZ,
            ),
            fix_snippet=(
                "# e.g. let the deployer create Deployments only in a namespace whose\n"
                "# ServiceAccounts hold no more than the deployer may use\n"
                "subjects:\n- kind: ServiceAccount\n  name: deployer\n  namespace: ci\n"
            ),
        ),
        escalation_path,
    ),
    Rule(
        _meta(
            "anonymous-access-binding",
            "Binding grants access to anonymous or all authenticated users",
            Severity.CRITICAL,
            Stage.CRAWL,
            BINDING_RULE_KINDS,
            remediation=(
                "Remove system:anonymous, system:unauthenticated and system:authenticated from "
                "the binding and name the users, groups or ServiceAccounts that need access."
            ),
            description=(
                "system:anonymous and system:unauthenticated are anyone who can reach the API "
                "server; system:authenticated is every user and every ServiceAccount of every "
                "namespace, so one compromised pod's token suffices. Kubernetes' own discovery "
                "bindings to these groups are reported as info; any other is reported whatever "
                "the role, since its rules can grow later."
            ),
            references=(K06, K03, Reference(MITRE, "T1078"), AUTHN_AUTHZ),
            fix_snippet=(
                "subjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n"
                "  name: platform-readers\n"
            ),
        ),
        anonymous_access,
    ),
    *SHAPE_RULES,
)
