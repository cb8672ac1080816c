"""Alert sink configuration as data, and the pure parsers that build it from command-line flags
(``--alert``, ``--alert-min-severity``, ``--alert-dedup``) and from a policy file's ``alerts:`` block.

Flag syntax (docs/alerts.md): ``KIND[OPTIONS][=TARGET]`` where KIND is ``stdout``, ``webhook`` or
``slack``, OPTIONS is ``[key=value,...]`` and TARGET is the URL, ``env:NAME`` or ``file:PATH``
(a Slack webhook URL is a secret; keep it out of the command line). Examples::

    stdout
    stdout[min=high]
    webhook[min=high,dedup=5m,bearer=env:SOC_TOKEN]=https://soc.example.com/hooks/kposture
    slack[min=critical]=env:SLACK_WEBHOOK_URL

Parsing reads no environment and no file: ``env:`` and ``file:`` stay references until the sinks
are built. Error messages never repeat a URL's path or query, nor a header value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kposture.model.rules import Severity
from kposture.sinks.credentials import CredentialError, HeaderValue, redact_url
from kposture.sinks.spools import DEFAULT_MAX_BYTES, DEFAULT_MAX_COUNT

KINDS = ("stdout", "webhook", "slack")
DEFAULT_DEDUP_WINDOW = 600.0
DEFAULT_TIMEOUT = 5.0


class AlertSpecError(ValueError):
    """An alert sink specification is invalid; the message says where and why."""

    @property
    def path(self) -> str:
        """For an ``alerts:`` block error, the dotted path it names (``alerts.sinks[1].url``), so
        the policy file reader can add the line; empty for a flag error."""
        head = str(self).split(": ", 1)[0]
        return head if head.startswith("alerts") and " " not in head else ""

    def line_in(self, lines: Mapping[str, int]) -> int | None:
        """The line of the error's path, or of its nearest enclosing path, in ``lines`` (the
        policy file's ``alerts_lines``)."""
        path = self.path
        while path:
            if path in lines:
                return lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


