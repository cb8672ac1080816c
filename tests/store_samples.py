"""Admission decisions for store and CLI tests: a small, varied set with fixed times."""

from __future__ import annotations

import datetime as dt

from kposture.model import ResourceRef, Severity
from kposture.model.admission import AdmissionDecision, AdmissionMode, Outcome, RuleVerdict

T0 = dt.datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=dt.UTC)


def decision(
    uid: str,
    minutes: float,
    outcome: Outcome,
    *,
    namespace: str = "shop",
    kind: str = "Pod",
    name: str = "web",
    verdicts: tuple[RuleVerdict, ...] = (),
    user: str = "alice@example.com",
    reason: str = "",
    dry_run: bool = False,
    operation: str = "CREATE",
) -> AdmissionDecision:
    api_version = "v1" if kind in {"Pod", "Secret", "ConfigMap"} else "apps/v1"
    return AdmissionDecision(
        uid=uid,
        time=T0 + dt.timedelta(minutes=minutes),
        operation=operation,
        user=user,
        groups=("system:authenticated", "devs"),
        resource=ResourceRef(api_version, kind, namespace, name),
        outcome=outcome,
        verdicts=verdicts,
        latency_ms=0.25 + minutes / 100,
        reason=reason,
        dry_run=dry_run,
    )


PRIVILEGED = RuleVerdict(
    "privileged-container",
    Severity.CRITICAL,
    AdmissionMode.ENFORCE,
    "container 'app' runs privileged; set securityContext.privileged: false",
)
HOST_PATH = RuleVerdict(
    "host-path-volume", Severity.HIGH, AdmissionMode.WARN, "volume 'logs' mounts /var/log"
)
RUN_AS_ROOT = RuleVerdict(
    "run-as-root", Severity.MEDIUM, AdmissionMode.DRY_RUN, "container 'app' may run as root"
)


def sample_decisions() -> list[AdmissionDecision]:
    """Six decisions, one per outcome, in time order (oldest first)."""
    return [
        decision("uid-allowed", 0, Outcome.ALLOWED),
        decision("uid-denied", 1, Outcome.DENIED, verdicts=(PRIVILEGED, HOST_PATH)),
        decision(
            "uid-warned",
            2,
            Outcome.WARNED,
            namespace="blog",
            kind="Deployment",
            verdicts=(HOST_PATH,),
        ),
        decision(
            "uid-dry-run",
            3,
            Outcome.DRY_RUN,
            namespace="blog",
            verdicts=(RUN_AS_ROOT,),
            dry_run=True,
            operation="UPDATE",
        ),
        decision(
            "uid-exempt",
            4,
            Outcome.EXEMPT,
            namespace="kube-system",
            user="system:serviceaccount:kube-system:replicaset-controller",
            reason="namespace kube-system is exempt",
        ),
        decision("uid-error", 5, Outcome.ERROR, reason="rule 'x' failed: KeyError 'spec'"),
    ]
