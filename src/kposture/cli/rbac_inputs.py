"""Inputs of the ``kposture rbac`` views: the arguments and options they share (manifest paths,
``-`` for stdin and snapshots, or ``--cluster`` with ``--kubeconfig``/``--context``; ``-n``/``-A``;
``-o``), loading them into one ``Inventory``, and the common way out (input problems on stderr in
RBAC wording, an answer without some RBAC kind marked incomplete, exit code 0 answered or 2 when
some input could not be read).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from kposture.cli.consoles import error_console
from kposture.cli.progress import listing_progress
from kposture.cli.rbac_coverage import (
    CANNOT_ANSWER,
    INCOMPLETE,
    RBAC_READS,
    bindings_unlisted,
    catalogue_of,
    rbac_worded,
    unlisted_rbac,
)
from kposture.cli.rbac_namespaces import absent_namespace
from kposture.cli.rbac_output import RbacFormat
from kposture.cli.scanning import (
    EXIT_USAGE,
    UsageError,
    cyclic_gc_paused,
    has_input_errors,
    load_inputs,
)
from kposture.inventory import Inventory
from kposture.model import InputError

Paths = Annotated[
    list[str] | None,
    typer.Argument(
        help="Manifest files or directories, snapshots, or - for stdin (as for `scan`).",
        show_default=False,
    ),
]
Cluster = Annotated[
    bool, typer.Option("--cluster", help="Read RBAC from the live cluster (and PATHS too).")
]
Kubeconfig = Annotated[
    str | None, typer.Option("--kubeconfig", help="Kubeconfig file (with --cluster).")
]
Context = Annotated[
    str | None, typer.Option("--context", help="Kubeconfig context (with --cluster).")
]
AllNamespaces = Annotated[
    bool, typer.Option("-A", "--all-namespaces", help="Every namespace (the default).")
]
Output = Annotated[RbacFormat, typer.Option("-o", "--output", help="Output format.")]


@dataclass(frozen=True, slots=True)
class RbacInputs:
    """The objects read, as one inventory, and the problems met reading them."""

    inventory: Inventory
    errors: tuple[InputError, ...]

    @property
    def unlisted(self) -> str:
        """What of RBAC could not be read (``roles could not be listed (forbidden)``), or "": a
        view prints no "nothing found" headline when it is not "" (``finish`` says why)."""
        return unlisted_rbac(self.errors)

    @property
    def bindings_read(self) -> bool:
        """Whether every RoleBinding and ClusterRoleBinding could be listed (who they name is
        known)."""
        return not bindings_unlisted(self.errors)


def fail(message: str) -> NoReturn:
    """A one-line usage error on stderr, exit 2."""
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def view_namespace(namespace: str, all_namespaces: bool) -> str:
    """The namespace a view is limited to (empty: every one); ``-n`` with ``-A`` is a usage error."""
    if namespace and all_namespaces:
        fail("-n/--namespace and -A/--all-namespaces exclude each other")
    return namespace


def load_rbac_inputs(
    paths: Sequence[str] | None,
    *,
    cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    namespaces: Sequence[str] | None = None,
    check: Callable[[], None] | None = None,
    reads: frozenset[str] = RBAC_READS,
    namespace: str | Callable[[], str] = "",
) -> RbacInputs:
    """Read the inputs (``namespaces`` limits a cluster listing; cluster-scoped kinds are always
    read; a cluster is listed for the kinds in ``reads`` only). ``check`` validates the view's
    own arguments first; a ``UsageError`` from it or from the inputs ends the command with exit
    2. The namespace asked about (``namespace``, else the one of ``namespaces``) gets a warning
    when the inputs define Namespaces but not that one; ``namespace`` may be a function called
    after ``check``, for a view that uses ``-n`` only for some of its arguments."""
    given = list(paths or [])
    try:
        if check is not None:
            check()
        if not cluster and (kubeconfig or context):
            raise UsageError("--kubeconfig and --context need --cluster")
        with (
            cyclic_gc_paused(),
            listing_progress(enabled=False if not cluster else None) as progress,
        ):
            loaded = load_inputs(
                given,
                cluster=cluster,
                kubeconfig=kubeconfig,
                context=context,
                namespaces=namespaces,
                progress=progress,
                stdin=sys.stdin.buffer if "-" in given else None,
                catalogue=catalogue_of(reads),
            )
    except UsageError as exc:
        fail(str(exc))
    inventory = Inventory(loaded.objects)
    errors = rbac_worded(loaded.errors)
    named = namespace() if callable(namespace) else namespace
    asked = named or (namespaces[0] if namespaces and len(namespaces) == 1 else "")
    # A cluster listing limited to the namespace keeps only its Namespace: warned there already.
    absent = absent_namespace(inventory, asked)
    return RbacInputs(inventory, errors if absent is None else (*errors, absent))


def finish(
    errors: Sequence[InputError], output_format: RbacFormat, answered: bool = True
) -> NoReturn:
    """Input problems on stderr after the answer; exit 2 when some input could not be read. When
    some RBAC kind could not be listed a table says so once, on stdout and not again on stderr:
    ``incomplete: ...`` under an answer, ``Cannot answer: ...`` instead of one (``answered``
    False: the view found nothing, which says nothing when RBAC could not be read)."""
    unlisted = unlisted_rbac(errors)
    table = output_format is RbacFormat.TABLE
    if table and unlisted:
        typer.echo(f"{INCOMPLETE if answered else CANNOT_ANSWER}{unlisted}")
    err = error_console()
    for error in errors:
        if table and error.message.startswith(INCOMPLETE):
            continue
        where = f"{error.file}:{error.line}" if error.line > 0 else error.file
        prefix = f"{where}: " if where else ""
        err.print(f"{error.level}: {prefix}{error.message}", highlight=False, markup=False)
    raise typer.Exit(EXIT_USAGE if has_input_errors(errors) else 0)
