"""Wires one scan together (manifests, a live cluster, or both as one inventory): load inputs and
policy, evaluate, decide the exit code.

The only place that reads the clock for a scan; everything it calls is given the date.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import BinaryIO

from kposture.engine import Registry, evaluate
from kposture.inventory import Inventory
from kposture.inventory.owners import coverage_notes, inventory_coverage
from kposture.model import InputError, RunPolicy, ScanResult, Severity
from kposture.policy.rule_files import LoadedRules, load_rule_files
from kposture.rules import builtin_rules
from kposture.sources.cluster import ClusterRead, load_cluster
from kposture.sources.cluster_config import ClusterError
from kposture.sources.cluster_kinds import CATALOGUE, KindSpec
from kposture.sources.cluster_listing import Progress
from kposture.sources.manifests import LoadedManifests, load_manifests, require_objects
from kposture.sources.policy_file import (
    DEFAULT_POLICY_FILE,
    PolicyFile,
    PolicyFileError,
    load_policy,
)

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or configuration; the CLI prints the message and exits with code 2."""


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """A scan's result with what views need to judge it: ``kinds`` of the objects evaluated (implied
    Namespaces included) and ``enabled``, the ids of the rules that actually ran."""

    result: ScanResult
    registry: Registry
    notes: tuple[str, ...]
    kinds: frozenset[str] = frozenset()
    enabled: frozenset[str] = frozenset()
    policy_file: str = ""
    """The policy file applied, empty for the built-in defaults."""


def default_registry() -> Registry:
    return Registry(builtin_rules())


def _is_glob(rule_id: str) -> bool:
    return any(ch in rule_id for ch in "*?[")


def _names_a_rule(rule_id: str, registry: Registry) -> bool:
    if _is_glob(rule_id):
        return any(fnmatchcase(known, rule_id) for known in registry.ids)
    return rule_id in registry


def _rule_reference_problem(rule_id: str) -> str:
    if _is_glob(rule_id):
        return f"rule pattern {rule_id!r} matches no rule"
    return f"unknown rule id {rule_id!r}"


def policy_location(policy_path: Path | None) -> Path | None:
    """``--policy``, else ``./.kposture.yaml`` when present, else None (built-in defaults)."""
    if policy_path is not None:
        return policy_path
    candidate = Path(DEFAULT_POLICY_FILE)
    return candidate if candidate.is_file() else None


def resolve_policy(policy_path: Path | None, registry: Registry) -> RunPolicy:
    """Load the policy file (see ``policy_location``) and check every rule id it names."""
    parsed = _parse_policy(policy_path)
    return RunPolicy() if parsed is None else _checked_policy(parsed, registry, frozenset())


def _parse_policy(policy_path: Path | None) -> PolicyFile | None:
    path = policy_location(policy_path)
    if path is None:
        return None
    if not path.is_file():
        raise UsageError(f"policy file {path} does not exist")
    try:
        return load_policy(path)
    except PolicyFileError as exc:
        raise UsageError(str(exc)) from None


def _checked_policy(parsed: PolicyFile, registry: Registry, unloaded: frozenset[str]) -> RunPolicy:
    """The run policy, once every rule id it names is known (ids of custom rules that failed to
    load are not reported again: their load errors say why)."""
    problems = [
        f"{parsed.path}:{line}: {_rule_reference_problem(rule_id)}"
        for rule_id, line in parsed.rule_references
        if rule_id not in unloaded and not _names_a_rule(rule_id, registry)
    ]
    if problems:
        raise UsageError("; ".join(problems) + " (see `kposture rules list`)")
    return parsed.policy


@dataclass(frozen=True, slots=True)
class RuleSetup:
    """The rules a run uses — built-in plus custom — and the policy checked against them."""

    registry: Registry
    policy: RunPolicy
    policy_file: PolicyFile | None = None
    custom: LoadedRules = field(default_factory=LoadedRules)
    rule_errors: tuple[InputError, ...] = ()
    """Custom rules that could not be loaded (``file:line: message``); the others run."""


