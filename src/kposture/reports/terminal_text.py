"""Client-controlled text made safe for a terminal: an audit event's user name, user agent, object
name or exec command is whatever the client sent, and printed raw a newline could forge a line of
the report, an escape sequence could move the cursor, erase lines or recolour the text, and a
Unicode bidirectional control (U+202E, right-to-left override) could reorder what the terminal
shows, so ``alice\u202eoc.live`` would read as another name.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 controls (ESC and newline among them), DEL, the C1 controls, and the bidirectional controls:
the Arabic letter mark, the left-to-right and right-to-left marks, embeddings, overrides and
isolates."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """``text`` with every control character written out as an escape a person can read
    (``\\n``, ``\\t``, ``\\x1b``, ``\\u202e``), so it prints on the line it is on, in the order it
    is in, and does nothing to the terminal. Other text, backslashes included, is unchanged."""
    return _CONTROL.sub(lambda match: _escape(match.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
