"""The control catalogues of the frameworks rules reference: every control, covered by kposture or not.

Plain data, kept apart from the logic in ``frameworks`` so the long lists do not hide it. Each entry is
``(id, short title)`` grouped by section. Sources (see ``docs/frameworks.md``):

- CIS Kubernetes Benchmark v1.9: ids and texts as kube-bench encodes them (``cfg/cis-1.9/*.yaml`` of
  aquasecurity/kube-bench), with the "(Automated)/(Manual)" suffix dropped.
- NSA-CISA Kubernetes Hardening Guidance v1.2 (August 2022): its sections and subsections; ids are the
  section titles, which is how rules cite them (``Reference(NSA_CISA, "Pod security")``).
- Pod Security Standards (kubernetes.io, v1.2x): the controls of each level; rules cite PSS only by
  level, so each control names the rule ids that check it.
- OWASP Kubernetes Top 10 (2022): K01-K10.
- MITRE ATT&CK for Containers: the techniques of the Containers platform as listed by Red Canary's
  atomic-red-team containers index, plus techniques ATT&CK has since filed under that platform
  (T1098.006, T1136.001, T1543.005) and the few enterprise techniques kposture detections cite.
"""

from __future__ import annotations

Section = tuple[str, tuple[tuple[str, str], ...]]
"""A heading and its ``(id, title)`` controls."""

