"""Secrets never reach a log line, a repr or an error: bearer tokens and header values (literal, from
the environment or a file) and the path and query of a webhook URL (a Slack webhook URL is itself
the credential), through a whole delivery with failures, refusals and setup errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.unit.sinks.alert_samples import finding_alert
from tests.unit.sinks.receivers import Answer, Receiver

from kposture.sinks.building import AlertSetupError, build_sinks
from kposture.sinks.credentials import HeaderValue, ResolvedHeader, redact_url
from kposture.sinks.specs import AlertSpecError, parse_alert_flag, parse_alert_flags

TOKEN = "Tk" + "Leak" + "7Qz8Wm3Xr"
KEY = "Ky" + "Leak" + "9Pq2Vn4Zt"
LITERAL = "Lt" + "Leak" + "5Hs6Jd1Ua"
PATH_SECRET = "Ph" + "Leak" + "3Bx7Cy0Er"
SECRETS = (TOKEN, KEY, LITERAL, PATH_SECRET)


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_a_delivery_with_failures_and_a_refusal_logs_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver().start()
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    url = f"http://127.0.0.1:{receiver.port}/services/{PATH_SECRET}?token={PATH_SECRET}"
    flags = [
        f"webhook[name=soc,bearer=env:SOC_TOKEN,header=X-Api-Key:file:{key_file},"
        f"header=X-Literal:{LITERAL},backoff=10ms]={url}",
        f"slack[backoff=10ms]={url}",
    ]
    receiver.answer(503, Answer(429, (("Retry-After", "0"),)), 400)
    try:
        with caplog.at_level(logging.DEBUG):
            config = parse_alert_flags(flags)
            sinks = build_sinks(config, environ={"SOC_TOKEN": TOKEN}, spool_root=tmp_path / "spool")
            for index in range(3):
                sinks.send(finding_alert(f"alert {index}"))
            assert sinks.flush(10)
            receiver.stop()
            sinks.send(finding_alert("while down"))
            import time

            time.sleep(0.2)
            texts = [repr(config), repr(list(sinks)), repr(sinks.stats()), *map(repr, config.sinks)]
            for sink in sinks:
                texts.append(repr(getattr(sink, "_headers", ())))
            sinks.close(0.1)
        assert "refused an alert with HTTP 400" in caplog.text
        assert "failed (" in caplog.text
        _clean(caplog.text)
        for text in texts:
            _clean(text)
        assert any(
            request.headers.get("Authorization") == f"Bearer {TOKEN}"
            for request in receiver.requests
        )
    finally:
        receiver.stop()


def test_setup_and_parse_errors_show_no_secret(tmp_path: Path) -> None:
    url = f"https://hooks.example.com/services/{PATH_SECRET}"
    with pytest.raises(AlertSpecError) as parse_error:
        parse_alert_flag(f"slack[min=loud,header=X-K:{LITERAL}]={url}")
    _clean(str(parse_error.value))
    with pytest.raises(AlertSetupError) as setup_error:
        build_sinks(
            parse_alert_flags([f"webhook[bearer=env:UNSET,header=X-K:{LITERAL}]={url}"]),
            environ={},
            spool_root=tmp_path,
        )
    _clean(str(setup_error.value))
    assert "hooks.example.com" in str(setup_error.value)


def test_header_reprs_show_where_values_come_from_only(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(TOKEN)
    literal = ResolvedHeader("X-Key", HeaderValue.parse(LITERAL))
    from_env = ResolvedHeader("Authorization", HeaderValue.parse("env:T", "Bearer "), {"T": TOKEN})
    from_file = ResolvedHeader("X-File", HeaderValue.parse(f"file:{secret_file}"))
    assert repr(literal) == "ResolvedHeader('X-Key', <literal>)"
    assert repr(from_env) == "ResolvedHeader('Authorization', <env T>)"
    assert repr(from_file) == f"ResolvedHeader('X-File', <file {secret_file}>)"
    assert from_env.value() == f"Bearer {TOKEN}"
    assert from_file.value() == TOKEN
    _clean(repr(HeaderValue.parse(LITERAL)) + repr([literal, from_env, from_file]))


def test_redact_url_keeps_scheme_host_and_port_only() -> None:
    assert redact_url(f"https://user:{TOKEN}@h.example.com:8443/a/{PATH_SECRET}?q={KEY}#f") == (
        "https://h.example.com:8443/…"
    )
    assert redact_url("https://h.example.com") == "https://h.example.com"
    assert redact_url("http://[::1]:9000/x") == "http://[::1]:9000/…"
    assert redact_url("not a url") == "<invalid URL>"


def test_a_multi_line_token_file_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(f"{TOKEN}\n{KEY}\n")
    with pytest.raises(ValueError, match="more than one line") as caught:
        ResolvedHeader("X-File", HeaderValue.parse(f"file:{secret_file}"))
    _clean(str(caught.value))
