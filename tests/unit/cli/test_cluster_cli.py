"""``scan --cluster`` and ``snapshot`` in-process, over an in-memory API server (fake transport),
and their one-line errors for bad kubeconfigs and unreachable servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fake_kube_api import FakeApi
from kposture.cli import app
from kposture.sources import cluster as cluster_source

PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
    "spec": {
        "containers": [
            {"name": "app", "image": "nginx:1.27", "securityContext": {"privileged": True}}
        ]
    },
}
CLOSED_PORT_CONFIG = """\
apiVersion: v1
kind: Config
current-context: dev
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dev, context: {cluster: c, user: u}}]
"""


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi(statuses={"secrets": 403}).add(PRIVILEGED_POD)
    real = cluster_source.load_cluster

    def load(*args: Any, **kwargs: Any) -> Any:
        return real(*args, connection=api.connection("dev"), **kwargs)

    monkeypatch.setattr("kposture.cli.scanning.load_cluster", load)
    return api


def test_scan_cluster_json(fake_api: FakeApi) -> None:
    done = CliRunner().invoke(app, ["scan", "--cluster", "-o", "json"])
    assert done.exit_code == 1, done.output
    report = json.loads(done.stdout)
    assert report["inputs"] == ["cluster:dev"]
    finding = next(f for f in report["findings"] if f["rule_id"] == "privileged-container")
    assert finding["resource"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": "shop",
        "name": "web",
    }
    assert finding["location"] == {
        "file": "cluster:dev",
        "line": 0,
        "column": 0,
        "path": "spec.containers[0].securityContext.privileged",
    }
    [warning] = [e for e in report["errors"] if "secrets" in e["message"]]
    assert warning["level"] == "warning" and warning["file"] == "cluster:dev"


STATIC_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
  labels: {component: kube-apiserver, tier: control-plane}
spec:
  hostNetwork: true
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.30.2
    command: [kube-apiserver, --anonymous-auth=true, --authorization-mode=AlwaysAllow]
"""


def test_scan_cluster_with_manifest_paths_is_one_inventory(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "kube-apiserver.yaml").write_text(STATIC_POD)
    done = CliRunner().invoke(app, ["scan", "--cluster", str(manifests), "-o", "json"])
    assert done.exit_code == 1, done.output
    report = json.loads(done.stdout)
    assert report["inputs"] == ["cluster:dev", str(manifests)]
    files = {(f["rule_id"], f["location"]["file"]) for f in report["findings"]}
    assert ("privileged-container", "cluster:dev") in files
    assert any(
        rule == "api-server-authorization-unsafe" and file.endswith("kube-apiserver.yaml")
        for rule, file in files
    ), files
    # The cluster's listing problems are still reported with the files'.
    assert any("cannot list secrets" in e["message"] for e in report["errors"])


def test_scan_cluster_sarif_has_no_region(fake_api: FakeApi) -> None:
    done = CliRunner().invoke(app, ["scan", "--cluster", "-o", "sarif"])
    result = json.loads(done.stdout)["runs"][0]["results"][0]
    assert "region" not in result["locations"][0].get("physicalLocation", {})
    assert result["locations"][0]["logicalLocations"]


def test_snapshot_then_scan_finds_the_same(fake_api: FakeApi, tmp_path: Path) -> None:
    target = tmp_path / "snap.json"
    done = CliRunner().invoke(app, ["snapshot", "-o", str(target)])
    # Secrets are forbidden: the file is written, but the exit code says it is incomplete.
    assert done.exit_code == 2, done.output
    assert "wrote 1 objects" in done.stderr
    assert "could not list Secret" in done.stderr
    assert "warning: cannot list secrets: forbidden" in done.stderr
    live = json.loads(CliRunner().invoke(app, ["scan", "--cluster", "-o", "json"]).stdout)
    offline_run = CliRunner().invoke(app, ["scan", str(target), "-o", "json"])
    offline = json.loads(offline_run.stdout)
    assert [f["fingerprint"] for f in offline["findings"]] == [
        f["fingerprint"] for f in live["findings"]
    ]
    # The offline scan reports the listing problems the live scan reported, at the same levels.
    assert [(e["message"], e["level"]) for e in offline["errors"]] == [
        (e["message"], e["level"]) for e in live["errors"]
    ]
    listed = [e for e in offline["errors"] if e["message"].startswith("cannot list")]
    assert [e["file"] for e in listed] == [str(target)]


def test_snapshot_exits_2_on_any_listing_error_and_offline_scan_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = FakeApi(statuses={"deployments": 500}).add(PRIVILEGED_POD)
    real = cluster_source.load_cluster

    def load(*args: Any, **kwargs: Any) -> Any:
        return real(*args, connection=api.connection("dev"), **kwargs)

    monkeypatch.setattr("kposture.cli.scanning.load_cluster", load)
    target = tmp_path / "snap.json"
    done = CliRunner().invoke(app, ["snapshot", "-o", str(target)])
    assert done.exit_code == 2 and target.exists()
    assert "could not list Deployment" in done.stderr
    offline = CliRunner().invoke(app, ["scan", str(target), "-o", "json", "--fail-on", "never"])
    assert offline.exit_code == 2  # an error-level listing problem: the result is incomplete
    [error] = [e for e in json.loads(offline.stdout)["errors"] if "cannot list" in e["message"]]
    assert error["level"] == "error" and error["message"].startswith("cannot list deployments")


def test_complete_snapshot_exits_0(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = FakeApi().add(PRIVILEGED_POD)
    real = cluster_source.load_cluster

    def load(*args: Any, **kwargs: Any) -> Any:
        return real(*args, connection=api.connection("dev"), **kwargs)

    monkeypatch.setattr("kposture.cli.scanning.load_cluster", load)
    done = CliRunner().invoke(app, ["snapshot", "-o", str(tmp_path / "snap.json")])
    assert done.exit_code == 0, done.output
    assert "could not list" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan"], "give manifest paths"),
        (["scan", "x.yaml", "--cluster"], "x.yaml: no such file or directory"),
        (["scan", "x.yaml", "--context", "a"], "need --cluster"),
        (["scan", "--cluster", "-n", "a", "-A"], "exclude each other"),
        (["scan", "--cluster", "--kubeconfig", "/nonexistent/config"], "does not exist"),
        (
            ["scan", "--cluster", "--kubeconfig", "/etc/passwd"],
            "/etc/passwd is not a kubeconfig file: it holds text",
        ),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2
    assert message in done.stderr and "Traceback" not in done.output
    assert len(done.stderr.strip().splitlines()) == 1


def test_unreachable_server_and_missing_context(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(CLOSED_PORT_CONFIG)
    for args, message in (
        ([], "cannot reach the API server https://127.0.0.1:1: "),
        (["--context", "prod"], "context 'prod' not found"),
    ):
        for verb in (["scan", "--cluster"], ["snapshot", "-o", str(tmp_path / "s.json")]):
            done = CliRunner().invoke(app, [*verb, "--kubeconfig", str(config), *args])
            assert done.exit_code == 2, done.output
            assert done.stderr.startswith("error: ") and message in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.json").exists()


def test_progress_display_takes_updates_from_listing_threads() -> None:
    from kposture.cli.progress import listing_progress

    with listing_progress(enabled=False) as none:
        assert none is None
    api = FakeApi().add(PRIVILEGED_POD)
    with listing_progress(enabled=True) as update:
        assert update is not None
        read = cluster_source.load_cluster(connection=api.connection(), progress=update, workers=4)
    assert len(read.loaded.objects) == 1
