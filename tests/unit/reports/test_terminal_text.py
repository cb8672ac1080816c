"""Client-controlled text for the terminal: control characters written out, nothing else changed."""

from __future__ import annotations

from kposture.reports.terminal_text import visible


def test_control_characters_are_written_out() -> None:
    assert visible("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert visible("\x1b[31mred\x00\x7f\x85\x9b") == "\\x1b[31mred\\x00\\x7f\\x85\\x9b"


def test_bidirectional_controls_are_written_out() -> None:
    """A right-to-left override (U+202E) before ``xe.ob`` shows ``bo.ex``: each bidi control is
    written out, in the order of the text."""
    assert visible("admin\u202exe.ob") == "admin\\u202exe.ob"
    controls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    assert visible(controls) == "".join(f"\\u{ord(char):04x}" for char in controls)
    assert visible("\u2069x\u2070") == "\\u2069x\u2070"  # superscript zero is not a control


def test_other_text_is_unchanged() -> None:
    text = "kubectl/v1.30 [red]x[/red] \\x1b café → ü\xa0"
    assert visible(text) == text