@dataclass(frozen=True, slots=True, repr=False)
class SinkSpec:
    """One sink as configured. ``None`` settings take the configuration-wide defaults."""

    kind: str
    target: HeaderValue | None = None
    """The URL for webhook and slack: a literal, ``env:`` or ``file:`` reference."""
    name: str = ""
    min_severity: Severity | None = None
    dedup_window: float | None = None
    headers: tuple[tuple[str, HeaderValue], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    spool: str = ""
    """A directory, ``memory``, or empty for the default directory under the data directory."""
    queue_max: int = DEFAULT_MAX_COUNT
    queue_bytes: int = DEFAULT_MAX_BYTES
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    ca_file: str = ""

    def describe(self) -> str:
        """The sink for messages: kind, name and the target's host (or where the URL comes from)."""
        label = self.kind + (f" {self.name!r}" if self.name else "")
        if self.target is None:
            return label
        if self.target.kind == "literal":
            return f"{label} {redact_url(self.target.ref)}"
        return f"{label} {self.target.describe()}"

    def __repr__(self) -> str:
        return f"SinkSpec({self.describe()})"


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Every sink plus the defaults a sink without its own setting takes."""

    sinks: tuple[SinkSpec, ...] = ()
    min_severity: Severity = Severity.INFO
    dedup_window: float = DEFAULT_DEDUP_WINDOW
    spool_root: str = ""
    """Where default spool directories go (empty: the user's data directory)."""

    def merged(self, other: AlertsConfig, *, flags_given: set[str] | None = None) -> AlertsConfig:
        """This configuration (the policy file's) overridden by ``other`` (the flags): sinks given
        on the command line replace the file's; defaults named in ``flags_given`` override."""
        given = flags_given or set()
        return AlertsConfig(
            sinks=other.sinks or self.sinks,
            min_severity=other.min_severity if "min_severity" in given else self.min_severity,
            dedup_window=other.dedup_window if "dedup_window" in given else self.dedup_window,
            spool_root=other.spool_root or self.spool_root,
        )


# --- scalars -------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^(\d+)(k|ki|kb|m|mi|mb|g|gi|gb)?$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
}
_SEVERITIES = ", ".join(severity.value for severity in reversed(list(Severity)))


def parse_severity(text: str) -> Severity:
    try:
        return Severity(text.strip().lower())
    except ValueError:
        raise AlertSpecError(f"unknown severity {text!r} (one of {_SEVERITIES})") from None


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``1h``, ``250ms`` or a bare number of seconds (``90``); ``0`` is
    allowed."""
    match = _DURATION.match(text.strip())
    if not match:
        raise AlertSpecError(
            f"invalid duration {text!r} (e.g. 30s, 10m, 1h, 250ms; a bare number is seconds)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_size(text: str) -> int:
    """Bytes: ``1048576``, ``64Mi``, ``100MB``, ``1Gi``."""
    match = _SIZE.match(text.strip())
    if not match:
        raise AlertSpecError(f"invalid size {text!r} (e.g. 64Mi, 100MB, 1048576)")
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * _SIZE_UNITS[unit]


def _positive_int(text: str, what: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise AlertSpecError(f"{what} must be a whole number of at least 1, not {text!r}")
    return int(text)


def _positive(value: float, what: str) -> float:
    if value <= 0:
        raise AlertSpecError(f"{what} must be more than 0")
    return value


def _target(text: str, kind: str) -> HeaderValue:
    try:
        value = HeaderValue.parse(text)
    except CredentialError as exc:
        raise AlertSpecError(f"{kind} URL: {exc}") from None
    if value.kind == "literal":
        check_url(value.ref, kind)
    return value


def check_url(url: str, kind: str) -> None:
    """A webhook URL must be absolute http(s) with a host; the message shows only its host."""
    shown = redact_url(url)
    if not re.match(r"^https?://", url, re.IGNORECASE) or shown == "<invalid URL>":
        raise AlertSpecError(f"{kind} needs an http:// or https:// URL with a host (got {shown})")


def _header(text: str, what: str) -> tuple[str, HeaderValue]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name) or not value:
        raise AlertSpecError(f"{what}: a header is NAME:VALUE (VALUE may be env:VAR or file:PATH)")
    try:
        return name, HeaderValue.parse(value.strip())
    except CredentialError as exc:
        raise AlertSpecError(f"{what}: header {name}: {exc}") from None


def _bearer(text: str, what: str) -> tuple[str, HeaderValue]:
    if not text.startswith(("env:", "file:")):
        raise AlertSpecError(
            f"{what}: bearer takes env:VAR or file:PATH (a token on the command line is visible "
            "to every user of the machine)"
        )
    try:
        return "Authorization", HeaderValue.parse(text, prefix="Bearer ")
    except CredentialError as exc:
        raise AlertSpecError(f"{what}: bearer: {exc}") from None


# --- the flag syntax -----------------------------------------------------------------------------

_FLAG = re.compile(r"^(?P<kind>[a-z]+)(?:\[(?P<options>[^\]]*)\])?(?:=(?P<target>.*))?$", re.DOTALL)
_WEBHOOK_OPTIONS = {
    "min",
    "dedup",
    "name",
    "header",
    "bearer",
    "timeout",
    "spool",
    "queue",
    "queue-bytes",
    "backoff",
    "backoff-max",
    "ca",
}
_STDOUT_OPTIONS = {"min", "dedup", "name"}


def parse_alert_flag(text: str) -> SinkSpec:
    """One ``--alert`` value."""
    shown = _shown_flag(text)
    match = _FLAG.match(text.strip())
    if not match or match.group("kind") not in KINDS:
        raise AlertSpecError(
            f"--alert {shown}: expected stdout, webhook=URL or slack=URL, optionally with "
            "[key=value,...] after the kind"
        )
    kind = match.group("kind")
    target = match.group("target")
    what = f"--alert {shown}"
    if kind == "stdout" and target is not None:
        raise AlertSpecError(f"{what}: stdout takes no URL")
    if kind != "stdout" and not target:
        raise AlertSpecError(f"{what}: {kind} needs a URL ({kind}=https://...)")
    settings: dict[str, Any] = {"kind": kind}
    if target:
        try:
            settings["target"] = _target(target, kind)
        except AlertSpecError as exc:
            raise AlertSpecError(f"{what}: {exc}") from None
    headers: list[tuple[str, HeaderValue]] = []
    allowed = _STDOUT_OPTIONS if kind == "stdout" else _WEBHOOK_OPTIONS
    for item in filter(None, (part.strip() for part in (match.group("options") or "").split(","))):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or key not in allowed:
            raise AlertSpecError(
                f"{what}: unknown option {key!r} for {kind} (allowed: {', '.join(sorted(allowed))})"
            )
        try:
            _apply_option(settings, headers, key, value.strip(), what)
        except AlertSpecError as exc:
            message = str(exc)
            raise AlertSpecError(
                message if message.startswith(what) else f"{what}: {message}"
            ) from None
    settings["headers"] = tuple(headers)
    return SinkSpec(**settings)


def _apply_option(
    settings: dict[str, Any],
    headers: list[tuple[str, HeaderValue]],
    key: str,
    value: str,
    what: str,
) -> None:
    if key == "min":
        settings["min_severity"] = parse_severity(value)
    elif key == "dedup":
        settings["dedup_window"] = parse_duration(value)
    elif key == "name":
        settings["name"] = _name(value)
    elif key == "header":
        headers.append(_header(value, what))
    elif key == "bearer":
        headers.append(_bearer(value, what))
    elif key == "timeout":
        settings["timeout"] = _positive(parse_duration(value), "timeout")
    elif key == "spool":
        if not value:
            raise AlertSpecError("spool needs a directory or 'memory'")
        settings["spool"] = value
    elif key == "queue":
        settings["queue_max"] = _positive_int(value, "queue")
    elif key == "queue-bytes":
        settings["queue_bytes"] = parse_size(value)
    elif key == "backoff":
        settings["backoff_initial"] = _positive(parse_duration(value), "backoff")
    elif key == "backoff-max":
        settings["backoff_max"] = _positive(parse_duration(value), "backoff-max")
    elif key == "ca":
        settings["ca_file"] = value


def _name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}", value):
        raise AlertSpecError(f"invalid sink name {value!r} (letters, digits, - _ . :; up to 63)")
    return value


def _shown_flag(text: str) -> str:
    """The flag as it may be shown: a literal URL cut to its host, literal header values elided."""
    text = text.strip()
    match = _FLAG.match(text)
    if match is None:
        head = re.match(r"[^=\[]*", text)
        prefix = head.group() if head else ""
        return prefix if prefix == text else f"{prefix}…"
    shown = match.group("kind")
    if match.group("options") is not None:
        shown += "[" + ",".join(map(_shown_option, match.group("options").split(","))) + "]"
    target = match.group("target")
    if target is not None:
        url = target if target.startswith(("env:", "file:")) else redact_url(target)
        shown += "=" + ("…" if url == "<invalid URL>" else url)
    return shown


def _shown_option(item: str) -> str:
    key, equals, value = item.partition("=")
    if key.strip() not in ("header", "bearer") or value.strip().startswith(("env:", "file:")):
        return item
    name, colon, rest = value.partition(":")
    if key.strip() == "header" and colon:
        return f"{key}={name}:{'…' if not rest.strip().startswith(('env:', 'file:')) else rest}"
    return f"{key}{equals}…"


def parse_alert_flags(
    values: Sequence[str],
    *,
    min_severity: str | None = None,
    dedup: str | None = None,
) -> AlertsConfig:
    """Every ``--alert`` value plus ``--alert-min-severity`` and ``--alert-dedup``."""
    sinks = tuple(parse_alert_flag(value) for value in values)
    config = AlertsConfig(sinks=sinks)
    if min_severity is not None:
        try:
            config = replace(config, min_severity=parse_severity(min_severity))
        except AlertSpecError as exc:
            raise AlertSpecError(f"--alert-min-severity: {exc}") from None
    if dedup is not None:
        try:
            config = replace(config, dedup_window=parse_duration(dedup))
        except AlertSpecError as exc:
            raise AlertSpecError(f"--alert-dedup: {exc}") from None
    _check_names(config.sinks, "--alert")
    return config


def _check_names(sinks: Sequence[SinkSpec], where: str) -> None:
    seen: set[str] = set()
    for spec in sinks:
        if spec.name and spec.name in seen:
            raise AlertSpecError(f"{where}: two sinks are named {spec.name!r}")
        seen.add(spec.name)


# --- the policy file's alerts: block -------------------------------------------------------------

_BLOCK_KEYS = {"minSeverity", "dedup", "spoolDir", "sinks"}
_SINK_KEYS = {
    "type",
    "name",
    "url",
    "minSeverity",
    "dedup",
    "headers",
    "bearer",
    "timeout",
    "queue",
    "backoff",
    "ca",
}
_QUEUE_KEYS = {"dir", "maxCount", "maxBytes"}
_BACKOFF_KEYS = {"initial", "max"}


def parse_alerts_block(
    data: object, where: str = "alerts", *, defaults: AlertsConfig | None = None
) -> AlertsConfig:
    """The ``alerts:`` block of a policy file, already loaded from YAML into plain values; what
    the block does not set comes from ``defaults`` (a verb's own defaults), else ``AlertsConfig()``.

    Errors name the dotted path of the offending value (``alerts.sinks[1].minSeverity``); the
    policy file reader adds the file and line. See docs/alerts.md for the shape.
    """
    block = _mapping(data, _BLOCK_KEYS, where)
    config = defaults if defaults is not None else AlertsConfig()
    if "minSeverity" in block:
        config = replace(
            config,
            min_severity=_at(
                parse_severity,
                _text(block["minSeverity"], f"{where}.minSeverity"),
                f"{where}.minSeverity",
            ),
        )
    if "dedup" in block:
        config = replace(
            config,
            dedup_window=_at(
                parse_duration, _text(block["dedup"], f"{where}.dedup"), f"{where}.dedup"
            ),
        )
    if "spoolDir" in block:
        config = replace(config, spool_root=_text(block["spoolDir"], f"{where}.spoolDir"))
    sinks = block.get("sinks", [])
    if not isinstance(sinks, list):
        raise AlertSpecError(f"{where}.sinks: expected a list of sinks")
    specs = tuple(_sink(item, f"{where}.sinks[{index}]") for index, item in enumerate(sinks))
    _check_names(specs, f"{where}.sinks")
    return replace(config, sinks=specs)


def _sink(data: object, where: str) -> SinkSpec:
    fields = _mapping(data, _SINK_KEYS, where)
    kind = _text(fields.get("type", ""), f"{where}.type")
    if kind not in KINDS:
        raise AlertSpecError(f"{where}.type: expected one of {', '.join(KINDS)}, not {kind!r}")
    settings: dict[str, Any] = {"kind": kind}
    if kind == "stdout":
        extra = sorted(set(fields) - {"type", "name", "minSeverity", "dedup"})
        if extra:
            raise AlertSpecError(f"{where}: stdout takes no {', '.join(extra)}")
    elif "url" not in fields:
        raise AlertSpecError(f"{where}: {kind} needs a url")
    if "url" in fields:
        settings["target"] = _at(
            lambda text: _target(text, kind),
            _value_source(fields["url"], f"{where}.url"),
            f"{where}.url",
        )
    if "name" in fields:
        settings["name"] = _at(_name, _text(fields["name"], f"{where}.name"), f"{where}.name")
    if "minSeverity" in fields:
        settings["min_severity"] = _at(
            parse_severity,
            _text(fields["minSeverity"], f"{where}.minSeverity"),
            f"{where}.minSeverity",
        )
    if "dedup" in fields:
        settings["dedup_window"] = _at(
            parse_duration, _text(fields["dedup"], f"{where}.dedup"), f"{where}.dedup"
        )
    if "timeout" in fields:
        settings["timeout"] = _at(
            lambda text: _positive(parse_duration(text), "timeout"),
            _text(fields["timeout"], f"{where}.timeout"),
            f"{where}.timeout",
        )
    if "ca" in fields:
        settings["ca_file"] = _text(fields["ca"], f"{where}.ca")
    headers = list(_headers(fields.get("headers", {}), f"{where}.headers"))
    if "bearer" in fields:
        source = _value_source(fields["bearer"], f"{where}.bearer")
        headers.append(
            _at(lambda text: _bearer(text, f"{where}.bearer"), source, f"{where}.bearer")
        )
    settings["headers"] = tuple(headers)
    if "queue" in fields:
        queue = _mapping(fields["queue"], _QUEUE_KEYS, f"{where}.queue")
        if "dir" in queue:
            settings["spool"] = _text(queue["dir"], f"{where}.queue.dir")
        if "maxCount" in queue:
            settings["queue_max"] = _at(
                lambda text: _positive_int(text, "maxCount"),
                _text(queue["maxCount"], f"{where}.queue.maxCount"),
                f"{where}.queue.maxCount",
            )
        if "maxBytes" in queue:
            settings["queue_bytes"] = _at(
                parse_size,
                _text(queue["maxBytes"], f"{where}.queue.maxBytes"),
                f"{where}.queue.maxBytes",
            )
    if "backoff" in fields:
        backoff = _mapping(fields["backoff"], _BACKOFF_KEYS, f"{where}.backoff")
        if "initial" in backoff:
            settings["backoff_initial"] = _at(
                lambda text: _positive(parse_duration(text), "initial"),
                _text(backoff["initial"], f"{where}.backoff.initial"),
                f"{where}.backoff.initial",
            )
        if "max" in backoff:
            settings["backoff_max"] = _at(
                lambda text: _positive(parse_duration(text), "max"),
                _text(backoff["max"], f"{where}.backoff.max"),
                f"{where}.backoff.max",
            )
    return SinkSpec(**settings)


def _headers(data: object, where: str) -> list[tuple[str, HeaderValue]]:
    if not isinstance(data, Mapping):
        raise AlertSpecError(f"{where}: expected a mapping of header names to values")
    headers = []
    for name, value in data.items():
        source = _value_source(value, f"{where}.{name}")
        headers.append(
            _at(lambda text, name=name: _header(f"{name}:{text}", where), source, f"{where}.{name}")
        )
    return headers


def _value_source(data: object, where: str) -> str:
    """A plain string, or ``{env: NAME}`` / ``{file: PATH}``, as the flag syntax's text."""
    if isinstance(data, Mapping):
        fields = _mapping(data, {"env", "file"}, where)
        if len(fields) != 1:
            raise AlertSpecError(f"{where}: give exactly one of env or file")
        ((kind, ref),) = fields.items()
        return f"{kind}:{_text(ref, f'{where}.{kind}')}"
    return _text(data, where)


def _mapping(data: object, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise AlertSpecError(f"{where}: expected a mapping")
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise AlertSpecError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    return data


def _text(data: object, where: str) -> str:
    if isinstance(data, bool) or not isinstance(data, str | int | float):
        raise AlertSpecError(f"{where}: expected a string")
    return str(data)


def _at(parse: Any, text: str, where: str) -> Any:
    try:
        return parse(text)
    except AlertSpecError as exc:
        message = str(exc)
        raise AlertSpecError(
            message if message.startswith(where) else f"{where}: {message}"
        ) from None