CIS_SECTIONS: tuple[Section, ...] = (
    (
        "1.1 Control Plane Node Configuration Files",
        (
            ("1.1.1", "API server pod specification file permissions are 600 or more restrictive"),
            ("1.1.2", "API server pod specification file ownership is root:root"),
            ("1.1.3", "Controller manager pod specification file permissions are 600 or stricter"),
            ("1.1.4", "Controller manager pod specification file ownership is root:root"),
            ("1.1.5", "Scheduler pod specification file permissions are 600 or more restrictive"),
            ("1.1.6", "Scheduler pod specification file ownership is root:root"),
            ("1.1.7", "etcd pod specification file permissions are 600 or more restrictive"),
            ("1.1.8", "etcd pod specification file ownership is root:root"),
            ("1.1.9", "Container Network Interface file permissions are 600 or more restrictive"),
            ("1.1.10", "Container Network Interface file ownership is root:root"),
            ("1.1.11", "etcd data directory permissions are 700 or more restrictive"),
            ("1.1.12", "etcd data directory ownership is etcd:etcd"),
            ("1.1.13", "Default administrative credential file permissions are 600"),
            ("1.1.14", "Default administrative credential file ownership is root:root"),
            ("1.1.15", "scheduler.conf file permissions are 600 or more restrictive"),
            ("1.1.16", "scheduler.conf file ownership is root:root"),
            ("1.1.17", "controller-manager.conf file permissions are 600 or more restrictive"),
            ("1.1.18", "controller-manager.conf file ownership is root:root"),
            ("1.1.19", "Kubernetes PKI directory and file ownership is root:root"),
            ("1.1.20", "Kubernetes PKI certificate file permissions are 600 or more restrictive"),
            ("1.1.21", "Kubernetes PKI key file permissions are 600"),
        ),
    ),
    (
        "1.2 API Server",
        (
            ("1.2.1", "--anonymous-auth is set to false"),
            ("1.2.2", "--token-auth-file is not set"),
            ("1.2.3", "DenyServiceExternalIPs is set"),
            ("1.2.4", "--kubelet-client-certificate and --kubelet-client-key are set"),
            ("1.2.5", "--kubelet-certificate-authority is set"),
            ("1.2.6", "--authorization-mode is not set to AlwaysAllow"),
            ("1.2.7", "--authorization-mode includes Node"),
            ("1.2.8", "--authorization-mode includes RBAC"),
            ("1.2.9", "Admission control plugin EventRateLimit is set"),
            ("1.2.10", "Admission control plugin AlwaysAdmit is not set"),
            ("1.2.11", "Admission control plugin AlwaysPullImages is set"),
            ("1.2.12", "Admission control plugin ServiceAccount is set"),
            ("1.2.13", "Admission control plugin NamespaceLifecycle is set"),
            ("1.2.14", "Admission control plugin NodeRestriction is set"),
            ("1.2.15", "--profiling is set to false"),
            ("1.2.16", "--audit-log-path is set"),
            ("1.2.17", "--audit-log-maxage is set to 30 or as appropriate"),
            ("1.2.18", "--audit-log-maxbackup is set to 10 or as appropriate"),
            ("1.2.19", "--audit-log-maxsize is set to 100 or as appropriate"),
            ("1.2.20", "--request-timeout is set as appropriate"),
            ("1.2.21", "--service-account-lookup is set to true"),
            ("1.2.22", "--service-account-key-file is set"),
            ("1.2.23", "--etcd-certfile and --etcd-keyfile are set"),
            ("1.2.24", "--tls-cert-file and --tls-private-key-file are set"),
            ("1.2.25", "--client-ca-file is set"),
            ("1.2.26", "--etcd-cafile is set"),
            ("1.2.27", "--encryption-provider-config is set"),
            ("1.2.28", "Encryption providers are appropriately configured"),
            ("1.2.29", "The API server only uses strong cryptographic ciphers"),
        ),
    ),
    (
        "1.3 Controller Manager",
        (
            ("1.3.1", "--terminated-pod-gc-threshold is set as appropriate"),
            ("1.3.2", "--profiling is set to false"),
            ("1.3.3", "--use-service-account-credentials is set to true"),
            ("1.3.4", "--service-account-private-key-file is set"),
            ("1.3.5", "--root-ca-file is set"),
            ("1.3.6", "RotateKubeletServerCertificate is set to true"),
            ("1.3.7", "--bind-address is set to 127.0.0.1"),
        ),
    ),
    (
        "1.4 Scheduler",
        (
            ("1.4.1", "--profiling is set to false"),
            ("1.4.2", "--bind-address is set to 127.0.0.1"),
        ),
    ),
    (
        "2 etcd",
        (
            ("2.1", "--cert-file and --key-file are set"),
            ("2.2", "--client-cert-auth is set to true"),
            ("2.3", "--auto-tls is not set to true"),
            ("2.4", "--peer-cert-file and --peer-key-file are set"),
            ("2.5", "--peer-client-cert-auth is set to true"),
            ("2.6", "--peer-auto-tls is not set to true"),
            ("2.7", "A unique Certificate Authority is used for etcd"),
        ),
    ),
    (
        "3.1 Authentication and Authorization",
        (
            ("3.1.1", "Client certificate authentication should not be used for users"),
            ("3.1.2", "Service account token authentication should not be used for users"),
            ("3.1.3", "Bootstrap token authentication should not be used for users"),
        ),
    ),
    (
        "3.2 Logging",
        (
            ("3.2.1", "A minimal audit policy is created"),
            ("3.2.2", "The audit policy covers key security concerns"),
        ),
    ),
    (
        "4.1 Worker Node Configuration Files",
        (
            ("4.1.1", "kubelet service file permissions are 600 or more restrictive"),
            ("4.1.2", "kubelet service file ownership is root:root"),
            ("4.1.3", "Proxy kubeconfig file permissions are 600 or more restrictive"),
            ("4.1.4", "Proxy kubeconfig file ownership is root:root"),
            ("4.1.5", "kubelet.conf file permissions are 600 or more restrictive"),
            ("4.1.6", "kubelet.conf file ownership is root:root"),
            ("4.1.7", "Certificate authorities file permissions are 600 or more restrictive"),
            ("4.1.8", "Client certificate authorities file ownership is root:root"),
            ("4.1.9", "kubelet config.yaml permissions are 600 or more restrictive"),
            ("4.1.10", "kubelet config.yaml ownership is root:root"),
        ),
    ),
    (
        "4.2 Kubelet",
        (
            ("4.2.1", "--anonymous-auth is set to false"),
            ("4.2.2", "--authorization-mode is not set to AlwaysAllow"),
            ("4.2.3", "--client-ca-file is set"),
            ("4.2.4", "--read-only-port is set to 0"),
            ("4.2.5", "--streaming-connection-idle-timeout is not set to 0"),
            ("4.2.6", "--make-iptables-util-chains is set to true"),
            ("4.2.7", "--hostname-override is not set"),
            ("4.2.8", "eventRecordQPS ensures appropriate event capture"),
            ("4.2.9", "--tls-cert-file and --tls-private-key-file are set"),
            ("4.2.10", "--rotate-certificates is not set to false"),
            ("4.2.11", "RotateKubeletServerCertificate is set to true"),
            ("4.2.12", "The kubelet only uses strong cryptographic ciphers"),
            ("4.2.13", "A limit is set on pod PIDs"),
        ),
    ),
    (
        "4.3 kube-proxy",
        (("4.3.1", "The kube-proxy metrics service is bound to localhost"),),
    ),
    (
        "5.1 RBAC and Service Accounts",
        (
            ("5.1.1", "The cluster-admin role is only used where required"),
            ("5.1.2", "Minimize access to secrets"),
            ("5.1.3", "Minimize wildcard use in Roles and ClusterRoles"),
            ("5.1.4", "Minimize access to create pods"),
            ("5.1.5", "Default service accounts are not actively used"),
            ("5.1.6", "Service Account Tokens are only mounted where necessary"),
            ("5.1.7", "Avoid use of system:masters group"),
            ("5.1.8", "Limit use of the Bind, Impersonate and Escalate permissions"),
            ("5.1.9", "Minimize access to create persistent volumes"),
            ("5.1.10", "Minimize access to the proxy sub-resource of nodes"),
            ("5.1.11", "Minimize access to the approval sub-resource of CSR objects"),
            ("5.1.12", "Minimize access to webhook configuration objects"),
            ("5.1.13", "Minimize access to the service account token creation"),
        ),
    ),
    (
        "5.2 Pod Security Standards",
        (
            ("5.2.1", "The cluster has at least one active policy control mechanism"),
            ("5.2.2", "Minimize the admission of privileged containers"),
            ("5.2.3", "Minimize the admission of containers sharing the host PID namespace"),
            ("5.2.4", "Minimize the admission of containers sharing the host IPC namespace"),
            ("5.2.5", "Minimize the admission of containers sharing the host network"),
            ("5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation"),
            ("5.2.7", "Minimize the admission of root containers"),
            ("5.2.8", "Minimize the admission of containers with the NET_RAW capability"),
            ("5.2.9", "Minimize the admission of containers with added capabilities"),
            ("5.2.10", "Minimize the admission of containers with capabilities assigned"),
            ("5.2.11", "Minimize the admission of Windows HostProcess containers"),
            ("5.2.12", "Minimize the admission of HostPath volumes"),
            ("5.2.13", "Minimize the admission of containers which use HostPorts"),
        ),
    ),
    (
        "5.3 Network Policies and CNI",
        (
            ("5.3.1", "The CNI in use supports NetworkPolicies"),
            ("5.3.2", "All Namespaces have NetworkPolicies defined"),
        ),
    ),
    (
        "5.4 Secrets Management",
        (
            ("5.4.1", "Prefer using Secrets as files over Secrets as environment variables"),
            ("5.4.2", "Consider external secret storage"),
        ),
    ),
    (
        "5.5 Extensible Admission Control",
        (("5.5.1", "Configure Image Provenance using ImagePolicyWebhook"),),
    ),
    (
        "5.7 General Policies",
        (
            ("5.7.1", "Create administrative boundaries between resources using namespaces"),
            ("5.7.2", "The seccomp profile is set to RuntimeDefault in Pod definitions"),
            ("5.7.3", "Apply SecurityContext to your Pods and Containers"),
            ("5.7.4", "The default namespace should not be used"),
        ),
    ),
)

