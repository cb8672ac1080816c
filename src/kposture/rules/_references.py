"""Framework references that several rule families cite, defined once.

Families import these instead of rebuilding the same ``Reference`` values; a family's own, rarer
references stay in the family.
"""

from __future__ import annotations

from kposture.model import Framework, Reference

CIS = Framework.CIS
PSS = Framework.PSS
OWASP = Framework.OWASP
MITRE = Framework.MITRE
NSA = Framework.NSA_CISA

K01 = Reference(OWASP, "K01")
"""OWASP Kubernetes Top 10: insecure workload configurations."""
ESCAPE = Reference(MITRE, "T1611")
"""MITRE ATT&CK: escape to host."""
BASELINE = Reference(PSS, "baseline")
RESTRICTED = Reference(PSS, "restricted")
POD_SECURITY = Reference(NSA, "Pod security")
"""NSA-CISA Kubernetes Hardening Guidance: Kubernetes Pod security."""
K02 = Reference(OWASP, "K02")
"""OWASP Kubernetes Top 10: supply chain vulnerabilities."""
K07 = Reference(OWASP, "K07")
"""OWASP Kubernetes Top 10: missing network segmentation controls."""
CONTAINER_API_CREDENTIALS = Reference(MITRE, "T1552.007")
"""MITRE ATT&CK: unsecured credentials — container API (service account tokens)."""
NETWORK_SEPARATION = Reference(NSA, "Network separation and hardening")
"""NSA-CISA Kubernetes Hardening Guidance: network separation and hardening (namespaces, network
policies)."""
K03 = Reference(OWASP, "K03")
"""OWASP Kubernetes Top 10: overly permissive RBAC configurations."""
K06 = Reference(OWASP, "K06")
"""OWASP Kubernetes Top 10: broken authentication mechanisms."""
AUTHN_AUTHZ = Reference(NSA, "Authentication and authorization")
"""NSA-CISA Kubernetes Hardening Guidance: authentication and authorization (RBAC)."""
K08 = Reference(OWASP, "K08")
"""OWASP Kubernetes Top 10: secrets management failures."""
CREDENTIALS = Reference(MITRE, "T1552")
"""MITRE ATT&CK: unsecured credentials."""
CREDENTIALS_IN_FILES = Reference(MITRE, "T1552.001")
"""MITRE ATT&CK: unsecured credentials — credentials in files."""
SECRETS_GUIDANCE = Reference(NSA, "Secrets")
"""NSA-CISA Kubernetes Hardening Guidance: network separation and hardening — Secrets."""
K04 = Reference(OWASP, "K04")
"""OWASP Kubernetes Top 10: lack of centralized policy enforcement."""
K05 = Reference(OWASP, "K05")
"""OWASP Kubernetes Top 10: inadequate logging and monitoring."""
K09 = Reference(OWASP, "K09")
"""OWASP Kubernetes Top 10: misconfigured cluster components."""
CONTROL_PLANE_HARDENING = Reference(NSA, "Control plane hardening")
"""NSA-CISA Kubernetes Hardening Guidance: network separation and hardening — control plane."""
AUTHENTICATION = Reference(NSA, "Authentication")
"""NSA-CISA Kubernetes Hardening Guidance: authentication and authorization — authentication."""
LOGGING = Reference(NSA, "Logging")
"""NSA-CISA Kubernetes Hardening Guidance: audit logging and threat detection — logging."""
THREAT_DETECTION = Reference(NSA, "Threat detection")
"""NSA-CISA Kubernetes Hardening Guidance: audit logging and threat detection — threat detection."""
POD_SECURITY_ENFORCEMENT = Reference(NSA, "Pod security enforcement")
"""NSA-CISA Kubernetes Hardening Guidance: Kubernetes Pod security — Pod security enforcement."""
ENCRYPTION = Reference(NSA, "Encryption")
"""NSA-CISA Kubernetes Hardening Guidance: network separation and hardening — encryption."""
