"""``kposture admission what-if``: the demo app and the corpus replayed through the admission
policy, per namespace, with the documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kposture.cli.app import app

DEMO = Path(__file__).resolve().parents[3] / "src" / "kposture" / "demo" / "app"


def what_if(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["admission", "what-if", *args])
    return result.exit_code, result.stdout


def test_demo_app_warns_by_default(runner: CliRunner) -> None:
    code, out = what_if(runner, str(DEMO), "-o", "json")
    assert code == 0
    report = json.loads(out)
    assert report["schema"] == "kposture.admission-what-if/v1"
    assert report["summary"]["by_outcome"]["warned"] > 0
    assert report["summary"]["by_outcome"]["denied"] == 0
    namespaces = {ns["namespace"]: ns for ns in report["namespaces"]}
    assert {"shop", "monitoring", "(cluster)"} <= namespaces.keys()
    objects = {o["resource"]["name"]: o for o in namespaces["monitoring"]["objects"]}
    agent = objects["node-agent"]
    assert agent["outcome"] == "warned"
    assert agent["location"]["file"].endswith("node-agent.yaml")
    assert {"privileged-container", "host-pid"} <= {v["rule_id"] for v in agent["violations"]}


def test_demo_app_enforced_exits_1_and_lists_denials(runner: CliRunner, workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(
        "admission:\n  mode: dry-run\n  rules:\n    privileged-container: enforce\n"
        "  exemptions:\n    - namespaces: [shop]\n      reason: shop migrates in Q3\n"
    )
    code, out = what_if(runner, str(DEMO), "--policy", "policy.yaml")
    assert code == 1
    assert "monitoring: 1 denied now" in out
    assert "DENIED      DaemonSet/monitoring/node-agent" in out
    assert "enforce  [privileged-container] container 'agent' runs privileged" in out
    assert "EXEMPT      Deployment/shop/storefront" in out
    assert "shop migrates in Q3" in out


def test_as_enforced_turns_dry_run_into_denials(runner: CliRunner, workdir: Path) -> None:
    (workdir / "policy.yaml").write_text("admission:\n  mode: dry-run\n")
    code, out = what_if(runner, str(DEMO), "--policy", "policy.yaml", "-o", "json")
    assert code == 0
    assert json.loads(out)["summary"]["by_outcome"]["dry-run"] > 0
    code, out = what_if(runner, str(DEMO), "--policy", "policy.yaml", "--as-enforced", "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert report["as_enforced"] is True
    assert report["summary"]["by_outcome"]["dry-run"] == 0
    assert report["summary"]["by_outcome"]["denied"] > 0


def test_user_exemption_with_as(runner: CliRunner, workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(
        "admission:\n  mode: enforce\n  exemptions:\n"
        "    - {groups: [sre-oncall], reason: break-glass}\n"
    )
    assert what_if(runner, "pod.yaml", "--policy", "policy.yaml")[0] == 1
    code, out = what_if(
        runner, "pod.yaml", "--policy", "policy.yaml", "--as", "bob", "--as-group", "sre-oncall"
    )
    assert code == 0
    assert "EXEMPT      Pod/shop/web" in out


def test_bad_policy_exits_2_with_file_and_line(runner: CliRunner, workdir: Path) -> None:
    (workdir / "policy.yaml").write_text("admission:\n  rules:\n    no-such-rule: enforce\n")
    result = runner.invoke(app, ["admission", "what-if", "pod.yaml", "--policy", "policy.yaml"])
    assert result.exit_code == 2
    assert "policy.yaml:3: unknown rule id 'no-such-rule'" in result.stderr


def test_owner_covered_pods_are_not_replayed(runner: CliRunner, workdir: Path) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "d1"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "r1",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "d1",
                    "controller": True,
                }
            ],
        },
        "spec": deployment["spec"],
    }
    (workdir / "list.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [deployment, replica_set]})
    )
    _code, out = what_if(runner, "list.json", "-o", "json")
    report = json.loads(out)
    assert report["summary"]["replayed"] == 1
    assert report["summary"]["covered_by_owner"] == 1


def test_corpus_goat_replays_every_namespace(runner: CliRunner, corpus: Path) -> None:
    code, out = what_if(runner, str(corpus / "goat"), "--as-enforced", "-o", "json")
    report = json.loads(out)
    assert code == 1
    assert report["summary"]["replayed"] > 20
    assert report["summary"]["by_outcome"]["denied"] > 0
    exempt = [o for ns in report["namespaces"] for o in ns["objects"] if o["outcome"] == "exempt"]
    assert all(o["resource"]["namespace"] in {"kube-system", "kposture"} for o in exempt)
