"""``kposture rbac can|risky|workloads`` and ``-o table|json|yaml|dot`` for every rbac command, on the
bundled demo app and the corpus (Kubernetes' bootstrap RBAC, kubernetes-goat)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import kposture.demo
from kposture.cli.app import app
from kposture.cli.rbac_output import DotGraph, dot_quote
from kposture.cli.rbac_workloads_commands import COLUMNS, column_widths

DEMO = str(Path(kposture.demo.__file__).parent / "app")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_NODE = re.compile(rf"^  {_QUOTED} \[(?:\w+={_QUOTED}(?:, )?)+\];$")
_EDGE = re.compile(rf"^  ({_QUOTED}) -> ({_QUOTED})(?: \[label={_QUOTED}\])?;$")
_DECLARED = re.compile(rf"^  ({_QUOTED}) \[")


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, ["rbac", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def check_dot(text: str) -> None:
    """Parses with Graphviz when it is installed; checked line by line either way."""
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[-1] == "}"
    declared = set()
    for line in lines[4:-1]:
        edge = _EDGE.match(line)
        if edge:
            assert edge.group(1) in declared and edge.group(2) in declared, line
            continue
        assert _NODE.match(line), line
        found = _DECLARED.match(line)
        assert found is not None
        declared.add(found.group(1))
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tcanon"], input=text, text=True, check=True, capture_output=True)


def test_dot_quoting_and_deterministic_order() -> None:
    assert dot_quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    graph = DotGraph("g")
    graph.node("x", 'say "hi"')
    graph.node("y", "y")
    graph.edge("x", "y", "l")
    graph.edge("x", "y", "l")
    assert graph.render().count("->") == 1
    check_dot(graph.render())


@pytest.mark.parametrize(
    "args",
    [
        ("who-can", "get", "secrets", "-n", "shop"),
        ("can", "sa:shop/orders-api"),
        ("risky",),
        ("workloads",),
    ],
)
def test_every_format_on_the_demo_app(runner: CliRunner, args: tuple[str, ...]) -> None:
    table = _run(runner, *args, DEMO)
    assert "orders-api" in table
    doc = json.loads(_run(runner, *args, DEMO, "-o", "json"))
    assert doc["schema"].startswith("kposture.") and doc["schema"].endswith("/v1")
    assert yaml.safe_load(_run(runner, *args, DEMO, "-o", "yaml")) == doc
    dot = _run(runner, *args, DEMO, "-o", "dot")
    check_dot(dot)
    assert dot == _run(runner, *args, DEMO, "-o", "dot")


def test_can_groups_by_risk_and_names_the_group_matched(runner: CliRunner) -> None:
    out = _run(runner, "can", "serviceaccount/orders-api", "-n", "shop", DEMO)
    assert out.index("Risky capabilities (2)") < out.index("Permissions (1 rule in force)")
    assert "read-secrets" in out and "exec-pods" in out
    doc = json.loads(
        _run(runner, "can", "system:serviceaccount:ci:ci-deployer", DEMO, "-o", "json")
    )
    assert doc["subject"]["kind"] == "ServiceAccount"
    assert "system:serviceaccounts:ci" in doc["subject"]["groups"]
    assert [c["capability"]["id"] for c in doc["capabilities"]] == ["full-access"]
    assert doc["permissions"][0]["rule"]["builtin"] is True


def test_can_user_with_groups_on_bootstrap_rbac(runner: CliRunner, corpus: Path) -> None:
    rbac = str(corpus / "rbac" / "kubernetes-bootstrap")
    doc = json.loads(_run(runner, "can", "alice", "--group", "system:masters", rbac, "-o", "json"))
    assert doc["subject"]["groups"] == ["system:authenticated", "system:masters"]
    held = doc["capabilities"]
    assert held[0]["capability"]["id"] == "full-access" and held[0]["default"] is True
    assert held[0]["subject"] == {"kind": "Group", "namespace": "", "name": "system:masters"}
    anonymous = json.loads(_run(runner, "can", "system:anonymous", rbac, "-o", "json"))
    assert "system:unauthenticated" in anonymous["subject"]["groups"]
    assert {p["binding"]["name"] for p in anonymous["permissions"]} == {"system:public-info-viewer"}


def test_can_usage_errors(runner: CliRunner) -> None:
    for bad in (["sa:shop"], ["group:"], ["sa:ns/x", "--group", "g"], ["x", "-n", "a", "-A"]):
        assert runner.invoke(app, ["rbac", "can", *bad, DEMO]).exit_code == 2, bad


def test_risky_hides_and_counts_kubernetes_defaults(runner: CliRunner, corpus: Path) -> None:
    rbac = str(corpus / "rbac" / "kubernetes-bootstrap")
    out = _run(runner, "risky", rbac, "--capability", "read-secrets")
    assert "no subject but Kubernetes' own (4 hidden: --include-defaults)" in out
    hidden = json.loads(_run(runner, "risky", rbac, "--capability", "read-secrets", "-o", "json"))
    assert hidden["capabilities"][0]["summary"]["text"] in out
    doc = json.loads(
        _run(
            runner,
            "risky",
            rbac,
            "--capability",
            "read-secrets",
            "--include-defaults",
            "-o",
            "json",
        )
    )
    (section,) = doc["capabilities"]
    assert section["summary"]["subjects"] == 4 and section["summary"]["defaults_hidden"] == 0
    assert all(h["default"] for h in section["holders"])
    assert "Kubernetes default" in _run(runner, "risky", rbac, "--include-defaults")
    assert runner.invoke(app, ["rbac", "risky", rbac, "--capability", "nope"]).exit_code == 2


def test_risky_on_goat_by_namespace(runner: CliRunner, corpus: Path) -> None:
    goat = str(corpus / "goat")
    doc = json.loads(_run(runner, "risky", goat, "--capability", "read-secrets", "-o", "json"))
    summary = doc["capabilities"][0]["summary"]
    assert summary == {
        "subjects": 3,
        "cluster_wide": 2,
        "namespaced": 1,
        "namespaces": ["big-monolith"],
        "full_access": 2,
        "defaults_hidden": 0,
        "text": "3 subjects: 2 cluster-wide, 1 in 1 namespace; 2 through full access",
    }
    limited = json.loads(_run(runner, "risky", goat, "-n", "default", "-o", "json"))
    scopes = {h["scope"] for c in limited["capabilities"] for h in c["holders"]}
    assert scopes == {"cluster"}
    check_dot(_run(runner, "risky", goat, "--capability", "full-access", "-o", "dot"))


def test_workloads_on_goat_rank_exposed_first(runner: CliRunner, corpus: Path) -> None:
    goat = str(corpus / "goat")
    doc = json.loads(_run(runner, "workloads", goat, "-o", "json"))
    first = doc["workloads"][0]
    assert first["workload"]["name"] == "internal-proxy-deployment"
    assert any(e["type"] == "NodePort" and e["external"] for e in first["exposure"])
    assert [c["capability"]["id"] for c in first["capabilities"]] == ["full-access"]
    scores = [w["score"] for w in doc["workloads"]]
    assert scores == sorted(scores, reverse=True)
    check_dot(_run(runner, "workloads", goat, "-o", "dot"))
    only = json.loads(_run(runner, "workloads", goat, "-n", "big-monolith", "-o", "json"))
    assert [w["service_account"]["name"] for w in only["workloads"]] == ["big-monolith-sa"]


def test_workloads_unmounted_token_ranked_lower_and_said(runner: CliRunner, workdir: Path) -> None:
    (workdir / "app.yaml").write_text(
        Path(DEMO, "rbac.yaml").read_text()
        + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n"
        "  serviceAccountName: orders-api\n  automountServiceAccountToken: false\n"
        "  containers: [{name: c, image: x}]\n"
    )
    out = _run(runner, "workloads", "app.yaml")
    assert "not mounted (ranked lower)" in out


def test_who_can_yaml_and_dot(runner: CliRunner, corpus: Path) -> None:
    rbac = str(corpus / "rbac" / "kubernetes-bootstrap")
    doc = yaml.safe_load(
        _run(
            runner,
            "who-can",
            "create",
            "serviceaccounts/token",
            rbac,
            "-n",
            "kube-system",
            "-o",
            "yaml",
        )
    )
    assert doc["schema"] == "kposture.who-can/v1" and doc["subjects"]
    dot = _run(runner, "who-can", "get", "secrets", "-n", "kube-system", rbac, "-o", "dot")
    check_dot(dot)
    assert "get secrets in kube-system" in dot


def test_risky_table_collapses_full_access_and_words_summaries_as_json(
    runner: CliRunner, corpus: Path
) -> None:
    goat = str(corpus / "goat")
    table = _run(runner, "risky", goat)
    doc = json.loads(_run(runner, "risky", goat, "-o", "json"))
    flat = " ".join(table.split())
    for section in doc["capabilities"]:
        heading = f"{section['id']} ({section['severity']}): {section['title']} — "
        assert heading + section["summary"]["text"] in flat
    collapsed = (
        "through full access (see full-access): 2 subjects: ServiceAccount default/default, "
        "ServiceAccount kube-system/superadmin"
    )
    # One line under each of the ten other capabilities, none of their rows spelled out.
    assert flat.count(collapsed) == len(doc["capabilities"]) - 1
    assert "full access (see full-access)" not in flat.replace(collapsed, "")
    assert flat.count("kube-system/superadmin") == 1 + flat.count(collapsed)


def test_risky_counts_a_subject_once_however_often_it_is_bound(
    runner: CliRunner, workdir: Path
) -> None:
    role = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"
        'rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]\n'
    )
    bindings = "".join(
        f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\n"
        f"metadata: {{name: {name}{namespace}}}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\n"
        "subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]\n"
        for kind, name, namespace in (
            ("ClusterRoleBinding", "one", ""),
            ("ClusterRoleBinding", "two", ""),
            ("RoleBinding", "three", ", namespace: shop"),
        )
    )
    (workdir / "rbac.yaml").write_text(role + bindings)
    doc = json.loads(
        _run(runner, "risky", "rbac.yaml", "--capability", "read-secrets", "-o", "json")
    )
    (section,) = doc["capabilities"]
    assert len(section["holders"]) == 3
    assert section["summary"]["text"] == "1 subject: 1 cluster-wide, 1 in 1 namespace"
    assert (section["summary"]["cluster_wide"], section["summary"]["namespaced"]) == (1, 1)


@pytest.mark.parametrize("columns", [80, 100])
def test_workloads_fit_a_narrow_terminal_without_folding_names(
    runner: CliRunner, corpus: Path, columns: int
) -> None:
    result = runner.invoke(
        app, ["rbac", "workloads", str(corpus / "goat")], env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= columns for line in lines)
    assert "Deployment default/internal-proxy-deployment (score 15)" in lines
    assert any(line.split() == ["Token", "mounted"] for line in lines)
    assert any(
        "Service internal-proxy-info-app-service NodePort (external)" in line for line in lines
    )
    wide = runner.invoke(app, ["rbac", "workloads", str(corpus / "goat")], env={"COLUMNS": "200"})
    assert wide.stdout.split()[:6] == list(COLUMNS)
    assert "Deployment default/internal-proxy-deployment" in wide.stdout


def test_column_widths_never_fold_a_word() -> None:
    rows = [
        (
            "Deployment shop/a-long-name",
            "sa",
            "mounted",
            "x (high) via RoleBinding b",
            "Service s",
            "5",
        )
    ]
    widths = column_widths(rows, COLUMNS, 200)
    assert widths == [27, 14, 7, 26, 9, 5]  # every column its longest line
    narrow = column_widths(rows, COLUMNS, 90)
    assert narrow and sum(narrow) + 3 * len(COLUMNS) - 1 <= 90
    assert all(n >= w for n, w in zip(narrow, [16, 14, 7, 11, 8, 5], strict=True))
    assert column_widths(rows, COLUMNS, 60) == []  # the names would fold: blocks instead
