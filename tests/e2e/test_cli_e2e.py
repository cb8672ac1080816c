"""The installed ``kposture`` command as a user runs it: real processes, real corpus, real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "unit" / "reports" / "data" / "sarif-schema-2.1.0.json"
KPOSTURE = Path(sys.executable).parent / "kposture"
LIMIT = 300  # seconds: a hung process fails the test instead of stalling CI


def kposture(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KPOSTURE), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )


@pytest.fixture
def goat(corpus: Path, tmp_path: Path) -> Path:
    """A copy of the goat corpus in a scratch folder, so relative paths are short and stable."""
    target = tmp_path / "goat"
    shutil.copytree(corpus / "goat", target, ignore=shutil.ignore_patterns("*.json", "*.md"))
    return target


def test_goat_scan_sarif_is_valid_and_relative(goat: Path) -> None:
    done = kposture("scan", "goat", "-o", "sarif", cwd=goat.parent)
    assert done.returncode == 1, done.stderr
    sarif = json.loads(done.stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(sarif)
    results = sarif["runs"][0]["results"]
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in results
        if r.get("locations") and "physicalLocation" in r["locations"][0]
    }
    assert "goat/scenarios/system-monitor/deployment.yaml" in uris
    assert all(not uri.startswith("/") for uri in uris)
    # The Helm chart's findings point into its template, not the rendered stream.
    assert any(uri.startswith("goat/scenarios/metadata-db/templates/") for uri in uris)
    privileged = [
        r
        for r in results
        if r["ruleId"] == "privileged-container"
        and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "goat/scenarios/system-monitor/deployment.yaml"
    ]
    assert len(privileged) == 1
    assert privileged[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 41


def test_stdin_pipe_from_a_real_process(goat: Path) -> None:
    text = (goat / "scenarios" / "health-check" / "deployment.yaml").read_text()
    done = kposture("scan", "-", "-o", "json", cwd=goat, stdin=text)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    rules = {f["rule_id"] for f in report["findings"]}
    assert {"privileged-container", "container-runtime-socket"} <= rules
    assert all(f["location"]["file"] == "<stdin>" for f in report["findings"])


def test_bad_inputs_are_reported_and_the_rest_is_scanned(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "good.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec:\n  hostPID: true\n"
        "  containers: [{name: c, image: nginx:1.27}]\n"
    )
    (bad / "malformed.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")
    (bad / "latin1.yaml").write_bytes(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  k: caf\xe9\n")
    (bad / "binary.yaml").write_bytes(b"\x00\x01\x02ELF" * 100)
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 10):
        prev, cur = chr(ord("a") + index - 1), chr(ord("a") + index)
        refs = ",".join([f"*{prev}"] * 9)
        laughs.append(f"{cur}: &{cur} [{refs}]")
    (bad / "laughs.yaml").write_text("\n".join(laughs) + "\nkind: Pod\napiVersion: v1\n")
    (bad / "deep.yaml").write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    done = kposture("scan", "bad", "-o", "json", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert any(f["rule_id"] == "host-pid" for f in report["findings"])
    files_with_errors = {e["file"] for e in report["errors"]}
    for name in ("malformed.yaml", "latin1.yaml", "binary.yaml", "laughs.yaml", "deep.yaml"):
        assert f"bad/{name}" in files_with_errors, (name, report["errors"])
    malformed = next(e for e in report["errors"] if e["file"] == "bad/malformed.yaml")
    # libyaml notices the unclosed list at the end of the file; the message says where it began.
    assert malformed["line"] == 5
    assert "line 4" in malformed["message"]


def test_demo_writes_reports(tmp_path: Path) -> None:
    done = kposture("demo", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "demo-report.json").read_text())
    assert report["summary"]["by_severity"]["critical"] > 0
    assert report["summary"]["suppressed"] >= 1
    files = {f["location"]["file"] for f in report["findings"]}
    assert "out/demo-app/node-agent.yaml" in files
    assert (tmp_path / "out" / "demo-report.md").read_text().startswith("## kposture scan")
    sarif = json.loads((tmp_path / "out" / "demo-report.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(sarif)


def test_nothing_to_scan_fails_the_gate(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "values.yaml").write_text("replicaCount: 2\nimage: {tag: latest}\n")
    for args, stdin, shown in (
        (("-",), "\n", "<stdin>"),  # `helm template x | kposture scan -` after helm failed
        (("empty",), None, "empty"),
        (("values",), None, "values"),
    ):
        done = kposture("scan", *args, "-o", "json", cwd=tmp_path, stdin=stdin)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        errors = json.loads(done.stdout)["errors"]
        expected = {"file": "", "line": 0, "level": "error"}
        expected["message"] = f"no Kubernetes objects found in {shown}"
        assert expected in errors, errors
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "pod.YAML").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: true\n"
        "  containers: [{name: c, image: nginx:1.27}]\n"
    )
    done = kposture("scan", "upper", "-o", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert any(f["rule_id"] == "host-pid" for f in json.loads(done.stdout)["findings"])


def test_a_broken_document_does_not_hide_the_rest_of_its_file(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  {field}: true\n"
        "  containers: [{{name: c, image: nginx:1.27}}]\n"
    )
    text = pod.format(name="a", field="hostPID") + "---\n: : bad\n---\n"
    text += pod.format(name="b", field="hostNetwork")
    (tmp_path / "pods.yaml").write_text(text)
    done = kposture("scan", "pods.yaml", "-o", "json", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    where = {(f["rule_id"], f["location"]["line"]) for f in report["findings"]}
    assert {("host-pid", 5), ("host-network", 14)} <= where
    assert [(e["file"], e["line"]) for e in report["errors"] if e["level"] == "error"] == [
        ("pods.yaml", 8)
    ]
