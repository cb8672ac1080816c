"""Renderers of audit-log detections for people: the alerts of ``kposture detect`` (one block per
alert, nothing cut at any width) and the detection catalogue of docs/detections.md. Pure: values
in, text or a Rich renderable out. The JSON of an alert (``detect -o json`` and the alert sinks
alike) is ``kposture.sinks.documents.alert_document``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

from kposture.model import Severity
from kposture.model.incidents import DetectionMeta, IncidentAlert
from kposture.reports.terminal_text import visible

_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_COMMAND_START = re.compile(r"\((?=(?:kubectl|kposture) )")
"""Where a command quoted in a containment step begins: ``(kubectl delete ... -n ns)``."""
_INDENT = 4


def alert_table(alerts: Iterable[IncidentAlert]) -> RenderableType:
    """Alerts for people, one block each: severity, detection and time; the message; who, from
    where and with which user agent; the containment step; and each command the step quotes on
    lines of its own. Nothing is cut at any width: text wraps, and a command too long for the
    width continues on the next line after a shell line continuation (``\\``), so it can still be
    copied and pasted."""
    blocks: list[RenderableType] = []
    for alert in alerts:
        if blocks:
            blocks.append(Text(""))
        blocks.extend(_block(alert))
    return Group(*blocks)


def _block(alert: IncidentAlert) -> Iterator[RenderableType]:
    """Every text here may come from the audit event (names, the user agent, a command), so each
    goes through ``visible``; and as ``Text``, never parsed as Rich markup."""
    context = {key: visible(value) for key, value in alert.event_context().items()}
    head = Text()
    head.append(alert.severity.value, style=_SEVERITY_STYLE[alert.severity])
    head.append(f"  {visible(alert.detection_id)}", style="bold")
    if context.get("time"):
        head.append(f"  {context['time']}")
    yield head
    yield _indented(Text(visible(alert.message)))
    who = [context.get("user") or "?"]
    if context.get("source_ip"):
        who.append(f"from {context['source_ip']}")
    if context.get("user_agent"):
        who.append(f"with {context['user_agent']}")
    yield _indented(Text.assemble(("who ", "dim"), " ".join(who)))
    containment = visible(alert.containment)
    yield _indented(Text.assemble(("→ ", "dim"), containment))
    for command in quoted_commands(containment):
        yield _Command(command, _INDENT * 2)


def quoted_commands(text: str) -> list[str]:
    """The commands a containment step quotes in parentheses, each up to the ``)`` or ``;`` that
    ends it; one inside shell quotes (a name like ``'Jane Doe (contractor)'``) belongs to the
    command."""
    commands: list[str] = []
    position = 0
    while found := _COMMAND_START.search(text, position):
        start = found.end()
        end = _command_end(text, start)
        commands.append(text[start:end].strip())
        position = end
    return commands


def _command_end(text: str, start: int) -> int:
    """The index of the first ``)`` or ``;`` outside shell quotes from ``start`` (a command whose
    quotes never close ends at the first one, quoted or not)."""
    quote = ""
    index = start
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                index += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            index += 1
        elif char in ");":
            return index
        index += 1
    if quote:
        return next((i for i in range(start, len(text)) if text[i] in ");"), len(text))
    return len(text)


def _shell_words(command: str) -> list[str]:
    """``command`` split at the spaces outside shell quotes (a quoted name keeps its spaces)."""
    words: list[str] = []
    quote = ""
    word: list[str] = []
    for char in command:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == " ":
            words.append("".join(word))
            word = []
            continue
        word.append(char)
    words.append("".join(word))
    return words


def _indented(renderable: RenderableType, left: int = _INDENT // 2) -> _Indented:
    return _Indented(renderable, left)


class _Indented:
    """``renderable`` wrapped to the width less ``left`` columns, every line indented by them and
    none padded with trailing spaces."""

    def __init__(self, renderable: RenderableType, left: int) -> None:
        self.renderable = renderable
        self.left = left

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        inner = options.update_width(max(options.max_width - self.left, 1))
        margin = Segment(" " * self.left)
        for line in console.render_lines(self.renderable, inner, pad=False):
            yield margin
            yield from line
            yield Segment.line()


class _Command:
    """A shell command on lines of its own, never cut: where it does not fit the width, it goes
    on after ``\\`` on the next line (the shell joins the lines again)."""

    def __init__(self, command: str, indent: int) -> None:
        self.command = command
        self.indent = indent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in command_lines(self.command, options.max_width, self.indent):
            yield Text(line, no_wrap=True, overflow="ignore")


def command_lines(command: str, width: int, indent: int = 0) -> list[str]:
    """``command`` indented by ``indent`` in lines of at most ``width`` characters, each but the
    last ending in ``\\`` (a line continuation). Lines break between words; a word longer than a
    line breaks inside, and the line after such a break starts in the first column, since spaces
    there would become part of the word."""
    lines: list[str] = []
    line = " " * indent
    fresh = True  # nothing but the indent on ``line`` yet
    for word in _shell_words(command):
        joined = line + word if fresh else f"{line} {word}"
        if len(joined) + 2 <= width:
            line, fresh = joined, False
            continue
        if not fresh:
            lines.append(f"{line} \\")
            line, fresh = " " * indent, True
        rest = word
        while len(line) + len(rest) + 2 > width and len(line) + 2 < width:
            cut = max(width - 1 - len(line), 1)
            lines.append(line + rest[:cut] + "\\")
            line, rest = "", rest[cut:]
        line, fresh = line + rest, False
    lines.append(line)
    return lines


def detection_catalogue(metas: Iterable[DetectionMeta]) -> str:
    """The Markdown table of detections kept in docs/detections.md (a test checks it is current)."""
    rows = [
        "| id | title | severity | MITRE ATT&CK | tactic | response |",
        "|---|---|---|---|---|---|",
    ]
    for meta in metas:
        technique = ", ".join(f"{ref.id} {ref.title}" for ref in meta.references)
        state = " (stateful)" if meta.stateful else ""
        rows.append(
            f"| `{meta.id}` | {meta.title}{state} | {meta.severity.value} | {technique} | "
            f"{meta.tactic} | {meta.response} |"
        )
    return "\n".join(rows) + "\n"
