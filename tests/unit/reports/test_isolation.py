"""The isolation policy's pieces: the quarantine label value (a valid label value for any pod name),
the kubectl commands (quoted for the shell) and the YAML with comments."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml

from kposture.model.quarantine import label_command, quarantine_value
from kposture.reports.isolation import (
    exclusion_patch,
    isolation_policy,
    render_isolation_policy,
)

LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@pytest.mark.parametrize(
    "pod",
    ["web-1", "a" * 63, "a" * 64, "web-" + "x" * 240 + ".v2", "-" * 70 + "z"],
)
def test_the_quarantine_value_is_always_a_valid_label_value(pod: str) -> None:
    value = quarantine_value(pod)
    assert len(value) <= 63 and LABEL_VALUE.match(value), value
    if len(pod) <= 63:
        assert value == pod
    else:
        assert quarantine_value(pod + "x") != value  # the digest tells long names apart


def test_commands_are_quoted_for_the_shell() -> None:
    assert shlex.split(label_command("web-1", "shop")) == [
        "kubectl",
        "label",
        "pod",
        "web-1",
        "-n",
        "shop",
        "kposture.io/quarantine=web-1",
        "--overwrite",
    ]
    words = shlex.split(exclusion_patch("it's", "shop", None))
    assert words[3] == "it's"
    assert json.loads(words[-1]) == [
        {
            "op": "add",
            "path": "/spec/podSelector",
            "value": {
                "matchExpressions": [{"key": "kposture.io/quarantine", "operator": "DoesNotExist"}]
            },
        }
    ]


def test_notes_become_comments_before_the_policy() -> None:
    policy = isolation_policy("web-1", "shop", {"kposture.io/quarantine": "web-1"}, "alert 42")
    text = render_isolation_policy(policy, ["first note", "two\nlines"])
    assert text.startswith("# first note\n# two\n# lines\napiVersion: networking.k8s.io/v1\n")
    assert yaml.safe_load(text)["metadata"]["annotations"]["kposture.io/reason"] == "alert 42"
