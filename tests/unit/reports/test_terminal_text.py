"""Client-controlled text for the terminal: control characters written out, nothing else changed."""

from __future__ import annotations

from kposture.reports.terminal_text import visible


def test_control_characters_are_written_out() -> None:
    assert visible("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert visible("\x1b[31mred\x00\x7f\x85\x9b") == "\\x1b[31mred\\x00\\x7f\\x85\\x9b"


def test_other_text_is_unchanged() -> None:
    text = "kubectl/v1.30 [red]x[/red] \\x1b café → ü\xa0"
    assert visible(text) == text