NSA_SECTIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Pod security",
        "Kubernetes Pod security",
        (
            ("Non-root containers", "Non-root containers and rootless container engines"),
            ("Immutable container file systems", "Immutable container file systems"),
            ("Building secure container images", "Building secure container images"),
            ("Pod security enforcement", "Pod security enforcement"),
            ("Protecting Pod service account tokens", "Protecting Pod service account tokens"),
            ("Hardening container environments", "Hardening container environments"),
        ),
    ),
    (
        "Network separation and hardening",
        "Network separation and hardening",
        (
            ("Namespaces", "Namespaces"),
            ("Network policies", "Network policies"),
            ("Resource policies", "Resource policies (LimitRange, ResourceQuota, limits)"),
            ("Control plane hardening", "Control plane hardening"),
            ("Etcd", "etcd"),
            ("Kubeconfig files", "Kubeconfig files"),
            ("Worker node segmentation", "Worker node segmentation"),
            ("Encryption", "Encryption"),
            ("Secrets", "Secrets"),
            (
                "Protecting sensitive cloud infrastructure",
                "Protecting sensitive cloud infrastructure",
            ),
        ),
    ),
    (
        "Authentication and authorization",
        "Authentication and authorization",
        (
            ("Authentication", "Authentication"),
            ("Role-based access control", "Role-based access control"),
        ),
    ),
    (
        "Audit logging and threat detection",
        "Audit logging and threat detection",
        (
            ("Logging", "Logging (audit, node and container logs, SIEM)"),
            ("Threat detection", "Threat detection and alerting"),
        ),
    ),
    (
        "Upgrading and application security practices",
        "Upgrading and application security practices",
        (),
    ),
)
"""(section id, section title, subsections): the section is a control of its own, and its parent."""