def prepare_rules(policy_path: Path | None, rules_paths: Sequence[str] = ()) -> RuleSetup:
    """Read the policy file, load custom rules (``--rules`` paths and the file's ``customRules``,
    relative to it), build the registry and check the policy's rule ids against it. A bad policy
    file is a ``UsageError``; a bad rule is one of ``rule_errors`` and the valid rules still run."""
    parsed = _parse_policy(policy_path)
    builtins = builtin_rules()
    given: list[str] = list(rules_paths)
    errors: list[InputError] = []
    if parsed is not None and parsed.custom_rules:
        base = Path(parsed.path).parent
        for entry, line in parsed.custom_rules:
            target = Path(entry) if Path(entry).is_absolute() else base / entry
            if target.exists():
                given.append(target.as_posix())
            else:
                message = f"customRules: no such rule file or directory {entry!r}"
                errors.append(InputError(parsed.path, line, message))
    custom = LoadedRules()
    if given:
        custom = load_rule_files(given, taken_ids={rule.id for rule in builtins})
    registry = Registry((*builtins, *custom.rules))
    policy = RunPolicy() if parsed is None else _checked_policy(parsed, registry, custom.failed_ids)
    return RuleSetup(registry, policy, parsed, custom, tuple(errors) + custom.input_errors())


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a scan builds its (acyclic) objects.

    Parsed manifests and findings are trees of containers; each GC pass would re-walk every one of
    them, which costs about a quarter of a large scan. Reference counting still frees garbage. On
    the way out, what the scan built is frozen (moved out of the collector's generations): the
    first collection after re-enabling would otherwise walk all of it once more. For the CLI's one
    scan per process; a long-running caller should not freeze per scan.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def scan_manifests(
    paths: Sequence[str],
    *,
    policy_path: Path | None = None,
    stdin: BinaryIO | None = None,
    now: dt.datetime | None = None,
    rules_paths: Sequence[str] = (),
) -> ScanOutcome:
    """Scan files, directories, charts, kustomizations or stdin and return the complete result;
    ``rules_paths`` are custom rule files or directories run with the built-in rules."""
    setup = prepare_rules(policy_path, rules_paths)
    _check_paths(paths)
    moment = now or dt.datetime.now(dt.UTC)
    with cyclic_gc_paused():
        # Nothing to judge is not a pass: a CI gate must fail when e.g. helm printed nothing.
        loaded = require_objects(load_manifests(paths, stdin=stdin))
        return _judge_loaded(
            loaded, setup.registry, setup.policy, moment, rule_errors=setup.rule_errors
        )


def scan_cluster(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespaces: Sequence[str] | None = None,
    policy_path: Path | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    paths: Sequence[str] = (),
    stdin: BinaryIO | None = None,
    rules_paths: Sequence[str] = (),
) -> tuple[ScanOutcome, ClusterRead]:
    """List a live cluster and scan what was listed, together with the manifest ``paths`` (static
    pod manifests copied off a node, say) as one inventory; a cluster that cannot be read at all
    (bad kubeconfig, unknown context, unreachable server) is a ``UsageError``."""
    setup = prepare_rules(policy_path, rules_paths)
    _check_paths(paths)
    moment = now or dt.datetime.now(dt.UTC)
    with cyclic_gc_paused():
        read = read_cluster(kubeconfig, context, namespaces, progress)
        loaded = read.loaded
        if paths:
            loaded = combine(loaded, load_manifests(paths, stdin=stdin))
        outcome = _judge_loaded(
            loaded, setup.registry, setup.policy, moment, rule_errors=setup.rule_errors
        )
        return outcome, read


def load_inputs(
    paths: Sequence[str],
    *,
    cluster: bool = False,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespaces: Sequence[str] | None = None,
    progress: Progress | None = None,
    stdin: BinaryIO | None = None,
    catalogue: tuple[KindSpec, ...] = CATALOGUE,
) -> LoadedManifests:
    """The objects a scan of the same inputs would judge, for verbs that read objects without
    scanning them (``rbac who-can``): manifest ``paths`` (``-`` for stdin, snapshots), a live
    cluster (``cluster``; the kinds of ``catalogue`` only), or both as one load. Nothing at all
    to read is a ``UsageError``."""
    _check_paths(paths)
    read = read_cluster(kubeconfig, context, namespaces, progress, catalogue) if cluster else None
    loaded = read.loaded if read is not None else None
    if paths:
        files = load_manifests(paths, stdin=stdin)
        loaded = files if loaded is None else combine(loaded, files)
    if loaded is None:
        raise UsageError("give manifest paths (- for stdin), a snapshot file, or --cluster")
    return loaded if cluster else require_objects(loaded)


def combine(first: LoadedManifests, second: LoadedManifests) -> LoadedManifests:
    """One load of both: objects, errors, notes and inputs of ``first``, then of ``second``."""
    return LoadedManifests(
        first.objects + second.objects,
        first.errors + second.errors,
        first.notes + second.notes,
        first.inputs + second.inputs,
    )


def _check_paths(paths: Sequence[str]) -> None:
    """A missing path among others is an input error in the report (exit 2); only when nothing
    given exists is there no report worth printing."""
    if paths and all(path != "-" and not Path(path).exists() for path in paths):
        raise UsageError("; ".join(f"{path}: no such file or directory" for path in paths))


def read_cluster(
    kubeconfig: str | None,
    context: str | None,
    namespaces: Sequence[str] | None,
    progress: Progress | None = None,
    catalogue: tuple[KindSpec, ...] = CATALOGUE,
) -> ClusterRead:
    """``load_cluster`` (of the kinds of ``catalogue``) with its start-up failures as
    ``UsageError``s."""
    try:
        return load_cluster(kubeconfig, context, namespaces, progress, catalogue=catalogue)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None


def unlisted_kinds(read: ClusterRead) -> list[str]:
    """The kinds a cluster read could not list, from its ClusterFacts ``listing`` block when it has
    one (it also names kinds no served version covers), else from the per-kind summaries."""
    for obj in read.loaded.objects:
        if obj.ref.kind == "ClusterFacts":
            listing = obj.raw.get("listing")
            unlisted = listing.get("unlisted") if isinstance(listing, dict) else None
            if isinstance(unlisted, list):
                return [str(kind) for kind in unlisted]
    return [kind.kind for kind in read.kinds if kind.problem]


def rfc3339(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _judge_loaded(
    loaded: LoadedManifests,
    registry: Registry,
    policy: RunPolicy,
    moment: dt.datetime,
    *,
    rule_errors: Sequence[InputError] = (),
) -> ScanOutcome:
    inventory = Inventory(loaded.objects)
    evaluated = evaluate(inventory, registry, policy, moment.date())
    result = replace(
        evaluated,
        errors=tuple(rule_errors) + tuple(loaded.errors) + evaluated.errors,
        inputs=tuple(loaded.inputs),
        scanned_at=rfc3339(moment),
    )
    kinds = frozenset(obj.ref.kind for obj in inventory.evaluation_order())
    notes = tuple(loaded.notes) + coverage_notes(inventory_coverage(inventory), inventory)
    return ScanOutcome(
        result, registry, notes, kinds, frozenset(result.rule_ids_run), policy.source
    )


def has_input_errors(errors: Sequence[InputError]) -> bool:
    return any(error.level == "error" for error in errors)


def exit_code(result: ScanResult, fail_on: Severity | None) -> int:
    """2 when some input could not be read (the result is incomplete), 1 when an active finding is at
    or above ``fail_on``, else 0."""
    if has_input_errors(result.errors):
        return EXIT_USAGE
    if fail_on is not None and any(f.severity >= fail_on for f in result.active_findings):
        return EXIT_FINDINGS
    return EXIT_OK
