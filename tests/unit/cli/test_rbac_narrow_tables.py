"""The ``rbac`` tables in an 80- or 100-column terminal and piped: names wrap at spaces and
separators, never mid-word while the words fit; wrapped path hops stay indented under their hop;
no line ends in a blank."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kposture.cli.app import app
from kposture.cli.plain_tables import column_widths, render_table, wrap_cell
from kposture.cli.rbac_output import stream_json
from kposture.cli.rbac_workloads_commands import COLUMNS
from kposture.cli.rbac_workloads_commands import column_widths as workloads_column_widths

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures" / "rbac-escalation-path"


def _lines(runner: CliRunner, columns: int | None, *args: str) -> list[str]:
    env = {"COLUMNS": str(columns)} if columns else {}
    result = runner.invoke(app, ["rbac", *args], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines
    assert [line for line in lines if line != line.rstrip()] == []
    if columns:
        assert [line for line in lines if len(line) > columns] == []
    return lines


def _words(lines: list[str]) -> set[str]:
    return {word for line in lines for word in line.split()}


@pytest.mark.parametrize("columns", [80, 100, None])
def test_risky_wraps_names_whole(runner: CliRunner, corpus: Path, columns: int | None) -> None:
    words = _words(_lines(runner, columns, "risky", str(corpus / "goat")))
    for name in ("default/default", "ClusterRoleBinding", "big-monolith", "capability"):
        assert name in words
    # a name longer than its column folds after a separator, never inside a word
    assert "kube-system/superadmin" in words or {"kube-system/", "superadmin"} <= words
    assert not any(word in words for word in ("ing", "eradmin", "et-reader"))


@pytest.mark.parametrize("columns", [80, 100])
def test_can_wraps_names_whole(runner: CliRunner, corpus: Path, columns: int) -> None:
    lines = _lines(runner, columns, "can", "alice", str(corpus / "rbac"))
    words = _words(lines)
    assert {"ClusterRoleBinding", "system:basic-user", "rules[0]"} <= words


@pytest.mark.parametrize("columns", [80, 100])
def test_paths_hops_read_as_blocks(runner: CliRunner, columns: int) -> None:
    lines = _lines(
        runner,
        columns,
        "paths",
        str(FIXTURES / "fail-deployer-reaches-cluster-admin.yaml"),
        str(FIXTURES / "fail-token-secret-reader.yaml"),
    )
    body = [line for line in lines if line and not line.endswith("escalation paths.")]
    for line in body:
        # a path's heading, one of its hops, or a hop's wrapped continuation under its text
        assert line[:3] in ("1. ", "2. ") or line.startswith(("   - ", "     ")), line
    assert any(line.startswith("     ") and line.strip() for line in body)


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_workloads_table_and_blocks_end_lines_without_blanks(
    runner: CliRunner, corpus: Path, columns: int
) -> None:
    lines = _lines(runner, columns, "workloads", str(corpus / "goat"))
    assert any("internal-proxy-deployment" in line for line in lines)


def test_columns_get_their_longest_word_before_any_folds() -> None:
    headers = ("A", "B")
    rows = [("big-monolith/secret-reader-binding and more text here", "get/list/watch on x")]
    assert column_widths(headers, rows, 200) == [53, 19]
    widths = column_widths(headers, rows, 60)
    assert widths[0] >= len("big-monolith/secret-reader-binding")
    assert widths[1] >= len("get/list/watch")
    # too narrow for both words: the longer one folds, the shorter stays whole
    narrow = column_widths(headers, rows, 40)
    assert sum(narrow) + 5 <= 40
    assert narrow[0] < len("big-monolith/secret-reader-binding") and narrow[1] >= len(
        "get/list/watch"
    )
    assert wrap_cell("big-monolith/secret-reader-binding", 13) == [
        "big-monolith/",
        "secret-",
        "reader-",
        "binding",
    ]


def test_plain_table_has_no_trailing_blanks() -> None:
    text = render_table(("NAME", "NOTE"), [("a", ""), ("b", "x y")], 80)
    assert text.splitlines() == [" NAME   NOTE", "─" * 13, " a", " b      x y"]


def test_json_streamed_as_json_dumps_writes_it_whole() -> None:
    holders = [{"a": [1, {"b": "é\nx"}], "c": {}}, {"d": []}]
    doc = {"s": "v", "e": [], "caps": [{"h": iter(holders), "n": None}, {"h": iter([])}]}
    chunks: list[str] = []
    stream_json(doc, chunks.append)
    whole = {"s": "v", "e": [], "caps": [{"h": holders, "n": None}, {"h": []}]}
    assert "".join(chunks) == json.dumps(whole, indent=2, ensure_ascii=False) + "\n"
    assert len(chunks) > 10  # written in pieces, never as one string


def test_risky_dot_labels_stay_short(runner: CliRunner, corpus: Path) -> None:
    result = runner.invoke(app, ["rbac", "risky", str(corpus / "goat"), "-o", "dot"])
    assert result.exit_code == 0, result.output
    edges = [line for line in result.stdout.splitlines() if '-> "capability:' in line]
    assert edges
    for edge in edges:
        label = edge.split('[label="', 1)[1].rsplit('"]', 1)[0]
        lines = label.split("\\n")
        assert len(lines) <= 5, edge  # three lines, the cut, "(Kubernetes default)"
        assert all(len(line.replace('\\"', '"')) <= 40 for line in lines), edge
    assert any("… (-o json: in full)" in edge for edge in edges)


def _readers(workdir: Path, count: int) -> str:
    role = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"
        'rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]\n'
    )
    bindings = "".join(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        f"metadata: {{name: read-{n}}}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\n"
        f"subjects: [{{kind: User, name: user-{n}, apiGroup: rbac.authorization.k8s.io}}]\n"
        for n in range(count)
    )
    (workdir / "rbac.yaml").write_text(role + bindings)
    return "rbac.yaml"


def test_risky_table_lists_the_first_rows_and_says_how_to_see_all(
    runner: CliRunner, workdir: Path
) -> None:
    path = _readers(workdir, 30)
    args = ("risky", path, "--capability", "read-secrets")
    default = "\n".join(_lines(runner, None, *args))
    assert default.count("User user-") == 25
    assert "… 5 more rows not shown: --all lists every row, --limit N the first N" in default
    limited = "\n".join(_lines(runner, None, *args, "--limit", "2"))
    assert limited.count("User user-") == 2 and "28 more rows not shown" in limited
    everything = "\n".join(_lines(runner, None, *args, "--all"))
    assert everything.count("User user-") == 30 and "not shown" not in everything
    doc = json.loads("\n".join(_lines(runner, None, *args, "-o", "json")))
    assert len(doc["capabilities"][0]["holders"]) == 30


DOT_VIEWS = [
    ["who-can", "get", "secrets", "-A"],
    ["can", "system:serviceaccount:kube-system:default"],
    ["paths", str(FIXTURES)],
    ["risky"],
    ["workloads"],
]


@pytest.mark.parametrize("view", DOT_VIEWS, ids=lambda v: v[0])
def test_every_rbac_dot_label_is_wrapped_alike(
    runner: CliRunner, corpus: Path, view: list[str]
) -> None:
    given = view if view[0] == "paths" else [*view, str(corpus / "goat")]
    result = runner.invoke(app, ["rbac", *given, "-o", "dot"])
    assert result.exit_code == 0, result.output
    labels = re.findall(r'label="((?:[^"\\]|\\.)*)"', result.stdout)
    assert labels
    for label in labels:
        lines = label.split("\\n")
        assert len(lines) <= 5, label  # three lines, the cut, a note
        assert all(len(line.replace('\\"', '"')) <= 40 for line in lines), label


def test_a_column_that_can_hold_its_longest_line_does_not_wrap() -> None:
    # who-can at 200 columns: the subject and binding fit whole, the built-in rule text wraps
    subject = "system:kube-controller-manager (Kubernetes default)"
    via = "ClusterRoleBinding system:controller:generic-garbage-collector → ClusterRole x"
    rule = "built-in cluster-admin: " + " ".join(["verbs [get list watch]"] * 8)
    headers = ("KIND", "SUBJECT", "VIA", "SCOPE", "RULE")
    rows = [
        ("User", subject, via, "cluster", rule),
        ("Group", "ops", "RoleBinding a → Role a", "", ""),
    ]
    widths = column_widths(headers, rows, 200)
    assert widths[:4] == [len("Group"), len(subject), len(via), len("cluster")]
    assert sum(widths) + 3 * len(widths) - 1 <= 200


def test_workloads_keep_the_workload_name_whole_and_wrap_capabilities() -> None:
    workload = "Deployment payments/payments-api-deployment"
    capabilities = " ".join(["read-secrets (high) cluster-wide via ClusterRoleBinding x"] * 3)
    row = (workload, "payments-api", "mounted", capabilities, "Service payments ClusterIP", "15")
    widths = workloads_column_widths([row], COLUMNS, 160)
    assert widths[0] == len(workload)
    assert widths[3] < len(capabilities)


def test_risky_sections_share_their_column_widths(runner: CliRunner, corpus: Path) -> None:
    result = runner.invoke(app, ["rbac", "risky", str(corpus / "goat")], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    headers = {line for line in result.stdout.splitlines() if line.startswith(" SUBJECT ")}
    assert len(headers) == 1, headers
