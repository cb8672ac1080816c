"""The ``kposture`` command line: argument parsing and wiring only (see ``app``)."""

from kposture.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
