"""No secret value reaches any output: the whole CLI runs on manifests full of distinctive sentinel
secrets (env values, container command and args, ConfigMap data, multi-line files, binaryData,
Secret data and stringData, annotations, and malformed YAML whose broken line holds a secret) and no
sentinel, nor its base64, may appear in any format's stdout or stderr.

Sentinels are built from parts at run time and are plain alphanumerics, so a match survives Rich's
line wrapping once box characters and whitespace are stripped from the output.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kposture.cli import app


def _sentinel(index: int) -> str:
    return "Kp" + "Leak" + f"{index:02d}" + "Qz8Wm3Xr"


S = {index: _sentinel(index) for index in range(1, 23)}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BINARY_LINE = f"password={S[7]}\n"

WORKLOADS = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    note/db-password: {S[4]}
    kubectl.kubernetes.io/last-applied-configuration: '{{"env":[{{"name":"DB_PASSWORD","value":"{S[4]}"}}]}}'
spec:
  template:
    spec:
      containers:
      - name: app
        image: registry.example.com/web:1.0.0
        env:
        - name: DB_PASSWORD
          value: {S[1]}
        - name: GH_AUTOMATION
          value: {"gh" + "p_" + S[2] + "A1b2C3d4E5f6G7h8I9j0K1l2M3"}
        - name: DATABASE_URL
          value: postgres://app:{S[3]}@db:5432/orders
        - name: JAVA_OPTS
          value: -Xmx1g -Dspring.datasource.password={S[12]}
        command: [java, "-Dspring.datasource.password={S[20]}", -jar, app.jar]
        args: ["--db-password={S[21]}", --admin-password, {S[22]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: suppressed
  namespace: shop
  annotations:
    kposture.io/ignore: secret-in-env,secret-env-reference
    kposture.io/ignore-reason: accepted for the leak test
spec:
  containers:
  - name: app
    image: registry.example.com/web:1.0.0
    env:
    - name: API_TOKEN
      value: {S[13]}
    - name: FROM_SECRET
      valueFrom:
        secretKeyRef: {{name: creds, key: token}}
"""

CONFIGMAPS = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: shop
  annotations:
    owner-password: {S[8]}
data:
  db_password: {S[5]}
  application.properties: |
    server.port=8080
    spring.datasource.password={S[6]}
  config.json: |
    {{"auth": {{"token": "{S[14]}"}}}}
binaryData:
  legacy.env: {_b64(BINARY_LINE)}
"""

SECRETS = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
type: Opaque
data:
  password: {_b64(S[9])}
stringData:
  token: {S[10]}
  config.yaml: |
    password: {S[15]}
"""

MALFORMED = {
    "tag.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t\ndata:\n  pw: !{S[11]}\n",
    "int-tag.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: i\ndata:\n  pw: !!int {S[16]}\n",
    "unclosed.yaml": f'apiVersion: v1\nkind: ConfigMap\ndata:\n  pw: "{S[17]}\n',
    "indent.yaml": f"apiVersion: v1\nkind: ConfigMap\ndata:\n  pw: x\n bad {S[18]}: y\n",
    "tab.yaml": f"apiVersion: v1\nkind: ConfigMap\ndata:\n\tpw: {S[19]}\n",
}

FORMATS = ("table", "json", "sarif", "junit", "markdown")


def _forbidden() -> list[str]:
    needles = set(S.values())
    needles.update(_b64(value) for value in S.values())
    needles.add(_b64(BINARY_LINE))
    needles.update(value[:10] for value in S.values())
    return sorted(needles)


def _normalised(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+/=]", "", text)


@pytest.fixture
def manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    files = {"workloads.yaml": WORKLOADS, "configmaps.yaml": CONFIGMAPS, "secrets.yaml": SECRETS}
    files.update(MALFORMED)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return sorted(files)


def _run(args: list[str]) -> tuple[str, int]:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        type(result.exception)
    )
    return result.stdout + "\n" + result.stderr, result.exit_code


def _assert_clean(output: str, context: str) -> None:
    flat = _normalised(output)
    leaked = [needle for needle in _forbidden() if needle in output or needle in flat]
    assert not leaked, f"{context}: {len(leaked)} secret sentinel(s) leaked into the output"


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_echoes_a_secret(manifests: list[str], fmt: str) -> None:
    output, code = _run(["scan", *manifests, "-o", fmt, "-v"])
    assert code == 2  # the malformed files are input errors
    _assert_clean(output, fmt)


def test_table_with_suppressed_findings_and_notes(manifests: list[str]) -> None:
    output, _code = _run(["scan", *manifests, "--show-suppressed", "-v"])
    assert "suppressed by annotation" in output
    _assert_clean(output, "table --show-suppressed")


def test_the_findings_are_there_without_their_values(manifests: list[str]) -> None:
    output, _code = _run(["scan", *manifests, "-o", "json"])
    for expected in (
        "secret-in-env",
        "secret-in-configmap",
        "secret-env-reference",
        "secret-in-args",
        "secret-in-manifest",
        "db-password",
        "DB_PASSWORD",
        "GitHub token",
        "URL with a password",
        "spring.datasource.password",
        "binaryData",
        "scrypt:",
    ):
        assert expected in output, expected
    for name in MALFORMED:
        assert name in output  # each malformed file is reported, without its content
