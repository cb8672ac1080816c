"""The wording of a JSON decoding error, for every reader that reports one."""

from __future__ import annotations

import json


def json_error_text(error: json.JSONDecodeError, where: str = "") -> str:
    """``Expecting ',' delimiter at character 12``, or at ``where`` when given (``line 3 column
    5``); ``Unterminated string starting at character 89`` (the message already ends in "at")."""
    joint = " " if error.msg.endswith(" at") else " at "
    return f"{error.msg}{joint}{where or f'character {error.pos}'}"
