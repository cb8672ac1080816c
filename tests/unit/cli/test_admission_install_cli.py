"""``kposture admission certs`` and ``kposture admission install`` through the command line."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kposture.cli.app import app

DIGEST = "registry.example.com/kposture@sha256:" + "0" * 64
TAGGED = "registry.example.com/kposture:0.1.0"


def _certs(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, ["admission", "certs", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_certs_writes_private_keys_and_prints_no_key(runner: CliRunner, workdir: Path) -> None:
    output = _certs(runner, "--out", "c", "--ip", "127.0.0.1", "--dns", "localhost")
    assert "created c/ca.crt" in output
    assert "kposture-webhook.kposture.svc.cluster.local" in output
    assert "127.0.0.1" in output
    assert "PRIVATE KEY" not in output
    for key in ("ca.key", "tls.key"):
        body = (workdir / "c" / key).read_text()
        assert stat.S_IMODE((workdir / "c" / key).stat().st_mode) == 0o600
        assert body.splitlines()[1] not in output
    again = _certs(runner, "--out", "c")
    assert "kept the CA" in again


def test_certs_with_a_given_ca(runner: CliRunner, workdir: Path) -> None:
    _certs(runner, "--out", "corp")
    output = _certs(
        runner, "--out", "c", "--ca-cert", "corp/ca.crt", "--ca-key", "corp/ca.key", "-n", "sec"
    )
    assert "copied the CA certificate of corp/ca.crt" in output
    assert (workdir / "c" / "ca.crt").read_bytes() == (workdir / "corp" / "ca.crt").read_bytes()
    assert not (workdir / "c" / "ca.key").exists()
    assert "kposture-webhook.sec.svc" in output


def test_certs_usage_errors(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["admission", "certs", "--ca-cert", "x.crt"])
    assert result.exit_code == 2
    assert "go together" in result.output
    result = runner.invoke(app, ["admission", "certs", "--ip", "nope"])
    assert result.exit_code == 2
    assert "not an IP address" in result.output


def test_install_from_certs_dir(runner: CliRunner, workdir: Path) -> None:
    _certs(runner, "--out", "c")
    result = runner.invoke(
        app, ["admission", "install", "--certs-dir", "c", "--image", DIGEST, "--timeout", "3"]
    )
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = [d["kind"] for d in docs]
    assert "Secret" not in kinds
    assert "PRIVATE KEY" not in result.stdout
    (hook,) = docs[-1]["webhooks"]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == (workdir / "c/ca.crt").read_bytes()
    assert hook["timeoutSeconds"] == 3
    assert "create the TLS Secret kposture-webhook-tls" in result.stderr
    (workdir / "install.yaml").write_text(result.stdout)
    scanned = runner.invoke(app, ["scan", "install.yaml", "--fail-on", "info", "-o", "json"])
    assert scanned.exit_code == 0, scanned.output
    assert json.loads(scanned.stdout)["findings"] == []


def test_install_with_the_secret_and_as_json(runner: CliRunner, workdir: Path) -> None:
    _certs(runner, "--out", "c")
    result = runner.invoke(
        app,
        [
            "admission",
            "install",
            "--certs-dir",
            "c",
            "--include-secret",
            "-o",
            "json",
            "--image",
            TAGGED,
        ],
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    (secret,) = [item for item in listed["items"] if item["kind"] == "Secret"]
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.key"]) == (workdir / "c/tls.key").read_bytes()


def test_install_with_a_policy_and_a_bundle(runner: CliRunner, workdir: Path) -> None:
    _certs(runner, "--out", "old")
    _certs(runner, "--out", "new")
    bundle = (workdir / "old/ca.crt").read_bytes() + (workdir / "new/ca.crt").read_bytes()
    (workdir / "bundle.crt").write_bytes(bundle)
    (workdir / "policy.yaml").write_text("apiVersion: kposture.io/v1\nkind: Policy\n")
    result = runner.invoke(
        app,
        [
            "admission",
            "install",
            "--ca-bundle",
            "bundle.crt",
            "--policy",
            "policy.yaml",
            "--image",
            TAGGED,
        ],
    )
    assert result.exit_code == 0, result.output
    docs = {d["kind"]: d for d in yaml.safe_load_all(result.stdout) if d}
    assert docs["ConfigMap"]["data"]["policy.yaml"].startswith("apiVersion: kposture.io/v1")
    hook = docs["ValidatingWebhookConfiguration"]["webhooks"][0]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == bundle


def test_install_usage_errors(runner: CliRunner, workdir: Path) -> None:
    _certs(runner, "--out", "c")
    (workdir / "bad-policy.yaml").write_text("rules:\n  disabled: [no-such-rule]\n")
    cases = [
        ([], "Missing option '--image'"),
        (["--image", TAGGED], "exactly one of"),
        (["--ca-bundle", "c/ca.crt", "--certs-dir", "c"], "exactly one of"),
        (["--ca-bundle", "c/ca.crt", "--include-secret"], "needs --certs-dir"),
        (["--certs-dir", "c", "-n", "elsewhere"], "does not verify for kposture-webhook.elsewhere"),
        (["--ca-bundle", "pod.yaml"], "no PEM certificate"),
        (["--certs-dir", "c", "--image", "kposture:latest"], "no explicit tag"),
        (["--certs-dir", "c", "--timeout", "60"], "1 to 30"),
        (["--certs-dir", "c", "--policy", "bad-policy.yaml"], "no-such-rule"),
    ]
    for args, message in cases:
        given = args if not args or "--image" in args else [*args, "--image", TAGGED]
        result = runner.invoke(app, ["admission", "install", *given])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
