"""The ``--db URL`` option every command that reads or writes the store shares, and opening it.

``--db`` takes ``sqlite:///PATH`` (or a bare file path) or ``postgresql://USER:PASSWORD@HOST/DB``;
``KPOSTURE_DB`` sets it for a shell or a container; the default is the SQLite file under the user's
data directory (``$XDG_DATA_HOME/kposture/kposture.db``, ``~/.local/share/kposture/kposture.db``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from kposture.cli.scanning import UsageError
from kposture.store.connecting import Store, StoreError, open_store, resolve_url

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="KPOSTURE_DB",
        metavar="URL",
        help="Store: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB (env KPOSTURE_DB; "
        "default: ~/.local/share/kposture/kposture.db, under $XDG_DATA_HOME when set).",
        show_default=False,
    ),
]


def check_store_url(url: str | None) -> None:
    """``UsageError`` when ``url`` names no usable store (a malformed URL, an unsupported or
    in-memory database), without opening or creating anything: commands call it before they check
    a cluster and open the store only once everything else is valid."""
    try:
        resolve_url(url)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def open_cli_store(url: str | None, *, create: bool = True) -> Store:
    """The store at ``url``; ``UsageError`` (its message names the masked URL) when it cannot open."""
    try:
        return open_store(url, create=create)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
