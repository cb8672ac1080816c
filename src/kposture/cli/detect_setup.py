"""The detection setup every audit-log verb shares (``detect``, ``detect tune``, ``serve``'s audit
sink): the policy file's ``detections:`` block (allowlist, custom detection files relative to the
file) and ``--detections`` paths, loaded into a ``Detector``; every detection id the file names is
checked against the built-in and custom detections. Wiring only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kposture.cli.scanning import UsageError, _parse_policy
from kposture.detections import Detection, Detector, builtin_detections
from kposture.detections.tuning import Allowlist
from kposture.model import Severity
from kposture.policy.detection_files import load_detection_files
from kposture.sources.policy_file import PolicyFile


@dataclass(frozen=True, slots=True)
class DetectionSetup:
    """What a verb needs to build detectors: the custom detections, the allowlist and the file."""

    custom: tuple[Detection, ...]
    allowlist: Allowlist
    policy_file: PolicyFile | None

    def detector(
        self, min_severity: Severity = Severity.INFO, *, allowlisted: bool = True
    ) -> Detector:
        return Detector(
            min_severity=min_severity,
            extra=self.custom,
            allowlist=self.allowlist if allowlisted else None,
            today=dt.datetime.now(dt.UTC).date(),
        )


def prepare_detections(
    policy_path: Path | None, detection_paths: Sequence[str] = ()
) -> DetectionSetup:
    """Read the policy file (``--policy``, else ``./.kposture.yaml`` when present) and load custom
    detections; ``UsageError`` naming file and line for anything that does not load."""
    parsed = _parse_policy(policy_path)
    paths: list[str | Path] = list(detection_paths)
    if parsed is not None:
        base = Path(parsed.path).parent
        paths.extend(base / entry for entry, _ in parsed.custom_detections)
    builtin = {d.id for d in builtin_detections()}
    loaded = load_detection_files(paths, taken_ids=builtin) if paths else None
    problems = [str(e) for e in loaded.errors] if loaded is not None else []
    custom = loaded.detections if loaded is not None else ()
    known = builtin | {d.id for d in custom}
    if parsed is not None:
        problems.extend(
            f"{parsed.path}:{line}: unknown detection {ident!r} (see the catalogue in docs/detections.md)"
            for ident, line in parsed.detection_references
            if ident not in known
        )
    if problems:
        raise UsageError("detections that do not load:\n" + "\n".join(problems))
    allowlist = Allowlist(parsed.detection_allowlist if parsed is not None else ())
    return DetectionSetup(tuple(custom), allowlist, parsed)
