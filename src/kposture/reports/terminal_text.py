"""Client-controlled text made safe for a terminal: an audit event's user name, user agent, object
name or exec command is whatever the client sent, and printed raw a newline could forge a line of
the report and an escape sequence could move the cursor, erase lines or recolour the text.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 controls (ESC and newline among them), DEL and the C1 controls."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """``text`` with every control character written out as an escape a person can read
    (``\\n``, ``\\t``, ``\\x1b``), so it prints on the line it is on and does nothing to the
    terminal. Other text, backslashes included, is unchanged."""
    return _CONTROL.sub(lambda match: _escape(match.group()), text)


def _escape(char: str) -> str:
    return _NAMED.get(char) or f"\\x{ord(char):02x}"
