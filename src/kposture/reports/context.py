"""What every renderer needs besides the scan result: tool version, rules that ran, threshold.

The CLI builds one ``ReportContext`` per run and hands it to whichever renderer ``-o`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kposture.model import RuleMeta, Severity

INFORMATION_URI = ""
"""Where users read about kposture (SARIF ``tool.driver.informationUri``); empty until the project
has a public home, and then omitted from SARIF rather than pointing somewhere made up."""


@dataclass(frozen=True, slots=True)
class ReportContext:
    """Run-wide facts a renderer needs.

    ``rules`` holds the metadata of every rule that ran, keyed by rule id (SARIF rule descriptors,
    JUnit suites for passing rules, help text). ``fail_on`` is the ``--fail-on`` threshold, ``None``
    when unset.
    """

    tool_version: str
    rules: Mapping[str, RuleMeta]
    fail_on: Severity | None = None
    information_uri: str = INFORMATION_URI
    policy_file: str = ""
    """The policy file the scan applied, empty for the built-in defaults (shown in summaries, so a
    reviewer sees which exceptions were in force)."""
