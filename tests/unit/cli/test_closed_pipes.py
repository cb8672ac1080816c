"""A reader that went away (``| head``) ends a command quietly with exit 0, whether the write that
found the closed pipe was Click's, print's or a Rich console's; other exits are untouched."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from kposture.cli.closed_pipes import CLOSED_PIPE_EXIT, ClosedPipeGroup


class _ClosedPipe:
    """A stream whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError

    def flush(self) -> None:
        raise BrokenPipeError

    def isatty(self) -> bool:
        return False


def _app(cls: Any) -> typer.Typer:
    app = typer.Typer(cls=cls)

    @app.command()
    def echo() -> None:
        raise BrokenPipeError  # what click.echo raises into a closed pipe

    @app.command()
    def table() -> None:
        Console(file=_ClosedPipe()).print("showing the newest 200 of 990 changes")  # type: ignore[arg-type]

    @app.command()
    def usage() -> None:
        raise typer.Exit(2)

    return app


@pytest.mark.parametrize("command", ["echo", "table"])
def test_a_closed_pipe_ends_the_command_as_sigpipe_would(command: str) -> None:
    done = CliRunner().invoke(_app(ClosedPipeGroup), [command])
    assert done.exit_code == CLOSED_PIPE_EXIT == 141, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


@pytest.mark.parametrize("command", ["echo", "table"])
def test_without_the_group_a_closed_pipe_ends_otherwise(command: str) -> None:
    # What the group changes: the same commands under Typer's own group end with another code.
    done = CliRunner().invoke(_app(None), [command])
    assert done.exit_code not in (0, CLOSED_PIPE_EXIT)


def test_other_exits_and_rich_after_the_command_are_untouched() -> None:
    done = CliRunner().invoke(_app(ClosedPipeGroup), ["usage"])
    assert done.exit_code == 2
    assert Console.on_broken_pipe.__qualname__ == "Console.on_broken_pipe"


def test_the_cli_uses_the_group() -> None:
    from kposture.cli import app

    assert typer.main.get_command(app).__class__ is ClosedPipeGroup
