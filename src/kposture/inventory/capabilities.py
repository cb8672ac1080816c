"""Linux capabilities as the scanner rules and the audit detections judge them: one spelling
(``normalize_capability``) and the capabilities with a known path from a container to the host."""

from __future__ import annotations

DANGEROUS_CAPABILITIES = frozenset(
    {
        "ALL",
        "SYS_ADMIN",
        "NET_ADMIN",
        "SYS_PTRACE",
        "SYS_MODULE",
        "SYS_RAWIO",
        "DAC_READ_SEARCH",
        "BPF",
        "PERFMON",
    }
)
"""Capabilities with a known path from the container to the host kernel or other processes."""


def normalize_capability(name: object) -> str:
    """``cap_sys_admin`` and ``SYS_ADMIN`` are one capability: upper case, no ``CAP_`` prefix."""
    text = str(name).strip().upper()
    return text[4:] if text.startswith("CAP_") else text
