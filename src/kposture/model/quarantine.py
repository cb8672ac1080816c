"""The quarantine label that isolates one pod, and the ``kubectl label`` command that puts it on the
pod: one definition for the alerts' containment steps and ``kposture respond isolate``, so both
print the same command. Pure.

Replicas share their pod's labels, so a NetworkPolicy selecting those would isolate every replica;
``kposture.io/quarantine: <pod>`` is carried by the one pod the operator labels.
"""

from __future__ import annotations

import hashlib
import re
import shlex

QUARANTINE_LABEL = "kposture.io/quarantine"
_MAX_LABEL_VALUE = 63
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def quarantine_value(pod: str) -> str:
    """The quarantine label's value for ``pod``: its name, or for a name a label value cannot hold
    (over 63 characters) its start and a digest of the whole name."""
    if len(pod) <= _MAX_LABEL_VALUE and _LABEL_VALUE.match(pod):
        return pod
    digest = hashlib.sha256(pod.encode()).hexdigest()[:10]
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", pod)[: _MAX_LABEL_VALUE - 11].strip("-_.")
    return f"{head}-{digest}" if head else digest


def label_command(pod: str, namespace: str) -> str:
    """The ``kubectl label`` that puts the quarantine label on the pod (``--overwrite``: a pod
    quarantined before gets this value)."""
    label = f"{QUARANTINE_LABEL}={quarantine_value(pod)}"
    return f"kubectl label pod {shlex.quote(pod)} -n {shlex.quote(namespace)} {label} --overwrite"
