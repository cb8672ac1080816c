"""``scan --cluster --save``, ``findings`` and ``history`` in-process over an in-memory API server
and a SQLite store: the lifecycle through the CLI, changed_by from managedFields, table and JSON
output, filters and usage errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fake_kube_api import FakeApi
from kposture.cli import app
from kposture.cli.findings_commands import parse_resource
from kposture.cli.scanning import UsageError
from kposture.sources import cluster as cluster_source


def pod(name: str, *, privileged: bool, manager: str, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": name,
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "time": "2026-11-20T09:00:00Z",
                    "subresource": "status",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {},
                },
                {
                    "manager": manager,
                    "operation": "Update",
                    "time": "2026-11-20T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {}},
                },
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "securityContext": {"privileged": privileged},
                }
            ]
        },
    }


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi(statuses={"secrets": 403})
    fake.add(pod("web", privileged=True, manager="kubectl-client-side-apply"))
    real = cluster_source.load_cluster

    def load(*args: Any, **kwargs: Any) -> Any:
        return real(*args, connection=fake.connection("dev"), **kwargs)

    monkeypatch.setattr("kposture.cli.scanning.load_cluster", load)
    return fake


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kposture.db'}"


def save(runner: CliRunner, db: str, *extra: str) -> Any:
    args = ["scan", "--cluster", "--save", "--db", db, "-o", "json", "--fail-on", "never", *extra]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    return done


def privileged(doc: dict[str, Any]) -> list[dict[str, Any]]:
    key = "findings" if "findings" in doc else "transitions"
    return [item for item in doc[key] if item["rule_id"] == "privileged-container"]


def test_scan_save_then_fix_then_delete(runner: CliRunner, api: FakeApi, db: str) -> None:
    first = save(runner, db)
    assert f"saved cluster dev to {db}: " in first.stderr
    opened = int(first.stderr.split(": ")[-1].split(" opened")[0])
    assert opened >= 1 and "0 resolved, 0 reopened" in first.stderr

    shown = runner.invoke(app, ["findings", "--db", db, "-o", "json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["schema"] == "kposture.findings/v1" and doc["store"] == db
    [finding] = privileged(doc)
    assert finding["cluster"] == "dev" and finding["status"] == "open"
    assert finding["resource"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": "shop",
        "name": "web",
    }
    assert finding["path"] == "spec.containers[0].securityContext.privileged"
    assert finding["changed_by"] == "kubectl-client-side-apply"  # not the status update after it
    assert finding["domain"] == "workload-privileges" and finding["severity"] == "critical"
    assert finding["title"] and finding["suppressed_by"] is None
    assert finding["first_seen"] == finding["last_seen"] and finding["first_seen"].endswith("Z")

    again = save(runner, db)
    assert "0 opened, 0 resolved, 0 reopened" in again.stderr

    api.objects["pods"] = [pod("web", privileged=False, manager="kubectl-edit")]
    fixed = save(runner, db)
    assert "0 opened, 1 resolved, 0 reopened" in fixed.stderr
    api.objects["pods"] = [pod("web", privileged=True, manager="helm")]
    assert "0 opened, 0 resolved, 1 reopened" in save(runner, db).stderr
    api.objects["pods"] = []
    gone = save(runner, db)
    assert gone.stderr.split(": ")[-1].startswith("0 opened, ")
    assert ", 0 resolved" not in gone.stderr

    timeline = runner.invoke(
        app,
        [
            "history",
            "--db",
            db,
            "--resource",
            "Pod/shop/web",
            "--rule",
            "privileged-*",
            "-o",
            "json",
        ],
    )
    assert timeline.exit_code == 0, timeline.output
    doc = json.loads(timeline.stdout)
    assert doc["schema"] == "kposture.history/v1"
    assert [(t["change"], t["changed_by"], t["reason"]) for t in doc["transitions"]] == [
        ("resolved", "", "deleted"),
        ("reopened", "helm", ""),
        ("resolved", "kubectl-edit", "fixed"),
        ("opened", "kubectl-client-side-apply", ""),
    ]
    assert [(t["from"], t["to"]) for t in doc["transitions"]][-1] == (None, "open")
    assert {t["source"] for t in doc["transitions"]} == {"cluster"}
    assert doc["transitions"][0]["resource"]["name"] == "web"

    table = runner.invoke(
        app, ["history", "--db", db, "--resource", "pod/web"], env={"COLUMNS": "220"}
    )
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "CHANGE" in line)
    for column in ("TIME", "CHANGE", "RESOURCE", "RULE", "SEVERITY", "CHANGED BY", "REASON"):
        assert column in header
    rows = [line for line in table.stdout.splitlines() if "privileged-container" in line]
    assert [row.split()[1] for row in rows] == ["resolved", "reopened", "resolved", "opened"]
    assert "deleted" in rows[0] and "kubectl-edit" in rows[2] and "Pod/shop/web" in rows[3]


def test_cluster_name_and_cluster_filter(runner: CliRunner, api: FakeApi, db: str) -> None:
    save(runner, db, "--cluster-name", "prod-eu")
    assert runner.invoke(app, ["findings", "--db", db, "--cluster", "dev"]).stdout == ""
    doc = json.loads(
        runner.invoke(app, ["findings", "--db", db, "--cluster", "prod-eu", "-o", "json"]).stdout
    )
    assert {f["cluster"] for f in doc["findings"]} == {"prod-eu"}


def test_findings_table_and_filters(runner: CliRunner, api: FakeApi, db: str) -> None:
    api.add(pod("batch", privileged=True, manager="argocd-controller", namespace="jobs"))
    save(runner, db)
    table = runner.invoke(
        app, ["findings", "--db", db, "--severity", "critical"], env={"COLUMNS": "220"}
    )
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "SEVERITY" in line)
    for column in ("SEVERITY", "RULE", "RESOURCE", "SINCE", "CHANGED BY", "MESSAGE"):
        assert column in header
    rows = [line for line in table.stdout.splitlines() if "privileged-container" in line]
    assert len(rows) == 2 and all(row.split()[0] == "critical" for row in rows)
    assert any("Pod/jobs/batch" in row and "argocd-controller" in row for row in rows)

    def listed(*args: str) -> set[tuple[str, str, str]]:
        done = runner.invoke(app, ["findings", "--db", db, "-o", "json", *args])
        assert done.exit_code == 0, done.output
        return {
            (f["rule_id"], f["resource"]["namespace"], f["domain"])
            for f in json.loads(done.stdout)["findings"]
        }

    everything = listed()
    assert {domain for _, _, domain in everything} >= {"workload-privileges", "east-west-traffic"}
    in_jobs = {item for item in everything if item[1] == "jobs"}
    namespace_itself = ("namespace-without-network-policy", "", "east-west-traffic")
    assert listed("-n", "jobs") == in_jobs | {namespace_itself}
    assert {rule for rule, _, _ in listed("--rule", "privileged-*")} == {"privileged-container"}
    for domain in ("workload-privileges", "east-west-traffic", "secrets"):
        expected = {item for item in everything if item[2] == domain}
        assert listed("--domain", domain) == expected
    assert listed("--kind", "deployment") == set()
    assert listed("--kind", "pod") | listed("--kind", "Namespace") == everything
    assert {rule for rule, _, _ in listed("--kind", "namespace")} == {
        "namespace-without-network-policy"
    }


def test_unlisted_kinds_keep_their_findings(runner: CliRunner, api: FakeApi, db: str) -> None:
    save(runner, db)

    def pod_changes() -> list[str]:
        done = runner.invoke(app, ["history", "--db", db, "--resource", "Pod", "-o", "json"])
        return [t["change"] for t in json.loads(done.stdout)["transitions"]]

    opened = pod_changes()
    assert opened and set(opened) == {"opened"}
    api.statuses["pods"] = 403  # Pods cannot be listed: their findings are not judged fixed
    save(runner, db)
    assert pod_changes() == opened
    del api.statuses["pods"]
    api.objects["pods"] = []
    save(runner, db)
    assert pod_changes().count("resolved") == len(opened)


def test_save_needs_a_cluster(runner: CliRunner, db: str, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(json.dumps(pod("web", privileged=True, manager="x")))
    done = runner.invoke(app, ["scan", str(manifest), "--save", "--db", db])
    assert done.exit_code == 2 and "--save records a live cluster's findings" in done.stderr
    done = runner.invoke(app, ["scan", "--cluster", "--cluster-name", "x"])
    assert done.exit_code == 2 and "--cluster-name needs --save" in done.stderr
    assert not (tmp_path / "kposture.db").exists()


def test_read_commands_on_a_missing_or_empty_store(
    runner: CliRunner, db: str, tmp_path: Path
) -> None:
    for verb in ("findings", "history"):
        done = runner.invoke(app, [verb, "--db", db])
        assert done.exit_code == 2 and "no store at" in done.stderr
    assert not (tmp_path / "kposture.db").exists()
    runner.invoke(app, ["admission", "log", "--db", db])  # still absent: nothing created
    from kposture.store.connecting import open_store

    open_store(db).close()
    done = runner.invoke(app, ["findings", "--db", db])
    assert done.exit_code == 0 and "no open findings match" in done.stderr
    done = runner.invoke(app, ["history", "--db", db, "-o", "json"], env={"KPOSTURE_DB": db})
    assert json.loads(done.stdout)["transitions"] == []
    done = runner.invoke(app, ["history"], env={"KPOSTURE_DB": db})
    assert done.exit_code == 0 and "no finding changes match" in done.stderr


def test_history_usage_errors(runner: CliRunner, db: str) -> None:
    done = runner.invoke(app, ["history", "--db", db, "--since", "yesterday"])
    assert done.exit_code == 2 and "--since 'yesterday'" in done.stderr
    done = runner.invoke(app, ["history", "--db", db, "--resource", "Pod//web"])
    assert done.exit_code == 2 and "KIND/NAMESPACE/NAME" in done.stderr


def test_parse_resource() -> None:
    assert parse_resource("Deployment/shop/web") == ("Deployment", "shop", "web")
    assert parse_resource("ClusterRoleBinding/ops") == ("ClusterRoleBinding", None, "ops")
    assert parse_resource("Pod") == ("Pod", None, None)
    for bad in ("", "a/b/c/d", "/x", "Pod/"):
        with pytest.raises(UsageError):
            parse_resource(bad)


def _json_of(runner: CliRunner, *args: str) -> Any:
    done = runner.invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_namespace_filter_includes_the_namespace_object(
    runner: CliRunner, api: FakeApi, db: str
) -> None:
    api.add(pod("batch", privileged=True, manager="helm", namespace="jobs"))
    save(runner, db)
    found = _json_of(runner, "findings", "--db", db, "-n", "jobs", "-o", "json")["findings"]
    resources = {(f["resource"]["kind"], f["resource"]["name"]) for f in found}
    assert resources == {("Pod", "batch"), ("Namespace", "jobs")}
    changes = _json_of(runner, "history", "--db", db, "-n", "jobs", "-o", "json")["transitions"]
    assert {(t["resource"]["kind"], t["resource"]["name"]) for t in changes} == resources
    clash = runner.invoke(app, ["history", "--db", db, "-n", "jobs", "--resource", "Pod/shop/web"])
    assert clash.exit_code == 2 and "name different namespaces" in clash.stderr


@pytest.mark.parametrize("kind", ["pod", "po", "PODS", "Pod"])
def test_kind_takes_kubectl_names(runner: CliRunner, api: FakeApi, db: str, kind: str) -> None:
    save(runner, db)
    found = _json_of(runner, "findings", "--db", db, "--kind", kind, "-o", "json")["findings"]
    assert found and {f["resource"]["kind"] for f in found} == {"Pod"}
    changes = _json_of(
        runner, "history", "--db", db, "--resource", f"{kind}/shop/web", "-o", "json"
    )
    assert changes["transitions"] and {t["resource"]["name"] for t in changes["transitions"]} == {
        "web"
    }
    namespaces = _json_of(runner, "findings", "--db", db, "--kind", "ns", "-o", "json")
    assert {f["resource"]["kind"] for f in namespaces["findings"]} == {"Namespace"}


@pytest.mark.parametrize("verb", ["findings", "history"])
def test_filters_that_cannot_match_say_why(
    runner: CliRunner, api: FakeApi, db: str, verb: str
) -> None:
    save(runner, db, "--cluster-name", "prod-eu")

    def refused(*args: str) -> str:
        done = runner.invoke(app, [verb, "--db", db, *args])
        assert done.exit_code == 2 and done.stdout == "", done.output
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        return done.stderr

    assert "unknown rule 'privileged-containr'; did you mean privileged-container?" in refused(
        "--rule", "privileged-containr"
    )
    assert "unknown rule 'nosuchrule'" in refused("--rule", "nosuchrule")
    assert "rule pattern 'nosuch-*' matches no rule" in refused("--rule", "nosuch-*")
    assert "no cluster 'nope' in the store at" in refused("--cluster", "nope")
    assert "it holds prod-eu" in refused("--cluster", "nope")
    option = ["--kind"] if verb == "findings" else ["--resource"]
    assert "unknown kind 'Deploymnet' (did you mean Deployment?)" in refused(*option, "Deploymnet")
    # A known rule or kind with nothing open is no error.
    done = runner.invoke(app, [verb, "--db", db, "--rule", "host-pid", *option, "deploy"])
    assert done.exit_code == 0 and "match in" in done.stderr


def test_history_says_what_its_limit_leaves_out(runner: CliRunner, api: FakeApi, db: str) -> None:
    save(runner, db)
    total = len(_json_of(runner, "history", "--db", db, "-o", "json")["transitions"])
    assert total > 2
    for output in ("table", "json"):
        done = runner.invoke(app, ["history", "--db", db, "--limit", "2", "-o", output])
        assert done.exit_code == 0, done.output
        assert f"showing the newest 2 of {total} changes; use --limit {total}" in done.stderr
    done = runner.invoke(app, ["history", "--db", db, "--limit", str(total)])
    assert "showing the newest" not in done.stderr


def test_history_times_carry_milliseconds(runner: CliRunner, api: FakeApi, db: str) -> None:
    save(runner, db)
    changes = _json_of(runner, "history", "--db", db, "-o", "json")["transitions"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["time"]) for t in changes)
    found = _json_of(runner, "findings", "--db", db, "-o", "json")["findings"]
    assert all(f["first_seen"].endswith("Z") and "." in f["first_seen"] for f in found)
    table = runner.invoke(app, ["history", "--db", db], env={"COLUMNS": "220"}).stdout
    assert changes[0]["time"] in table


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://relative.db", "write sqlite:///relative.db for a path relative"),
        ("sqlite://", "no store: sqlite:// is an in-memory database"),
        ("sqlite:///:memory:", "no store: sqlite:///:memory: is an in-memory database"),
    ],
)
def test_store_urls_that_name_no_store(
    runner: CliRunner, url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["findings"], ["history"], ["scan", "--cluster", "--save"]):
        done = runner.invoke(app, [*args, "--db", url])
        assert done.exit_code == 2, done.output
        assert says in done.stderr and done.stderr.count("\n") == 1
        assert "Traceback" not in done.output
    assert list(tmp_path.iterdir()) == []


def test_scan_save_creates_no_store_for_a_cluster_it_cannot_read(
    runner: CliRunner, tmp_path: Path
) -> None:
    store = tmp_path / "x" / "kposture.db"
    done = runner.invoke(
        app,
        ["scan", "--cluster", "--kubeconfig", str(tmp_path / "none"), "--save", "--db", str(store)],
    )
    assert done.exit_code == 2, done.output
    assert not store.parent.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["findings", "--severity", "urgent"],
            "error: --severity 'urgent': give one of info, low, medium, high, critical",
        ),
        (["findings", "--severity", "critcal"], "--severity 'critcal' (did you mean critical?)"),
        (["findings", "--domain", "nope"], "error: --domain 'nope': give one of "),
        (["findings", "--domain", "rback"], "--domain 'rback' (did you mean rbac?)"),
        (["history", "--limit", "0"], "error: --limit 0: give a number of changes from 1 to "),
        (["history", "--limit", "1000001"], "error: --limit 1000001: give a number"),
    ],
)
def test_bad_severity_domain_or_limit_is_a_one_line_error(
    runner: CliRunner, db: str, args: list[str], message: str
) -> None:
    done = runner.invoke(app, [*args, "--db", db])
    assert done.exit_code == 2 and done.stdout == "", done.output
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Usage:" not in done.stderr and "Value error" not in done.stderr


def test_severity_and_domain_take_any_case(runner: CliRunner, api: FakeApi, db: str) -> None:
    save(runner, db)
    found = _json_of(
        runner,
        "findings",
        "--db",
        db,
        "--severity",
        "CRITICAL",
        "--domain",
        "Workload-Privileges",
        "-o",
        "json",
    )["findings"]
    assert found and {f["severity"] for f in found} == {"critical"}
