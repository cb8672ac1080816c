"""One wording of a JSON decoding error for every reader: where the decoder's message already ends
in "at" (an unterminated string), the position follows it without a second "at"."""

from __future__ import annotations

import json

import pytest

from kposture.sources.json_errors import json_error_text


def _error(text: str) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    return caught.value


def test_the_position_is_a_character_or_the_place_given() -> None:
    assert json_error_text(_error('{"a" 1}')) == "Expecting ':' delimiter at character 5"
    unterminated = _error('{"a": "b')
    assert json_error_text(unterminated) == "Unterminated string starting at character 6"
    assert json_error_text(unterminated, "line 1 column 7") == (
        "Unterminated string starting at line 1 column 7"
    )