NSA_ALIASES: dict[str, tuple[str, ...]] = {
    "Pod security": ("Kubernetes Pod security",),
    "Non-root containers": ("Non-root containers and rootless container engines",),
    "Role-based access control": ("RBAC",),
    "Logging": ("Audit logging",),
}

PSS_BASELINE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("HostProcess", "Windows HostProcess containers are disallowed", ("windows-host-process",)),
    (
        "Host Namespaces",
        "Sharing the host namespaces (PID, IPC, network) is disallowed",
        ("host-pid", "host-ipc", "host-network"),
    ),
    ("Privileged Containers", "Privileged Pods are disallowed", ("privileged-container",)),
    (
        "Capabilities",
        "Adding capabilities beyond the default set is disallowed",
        ("added-capabilities", "dangerous-capabilities"),
    ),
    (
        "HostPath Volumes",
        "HostPath volumes are forbidden",
        ("host-path-volume", "sensitive-host-path", "container-runtime-socket"),
    ),
    ("Host Ports", "HostPorts are disallowed or limited to a known list", ("host-ports",)),
    ("AppArmor", "Overriding or disabling the default AppArmor profile", ("apparmor-unconfined",)),
    (
        "SELinux",
        "Setting a custom SELinux user or role is forbidden",
        ("selinux-custom-options",),
    ),
    ("/proc Mount Type", "The default /proc masks are required", ("proc-mount-unmasked",)),
    ("Seccomp", "Seccomp profile must not be set to Unconfined", ("seccomp-unconfined",)),
    ("Sysctls", "Only the safe subset of sysctls is allowed", ("unsafe-sysctls",)),
)
"""(control, title, rule ids) of the baseline level."""

PSS_RESTRICTED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Volume Types",
        "Only configMap, csi, downwardAPI, emptyDir, ephemeral, PVC, projected, secret",
        # hostPath volumes are reported by the three hostPath rules, not restricted-volume-types.
        (
            "restricted-volume-types",
            "host-path-volume",
            "sensitive-host-path",
            "container-runtime-socket",
        ),
    ),
    (
        "Privilege Escalation",
        "Privilege escalation (setuid, file capabilities) is not allowed",
        ("privilege-escalation-allowed",),
    ),
    ("Running as Non-root", "Containers must run as non-root users", ("runs-as-root",)),
    ("Running as Non-root user", "runAsUser must not be set to 0", ("runs-as-root",)),
    (
        "Seccomp (restricted)",
        "A seccomp profile (RuntimeDefault or Localhost) must be set",
        ("seccomp-profile-missing", "seccomp-unconfined"),
    ),
    (
        "Capabilities (restricted)",
        "Containers must drop ALL and may only add NET_BIND_SERVICE",
        ("capabilities-not-dropped", "added-capabilities", "dangerous-capabilities"),
    ),
)
"""(control, title, rule ids) the restricted level adds to baseline."""

