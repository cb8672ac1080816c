"""``kposture serve --db``: the wiring from the command line to the store (uvicorn replaced by a
stand-in that posts reviews to the app it is given), the store error at start-up, and the install
manifests' ``serve`` arguments, which must be ones ``serve`` accepts, with the store on a writable
volume."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from tests.unit.server.admission_support import AsgiClient, body, pod, review
from typer.testing import CliRunner

from kposture.cli.app import app
from kposture.server import serving
from kposture.store.connecting import open_store, resolve_url
from kposture.store.decisions import recent_decisions

JSON = {"content-type": "application/json"}
TAGGED = "registry.example.com/kposture:0.1.0"


class FakeServe:
    """Stands in for ``serving.serve``: posts reviews to the app, then returns as a stopped server
    does (the command must then flush the decision log)."""

    def __init__(self, *reviews: dict[str, Any]) -> None:
        self.reviews = reviews
        self.answers: list[dict[str, Any]] = []
        self.metrics = ""
        self.kwargs: dict[str, Any] = {}

    def __call__(self, asgi: Any, **kwargs: Any) -> None:
        self.kwargs = kwargs
        client = AsgiClient(asgi)
        for data in self.reviews:
            reply = client.post("/validate", content=body(data), headers=JSON)
            self.answers.append(reply.json()["response"])
        self.metrics = client.get("/metrics").text


def _serve_args(tmp_path: Path, *extra: str) -> list[str]:
    (tmp_path / "policy.yaml").write_text("admission:\n  mode: enforce\n")
    return [
        "serve",
        "--tls-cert", str(tmp_path / "tls.crt"),
        "--tls-key", str(tmp_path / "tls.key"),
        "--policy", str(tmp_path / "policy.yaml"),
        *extra,
    ]  # fmt: skip


def test_serve_records_every_decision_in_the_db_and_flushes_on_stop(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeServe(
        review(pod(privileged=True), uid="one"),
        review(pod("ok"), uid="two"),
        review(pod("old", namespace="kube-system", privileged=True), uid="three"),
    )
    monkeypatch.setattr(serving, "serve", fake)
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    result = runner.invoke(app, _serve_args(tmp_path, "--db", url))
    assert result.exit_code == 0, result.output
    assert [answer["allowed"] for answer in fake.answers] == [False, True, True]
    assert fake.kwargs["cert_file"] == tmp_path / "tls.crt"
    assert "kposture_admission_decision_log" in fake.metrics
    with open_store(url, create=False) as store:
        stored = {d.uid: d.outcome.value for d in recent_decisions(store)}
    assert stored == {"one": "denied", "two": "allowed", "three": "exempt"}

    shown = runner.invoke(app, ["admission", "log", "--db", url, "-o", "json"])
    assert shown.exit_code == 0, shown.output
    assert {d["uid"] for d in json.loads(shown.stdout)["decisions"]} == {"one", "two", "three"}


def test_serve_takes_the_store_from_kposture_db(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "serve", FakeServe(review(pod(privileged=True), uid="env")))
    db = tmp_path / "from-env.db"
    result = runner.invoke(app, _serve_args(tmp_path), env={"KPOSTURE_DB": str(db)})
    assert result.exit_code == 0, result.output
    with open_store(str(db), create=False) as store:
        assert [d.uid for d in recent_decisions(store)] == ["env"]


def test_serve_defaults_to_the_store_admission_log_reads(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "serve", FakeServe(review(pod(), uid="default")))
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "KPOSTURE_DB": ""}
    result = runner.invoke(app, _serve_args(tmp_path), env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "kposture" / "kposture.db").is_file()
    shown = runner.invoke(app, ["admission", "log", "-o", "json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert [d["uid"] for d in json.loads(shown.stdout)["decisions"]] == ["default"]


def test_serve_refuses_audit_options_without_the_audit_sink(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeServe()
    monkeypatch.setattr(serving, "serve", fake)
    flags = ("--alert", "stdout", "--cluster-name", "prod")
    result = runner.invoke(app, _serve_args(tmp_path, *flags))
    assert result.exit_code == 2
    assert "--alert, --cluster-name only apply to the audit webhook sink" in result.output
    assert fake.kwargs == {}  # it never started serving


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_store_that_cannot_be_opened_stops_the_start(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("serve must not start without its store")

    monkeypatch.setattr(serving, "serve", never)
    url = f"postgresql://kposture:s3cret-pw@127.0.0.1:{_closed_port()}/kposture"
    result = runner.invoke(app, _serve_args(tmp_path, "--db", url))
    assert result.exit_code == 2
    assert "cannot open the store at" in result.stderr
    assert "kposture:***@127.0.0.1" in result.stderr
    assert "s3cret-pw" not in result.output

    (tmp_path / "a-file").write_text("")
    blocked = f"sqlite:///{tmp_path / 'a-file' / 'kposture.db'}"
    result = runner.invoke(app, _serve_args(tmp_path, "--db", blocked))
    assert result.exit_code == 2
    assert "cannot open the store at sqlite:///" in result.stderr
    assert "a-file/kposture.db" in result.stderr.replace("\n", "")


def _install(runner: CliRunner, workdir: Path, *extra: str) -> dict[str, Any]:
    certs = runner.invoke(app, ["admission", "certs", "--out", "c"])
    assert certs.exit_code == 0, certs.output
    result = runner.invoke(
        app, ["admission", "install", "--certs-dir", "c", "--image", TAGGED, *extra]
    )
    assert result.exit_code == 0, result.output
    docs = {d["kind"]: d for d in yaml.safe_load_all(result.stdout) if d}
    deployment: dict[str, Any] = docs["Deployment"]
    return deployment


@pytest.mark.parametrize("with_policy", [False, True])
def test_install_runs_serve_with_arguments_it_accepts_and_a_writable_store(
    runner: CliRunner, workdir: Path, with_policy: bool
) -> None:
    extra: tuple[str, ...] = ()
    if with_policy:
        (workdir / "policy.yaml").write_text("admission:\n  mode: warn\n")
        extra = ("--policy", "policy.yaml")
    deployment = _install(runner, workdir, *extra)
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["kposture"]
    args = container["args"]
    assert args[0] == "serve"

    # Parsed by the real command, as the container would run it.
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    params = serve.make_context("serve", list(args[1:])).params
    assert params["port"] == container["ports"][0]["containerPort"]
    assert params["db"] == "sqlite:////var/lib/kposture/kposture.db"
    assert (params["policy"] is not None) is with_policy

    # The root filesystem is read-only: the store's folder must be a writable volume.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    database = Path(resolve_url(params["db"]).database or "")
    assert database == Path("/var/lib/kposture/kposture.db")
    mounts = {Path(m["mountPath"]): m for m in container["volumeMounts"]}
    data = mounts[database.parent]
    assert not data.get("readOnly", False)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[data["name"]]
    # The non-root user can write it: an emptyDir is created 0777, and the pod's fsGroup owns it.
    assert spec["securityContext"]["fsGroup"] == container["securityContext"]["runAsGroup"]

    # Every file serve reads lies on a mounted volume.
    for option in ("tls_cert", "tls_key", *(("policy",) if with_policy else ())):
        assert Path(params[option]).parent in mounts, option
