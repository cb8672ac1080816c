"""How the ``rbac`` tables share a narrow terminal when not every word fits: short words (a
severity, a kind, a namespace, a header) stay whole and the longest names fold first; headers sit
over their columns; a column gets its whole line only once every column holds its words."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from kposture.cli.app import app
from kposture.cli.plain_tables import column_widths, render_table

LONG_USER = "carol.with.a.very.long.name@example.com"

MANIFESTS = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: binder, namespace: shop}}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings, roles]
  verbs: [create, bind, escalate]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: binder, namespace: shop}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: binder}}
subjects: [{{kind: User, name: {LONG_USER}, apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: all-objects}}
rules: [{{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: all-objects}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: all-objects}}
subjects: [{{kind: User, name: {LONG_USER}, apiGroup: rbac.authorization.k8s.io}}]
"""


SECRET_READER = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: read-secrets-for-carol.with.a.very.long.name}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- kind: User
  name: dave.with.an.even.longer.name.than.carol@example.com
  apiGroup: rbac.authorization.k8s.io
"""


def _output(runner: CliRunner, columns: int, *args: str) -> list[str]:
    result = runner.invoke(app, ["rbac", *args], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if cell_len(line) > columns] == []
    return lines


def _words(lines: list[str]) -> set[str]:
    return {word for line in lines for word in line.split()}


def _tables(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Each table's header line and its data lines (up to the next line not indented)."""
    tables = []
    for index, line in enumerate(lines[1:], start=1):
        if line.startswith("─"):
            body = []
            for data in lines[index + 1 :]:
                if not data.startswith(" ") or data.startswith("  "):
                    break
                body.append(data)
            tables.append((lines[index - 1], body))
    assert tables
    return tables


def _assert_headers_over_their_columns(lines: list[str]) -> None:
    for header, body in _tables(lines):
        starts = [i for i in range(2, len(header)) if header[i - 1] == " " != header[i]]
        for data in body:
            # the cell left of a column never runs into where the header says the column starts
            assert all(len(data) < start or data[start - 1] == " " for start in starts), (
                header,
                data,
            )


@pytest.fixture
def manifests(workdir: Path) -> str:
    (workdir / "rbac.yaml").write_text(MANIFESTS)
    return str(workdir / "rbac.yaml")


def test_can_keeps_short_words_whole_beside_a_long_user_name(
    runner: CliRunner, manifests: str
) -> None:
    lines = _output(runner, 80, "can", LONG_USER, manifests)
    words = _words(lines)
    assert {"critical", "high", "cluster", "RoleBinding", "ClusterRole", "SEVERITY"} <= words
    assert not {"critica", "clust", "RoleBindin", "ClusterRol", "al", "er", "ity"} & words
    _assert_headers_over_their_columns(lines)


def test_risky_folds_the_long_name_not_the_short_words(runner: CliRunner, manifests: str) -> None:
    lines = _output(runner, 80, "risky", manifests)
    words = _words(lines)
    assert {"shop", "cluster", "RoleBinding", "ClusterRoleBinding", "capability"} <= words
    assert not {"sho", "p", "RoleBind", "ing", "objec", "ts", "clust", "er"} & words
    _assert_headers_over_their_columns(lines)


def test_risky_with_defaults_keeps_every_section_s_words_whole(
    runner: CliRunner, corpus: Path, manifests: str, workdir: Path
) -> None:
    (workdir / "readers.yaml").write_text(SECRET_READER)
    bootstrap = str(corpus / "rbac" / "kubernetes-bootstrap")
    lines = _output(
        runner, 100, "risky", "--include-defaults", bootstrap, manifests, "readers.yaml"
    )
    words = _words(lines)
    assert {"cluster", "ClusterRoleBinding", "Kubernetes", "default"} <= words
    assert not {"cluste", "ClusterRoleBind", "ing", "Kubernet", "es"} & words
    _assert_headers_over_their_columns(lines)


def test_short_columns_keep_their_words_when_a_name_is_wider_than_the_room() -> None:
    headers = ("CAPABILITY", "SEVERITY", "SCOPE", "VIA", "GRANTS", "NOTE")
    rows = [
        (
            "escalate-bind",
            "critical",
            "cluster",
            "ClusterRoleBinding x → ClusterRole x",
            f'verbs [bind] on roles in apiGroup "{"rbac.authorization.k8s.io" * 2}"',
            "implies every other capability",
        )
    ]
    widths = column_widths(headers, rows, 80)
    assert sum(widths) + 3 * len(widths) - 1 <= 80
    assert widths[1:3] == [len("SEVERITY"), len("cluster")]
    assert widths[5] >= len("capability")
    assert widths[0] >= len("CAPABILITY")


def test_a_header_wider_than_its_column_wraps_inside_it() -> None:
    text = render_table(("SEVERITY", "X"), [("high", "y")], 80, widths=[4, 1])
    assert text.splitlines()[:2] == [" SEVE   X", " RITY"]


def test_words_of_every_column_come_before_a_whole_line() -> None:
    # who-can escalate clusterroles at 160 columns on the bootstrap defaults: not every word fits,
    # so no column gets more than its longest word while another still folds one
    subject = "kube-system/clusterrole-aggregation-controller (Kubernetes default)"
    name = "system:controller:clusterrole-aggregation-controller"
    via = f"ClusterRoleBinding {name} → ClusterRole {name}"
    rule = f"ClusterRole {name} rules[0]"
    headers = ("KIND", "SUBJECT", "VIA", "SCOPE", "RULE")
    rows = [("ServiceAccount", subject, via, "cluster", rule)]
    widths = column_widths(headers, rows, 160)
    words = [max(len(word) for word in cell.split()) for cell in rows[0]]
    assert widths[2] < words[2] or widths[4] < words[4]  # a name folds (after its separators)
    assert min(widths[2], widths[4]) >= len("clusterrole-aggregation-")
    assert all(width <= word for width, word in zip(widths, words, strict=True))  # ... no line
    assert sum(widths) + 3 * len(widths) - 1 == 160
