"""``kposture admission``: the sub-command group for the admission webhook. Each command lives in its
own module; this one only gathers them (``admission_install_commands``: ``certs`` and ``install``;
``admission_commands``: ``what-if``; ``admission_log_commands``: ``log``).
"""

from __future__ import annotations

import typer

from kposture.cli.admission_commands import what_if_command
from kposture.cli.admission_install_commands import certs_command, install_command
from kposture.cli.admission_log_commands import log_command

admission_app = typer.Typer(
    help="The admission webhook: certificates, install manifests, what-if replays, decision log.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
admission_app.command("certs")(certs_command)
admission_app.command("install")(install_command)
admission_app.command("what-if")(what_if_command)
admission_app.command("log")(log_command)
