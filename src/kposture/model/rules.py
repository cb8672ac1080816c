"""Rule metadata: severities, domains, stages and framework references.

Every rule (built-in check, custom rule, audit detection) carries a ``RuleMeta``; the engine validates it
when the rule is registered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    """How bad a finding is; ordered so ``Severity.HIGH >= Severity.MEDIUM``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


class Stage(enum.Enum):
    """The maturity stage a rule belongs to: crawl (basics), walk (hardening), run (advanced)."""

    CRAWL = "crawl"
    WALK = "walk"
    RUN = "run"


class Domain(enum.Enum):
    """The seed domains every rule is filed under."""

    CONTROL_PLANE_ACCESS = "control-plane-access"
    AUTHENTICATION = "authentication"
    RBAC = "rbac"
    GITOPS = "gitops"
    WORKLOAD_PRIVILEGES = "workload-privileges"
    CLUSTER_LOGGING = "cluster-logging"
    REAL_TIME_MONITORING = "real-time-monitoring"
    ADMISSION_CONTROL = "admission-control"
    EAST_WEST_TRAFFIC = "east-west-traffic"
    KEY_CONFIG_FILES = "key-config-files"
    SECRETS = "secrets"
    SERVICE_ACCOUNTS = "service-accounts"
    NAMESPACES = "namespaces"
    SUPPLY_CHAIN = "supply-chain"


class Framework(enum.Enum):
    """Frameworks whose controls rules reference."""

    CIS = "CIS"
    NSA_CISA = "NSA-CISA"
    PSS = "PSS"
    OWASP = "OWASP"
    MITRE = "MITRE"


@dataclass(frozen=True, slots=True)
class Reference:
    """One framework control, e.g. ``Reference(Framework.CIS, "5.2.2")`` or ``(PSS, "baseline")``."""

    framework: Framework
    id: str
    title: str = ""

    def display(self) -> str:
        return f"{self.framework.value} {self.id}"


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """Everything a report needs to know about a rule besides its findings."""

    id: str
    title: str
    severity: Severity
    domain: Domain
    stage: Stage
    kinds: tuple[str, ...]
    remediation: str
    description: str
    references: tuple[Reference, ...]
    fix_snippet: str = ""
    requires: tuple[str, ...] = ()
    """Kinds of which a scan must hold an object for the rule to apply at all, beyond ``kinds``:
    cluster-scope rules name ``ClusterFacts``, the anchor only cluster-like scans have, so an
    application repository's Pods do not make them count as having run (and passed)."""