OWASP_CONTROLS: tuple[tuple[str, str], ...] = (
    ("K01", "Insecure Workload Configurations"),
    ("K02", "Supply Chain Vulnerabilities"),
    ("K03", "Overly Permissive RBAC Configurations"),
    ("K04", "Lack of Centralized Policy Enforcement"),
    ("K05", "Inadequate Logging and Monitoring"),
    ("K06", "Broken Authentication Mechanisms"),
    ("K07", "Missing Network Segmentation Controls"),
    ("K08", "Secrets Management Failures"),
    ("K09", "Misconfigured Cluster Components"),
    ("K10", "Outdated and Vulnerable Kubernetes Components"),
)

MITRE_SECTIONS: tuple[Section, ...] = (
    (
        "Initial Access",
        (
            ("T1190", "Exploit Public-Facing Application"),
            ("T1133", "External Remote Services"),
            ("T1078", "Valid Accounts"),
            ("T1078.001", "Valid Accounts: Default Accounts"),
            ("T1078.003", "Valid Accounts: Local Accounts"),
        ),
    ),
    (
        "Execution",
        (
            ("T1609", "Container Administration Command"),
            ("T1610", "Deploy Container"),
            ("T1053", "Scheduled Task/Job"),
            ("T1053.007", "Scheduled Task/Job: Container Orchestration Job"),
            ("T1204", "User Execution"),
            ("T1204.003", "User Execution: Malicious Image"),
        ),
    ),
    (
        "Persistence",
        (
            ("T1098", "Account Manipulation"),
            ("T1098.006", "Account Manipulation: Additional Container Cluster Roles"),
            ("T1136", "Create Account"),
            ("T1136.001", "Create Account: Local Account"),
            ("T1525", "Implant Internal Image"),
            ("T1543", "Create or Modify System Process"),
            ("T1543.005", "Create or Modify System Process: Container Service"),
        ),
    ),
    (
        "Privilege Escalation",
        (
            ("T1611", "Escape to Host"),
            ("T1068", "Exploitation for Privilege Escalation"),
        ),
    ),
    (
        "Defense Evasion",
        (
            ("T1612", "Build Image on Host"),
            ("T1562", "Impair Defenses"),
            ("T1562.001", "Impair Defenses: Disable or Modify Tools"),
            ("T1070", "Indicator Removal"),
            ("T1036", "Masquerading"),
            ("T1036.005", "Masquerading: Match Legitimate Name or Location"),
            ("T1550", "Use Alternate Authentication Material"),
            ("T1550.001", "Use Alternate Authentication Material: Application Access Token"),
        ),
    ),
    (
        "Credential Access",
        (
            ("T1110", "Brute Force"),
            ("T1110.001", "Brute Force: Password Guessing"),
            ("T1110.003", "Brute Force: Password Spraying"),
            ("T1110.004", "Brute Force: Credential Stuffing"),
            ("T1528", "Steal Application Access Token"),
            ("T1552", "Unsecured Credentials"),
            ("T1552.001", "Unsecured Credentials: Credentials In Files"),
            ("T1552.007", "Unsecured Credentials: Container API"),
        ),
    ),
    (
        "Discovery",
        (
            ("T1613", "Container and Resource Discovery"),
            ("T1046", "Network Service Discovery"),
            ("T1069", "Permission Groups Discovery"),
        ),
    ),
    (
        "Impact",
        (
            ("T1496", "Resource Hijacking"),
            ("T1499", "Endpoint Denial of Service"),
            ("T1498", "Network Denial of Service"),
        ),
    ),
    (
        "Outside the Containers matrix (cited by kposture detections)",
        (
            ("T1105", "Ingress Tool Transfer"),
            ("T1090", "Proxy"),
            ("T1649", "Steal or Forge Authentication Certificates"),
        ),
    ),
)
"""Techniques by tactic; a technique listed under several tactics appears once, under its first."""
