"""The audit benchmark's ``--help`` says what it does and what each option means."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def test_the_help_describes_the_benchmark_and_every_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
    from audit_benchmark import arguments

    with pytest.raises(SystemExit):
        arguments().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "json.loads of every line of the same log" in text
    assert "exits 1 when a goal" in text
    assert not text.split("options:")[0].rstrip().endswith("over a")
    for option, meaning in (
        ("--events N", "events in the generated log"),
        ("--keep FILE", "reuse FILE when it exists"),
        ("--profile", "cProfile"),
    ):
        assert option in text
        assert meaning in text
