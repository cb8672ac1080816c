"""The alerts of kposture detect for people: at any width nothing is cut — names, the user agent,
and each command of the containment step, which wraps with shell line continuations so a paste
runs it whole."""

from __future__ import annotations

import shlex

import pytest
from rich.console import Console

from audit_samples import audit_event
from kposture.detections import Detector
from kposture.model.incidents import IncidentAlert
from kposture.reports.alerts import alert_table, command_lines

POD = "nginx-deployment-7998647bdf-phvq7"
AGENT = "kubectl/v1.30.0 (linux/amd64) kubernetes/abc"


def _exec_alert() -> IncidentAlert:
    event = audit_event(
        verb="create", resource="pods", subresource="exec", code=101, name=POD, agent=AGENT
    )
    (alert,) = Detector().process(event)
    return alert


def _render(width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    with console.capture() as captured:
        console.print(alert_table([_exec_alert(), _exec_alert()]))
    return captured.get()


def _shell_join(text: str) -> str:
    """What a shell reads from pasted lines: a backslash before a newline joins them."""
    return text.replace("\\\n", "")


@pytest.mark.parametrize("width", [60, 80, 100, 160, 200])
def test_names_agent_and_commands_are_never_cut(width: int) -> None:
    text = _render(width)
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    flat = " ".join(text.split())  # prose wraps at spaces
    assert f"default/{POD}" in flat and AGENT in flat
    joined = _shell_join(text)
    assert f"kposture respond isolate {POD} -n default --cluster | kubectl apply -f -" in " ".join(
        line.strip() for line in joined.splitlines()
    )


def test_each_quoted_command_has_lines_of_its_own() -> None:
    lines = _render(200).splitlines()
    commands = [line.strip() for line in lines if line.startswith("        ")]
    assert (
        commands
        == [
            f"kubectl label pod {POD} -n default kposture.io/quarantine={POD} --overwrite",
            f"kposture respond isolate {POD} -n default --cluster | kubectl apply -f -",
        ]
        * 2
    )


@pytest.mark.parametrize("width", range(12, 140, 9))
def test_a_wrapped_command_reads_whole_in_a_shell(width: int) -> None:
    command = f"kposture respond isolate {POD}-{'x' * 40} -n default --cluster"
    lines = command_lines(command, width, indent=8)
    assert len(lines) > 1 or width > len(command)
    assert all(len(line) <= width for line in lines)
    assert shlex.split(_shell_join("\n".join(lines))) == command.split(" ")


def test_the_command_to_look_at_a_planted_secret_pastes_clean_and_prints_no_value() -> None:
    """A Secret written with kubectl apply holds its data in an annotation
    (last-applied-configuration): the command shows the type and annotation keys, and the table
    lifts it without the prose around it."""
    event = audit_event(
        verb="create", resource="secrets", namespace="kube-system", name="planted", code=201
    )
    (alert,) = [
        a for a in Detector().process(event) if a.detection_id == "system-namespace-secret-changed"
    ]
    console = Console(width=200, record=True, color_system=None)
    with console.capture() as captured:
        console.print(alert_table([alert]))
    commands = [line.strip() for line in captured.get().splitlines() if line.startswith("        ")]
    template = "{{.type}}{{range $key, $value := .metadata.annotations}} {{$key}}{{end}}"
    assert shlex.split(commands[0]) == [
        *("kubectl", "get", "secret", "planted", "-n", "kube-system"),
        *("-o", f"go-template={template}"),
    ]
    assert "jsonpath" not in alert.containment and ".data" not in alert.containment


def _impersonation_alert(target: str) -> IncidentAlert:
    event = audit_event(
        verb="get", resource="pods", user="mallory", impersonated={"username": target}
    )
    (alert,) = [a for a in Detector().process(event) if a.detection_id == "impersonation-used"]
    return alert


@pytest.mark.parametrize(
    "target", ["Jane Doe (contractor)", "ops;admin", "O'Brien (ops)", 'say "hi")', "a) (b"]
)
@pytest.mark.parametrize("width", [60, 200])
def test_a_command_naming_parentheses_semicolons_or_quotes_is_printed_whole(
    target: str, width: int
) -> None:
    alert = _impersonation_alert(target)
    console = Console(width=width, record=True, color_system=None)
    with console.capture() as captured:
        console.print(alert_table([alert]))
    lines = _shell_join(captured.get()).splitlines()
    commands = [line.strip() for line in lines if line.startswith("        ")]
    assert [shlex.split(command) for command in commands] == [
        [*("kposture", "rbac", "who-can", "impersonate", "users"), "--name", target, "--cluster"]
    ]
