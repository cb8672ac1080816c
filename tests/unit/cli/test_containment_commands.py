"""Every ``kposture`` command a detection's containment step quotes parses as printed: the arguments
are complete (a ``who-can`` without its verb, resource or input fails) and every option exists."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from audit_samples import audit_event
from kposture.cli.app import app
from kposture.detections import Detector
from kposture.model.audit import AuditEvent
from kposture.sources.audit_logs import AuditLogReader

_QUOTED = re.compile(r"\((kposture [^;()]+)")
"""A kposture command in a step's parentheses, up to ``;`` or ``)`` (as the alert table lifts it)."""

ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "reader"},
    "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
}
EVENTS = [
    audit_event(user="system:anonymous", resource="secrets", namespace="shop", name="db"),
    audit_event(user="system:anonymous", resource="deployments", api_group="apps", name="web"),
    audit_event(impersonated={"username": "bob"}),
    audit_event(impersonated={"username": "system:serviceaccount:shop:api"}),
    audit_event(verb="create", resource="serviceaccounts", namespace="kube-system", name="x"),
    audit_event(verb="create", resource="pods", subresource="exec", code=101),
    audit_event(
        verb="create",
        resource="pods",
        name="",
        request={
            "metadata": {"generateName": "web-"},
            "spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
        },
    ),
    audit_event(
        verb="create",
        resource="clusterroles",
        api_group="rbac.authorization.k8s.io",
        namespace="",
        name="reader",
        request=ROLE,
    ),
]


def _quoted(events: list[AuditEvent]) -> Iterator[str]:
    for alert in Detector().process_all(events):
        for command in _QUOTED.findall(alert.containment):
            yield command.split(" | ")[0].strip()


def _parse(command: str) -> Any:
    """``command`` parsed as the CLI parses it, without running it: every group resolves its
    subcommand, the last one checks its arguments and options (a usage error raises). Typer
    carries its own click, so its context and errors are not ``click``'s."""
    words = shlex.split(command)[1:]
    node = typer.main.get_command(app)
    context = node.make_context("kposture", [], resilient_parsing=True)
    while isinstance(node, TyperGroup):
        name, words = words[0], words[1:]
        found = node.get_command(context, name)
        assert found is not None, f"no command {name!r} in {command!r}"
        node = found
        group = isinstance(node, TyperGroup)
        context = node.make_context(
            name, [] if group else words, parent=context, resilient_parsing=group
        )
    return context


def test_every_detection_step_that_quotes_kposture_is_covered() -> None:
    commands = set(_quoted(EVENTS))
    assert {command.split(" ")[2] for command in commands} >= {"who-can", "can", "isolate"}


@pytest.mark.parametrize("command", sorted(set(_quoted(EVENTS))))
def test_a_quoted_nodeparses_as_printed(command: str) -> None:
    context = _parse(command)
    if context.params.get("cluster") is not None:  # rbac: it reads from somewhere
        assert context.params["cluster"] or context.params.get("paths"), command


def test_the_corpus_alerts_quote_only_commands_that_parse(corpus: Path) -> None:
    reader = AuditLogReader()
    events = [
        event
        for path in sorted((corpus / "auditlogs" / "falco" / "trace_files").glob("*.json"))
        for event in reader.read_file(path)
    ]
    commands = set(_quoted(events))
    assert commands
    for command in sorted(commands):
        _parse(command)


def test_an_incomplete_nodefails_to_parse() -> None:
    with pytest.raises(Exception, match="Missing"):
        _parse("kposture rbac who-can impersonate")
    with pytest.raises(Exception, match="Missing"):
        _parse("kposture rbac who-can")
    with pytest.raises(Exception, match="No such option"):
        _parse("kposture rbac who-can impersonate users --as bob --cluster")
