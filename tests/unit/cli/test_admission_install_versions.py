"""``kposture admission install`` for older API servers (--kubernetes-version), the namespace label
the exclusion relies on, and ``admission certs`` leaving nothing behind when it refuses."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from kposture.cli.app import app

DIGEST = "registry.example.com/kposture@sha256:" + "0" * 64


def _install(runner: CliRunner, *args: str) -> tuple[str, str, list[dict[str, object]]]:
    certs = runner.invoke(app, ["admission", "certs", "--out", "c"])
    assert certs.exit_code == 0, certs.output
    result = runner.invoke(
        app, ["admission", "install", "--certs-dir", "c", "--image", DIGEST, *args]
    )
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr, [d for d in yaml.safe_load_all(result.stdout) if d]


def _pdb(docs: list[dict[str, object]]) -> dict[str, object]:
    return next(d for d in docs if d["kind"] == "PodDisruptionBudget")


def test_policy_v1_by_default_with_the_label_warning(runner: CliRunner, workdir: Path) -> None:
    text, _, docs = _install(runner)
    assert _pdb(docs)["apiVersion"] == "policy/v1"
    # failurePolicy Fail: the header says what older clusters need.
    header = text.split("---", 1)[0]
    assert "1.21" in header
    assert "kubectl label namespace kube-system kubernetes.io/metadata.name=kube-system" in (
        " ".join(line.lstrip("# ") for line in header.splitlines())
    )


def test_kubernetes_1_20(runner: CliRunner, workdir: Path) -> None:
    text, err, docs = _install(
        runner,
        "--kubernetes-version",
        "v1.20.2",
        *("--exclude-namespace", "kube-system", "--exclude-namespace", "ops"),
    )
    assert _pdb(docs)["apiVersion"] == "policy/v1beta1"
    err = " ".join(err.split())
    assert "kubectl label namespace kube-system kubernetes.io/metadata.name=kube-system" in err
    assert "kubectl label namespace ops kubernetes.io/metadata.name=ops" in err
    assert "policy/v1beta1" in text
    # kposture's own namespace is rendered with the label.
    namespace = next(d for d in docs if d["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] == "kposture"  # type: ignore[index]


def test_a_bad_kubernetes_version_is_a_usage_error(runner: CliRunner, workdir: Path) -> None:
    runner.invoke(app, ["admission", "certs", "--out", "c"])
    for version in ("one.twenty", "1.15"):
        result = runner.invoke(
            app,
            [
                "admission",
                "install",
                "--certs-dir",
                "c",
                "--image",
                DIGEST,
                "--kubernetes-version",
                version,
            ],
        )
        assert result.exit_code == 2
        assert "--kubernetes-version" in result.stderr


def test_certs_leaves_no_folder_when_it_refuses(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["admission", "certs", "--out", "new", "--ip", "not-an-ip"])
    assert result.exit_code == 2
    assert not (workdir / "new").exists()
    result = runner.invoke(app, ["admission", "certs", "--out", "new2", "--days", "0"])
    assert result.exit_code == 2
    assert not (workdir / "new2").exists()


def test_what_if_warns_about_a_host_glob_leaving_rules_out(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "policy.yaml").write_text('admission:\n  rules:\n    "host-*": enforce\n')
    result = runner.invoke(app, ["admission", "what-if", "pod.yaml", "--policy", "policy.yaml"])
    assert "sensitive-host-path" in result.stderr
    assert "container-runtime-socket" in result.stderr
