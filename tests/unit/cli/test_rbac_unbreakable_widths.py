"""When not every word of an ``rbac`` table fits an 80-column terminal, the words with no place to
fold (a kind, an id, a bracketed list item) keep their whole length, and the names that can fold
after ``/``, ``:`` or ``-`` give way first (issue 5, fifth review)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from kposture.cli.app import app
from kposture.cli.plain_tables import column_widths, render_table

WHO_CAN_HEADERS = ("KIND", "SUBJECT", "VIA", "SCOPE", "RULE")


def _who_can_row(kind: str, subject: str, name: str) -> tuple[str, str, str, str, str]:
    via = f"ClusterRoleBinding {name} → ClusterRole {name}"
    return (kind, subject, via, "cluster", f"ClusterRole {name} rules[0]")


def _output(runner: CliRunner, *args: str) -> list[str]:
    result = runner.invoke(app, ["rbac", *args], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if cell_len(line) > 80] == []
    return lines


def _words(lines: list[str]) -> set[str]:
    return {word for line in lines for word in line.split()}


def _cut_kinds(words: set[str]) -> set[str]:
    """The words that are a piece of ``ClusterRoleBinding`` cut mid-way."""
    whole = "ClusterRoleBinding"
    kinds = {whole, "ClusterRole", "RoleBinding"}
    return {w for w in words if (whole.startswith(w) or whole.endswith(w))} - kinds


def test_a_kind_keeps_its_length_while_names_fold_after_their_separators() -> None:
    name = "system:controller:clusterrole-aggregation-controller"
    rows = [
        _who_can_row("ServiceAccount", "kube-system/clusterrole-aggregation-controller", name),
        _who_can_row("Group", "system:masters (Kubernetes default)", "cluster-admin"),
    ]
    widths = column_widths(WHO_CAN_HEADERS, rows, 80)
    assert sum(widths) + 3 * len(widths) - 1 <= 80
    assert widths[0] == len("ServiceAccount")
    assert widths[2] >= len("ClusterRoleBinding")
    assert widths[3] == len("cluster")
    # the names give way, the widest pieces between their separators shared out evenly
    assert min(widths[1], widths[4]) >= len("clusterrole-")
    words = _words(render_table(WHO_CAN_HEADERS, rows, 80).splitlines())
    assert "ClusterRoleBinding" in words and not _cut_kinds(words)


def test_a_bracketed_item_without_a_separator_stays_whole() -> None:
    headers = ("SCOPE", "VIA", "RULE", "ORIGIN")
    rule = (
        "verbs [create] on [selfsubjectaccessreviews selfsubjectrulesreviews] in apiGroups "
        "[authorization.k8s.io]"
    )
    via = "ClusterRoleBinding system:basic-user → ClusterRole system:basic-user (as Group "
    rows = [
        (
            "cluster",
            via + "system:authenticated)",
            rule,
            "ClusterRole system:basic-user rules[0]",
        )
    ]
    lines = render_table(headers, rows, 80).splitlines()
    words = _words(lines)
    assert {"[selfsubjectaccessreviews", "[authorization.k8s.io]"} <= words
    assert "]" not in words


def test_an_empty_column_takes_only_its_header_s_width() -> None:
    headers = ("CAPABILITY", "SEVERITY", "SCOPE", "VIA", "GRANTS", "NOTE")
    via = "ClusterRoleBinding system:kube-controller-manager → ClusterRole system:kube-controller"
    grants = 'verbs [get] on secrets in apiGroup ""; also verbs [list watch] on * in apiGroup "*"'
    rows = [("read-secrets", "high", "cluster", via, grants, "")]
    widths = column_widths(headers, rows, 80)
    assert widths[5] == len("NOTE")
    assert widths[3] >= len("ClusterRoleBinding")


def test_a_wide_unbreakable_word_leaves_the_names_what_is_left() -> None:
    headers = ("KIND", "NAME", "OTHER")
    rows = [("K" * 30, "abcdefghij-" * 3, "klmnopqrst-" * 3)]
    widths = column_widths(headers, rows, 50)
    assert sum(widths) + 3 * len(widths) - 1 <= 50
    assert widths[0] == 30
    assert widths[1:] == [6, 6]


def test_only_words_wider_than_the_room_fold_mid_way() -> None:
    headers = ("A", "B")
    rows = [("x" * 50, "y" * 50)]
    widths = column_widths(headers, rows, 40)
    assert sum(widths) + 3 * len(widths) - 1 <= 40
    assert abs(widths[0] - widths[1]) <= 1


@pytest.fixture
def bootstrap(corpus: Path) -> str:
    return str(corpus / "rbac" / "kubernetes-bootstrap")


@pytest.mark.parametrize("resource", ["secrets", "nodes/proxy"])
def test_who_can_on_the_corpus_keeps_the_binding_kind_whole(
    runner: CliRunner, corpus: Path, bootstrap: str, resource: str
) -> None:
    lines = _output(runner, "who-can", "get", resource, "-A", str(corpus / "goat"), bootstrap)
    words = _words(lines)
    assert {"ClusterRoleBinding", "ServiceAccount"} <= words
    assert not _cut_kinds(words)


def test_risky_with_defaults_on_the_corpus_keeps_the_binding_kind_whole(
    runner: CliRunner, bootstrap: str
) -> None:
    words = _words(_output(runner, "risky", "--include-defaults", bootstrap))
    assert "ClusterRoleBinding" in words
    assert not _cut_kinds(words)


def test_can_on_the_corpus_keeps_kinds_and_resources_whole(
    runner: CliRunner, bootstrap: str
) -> None:
    subject = "system:serviceaccount:kube-system:namespace-controller"
    words = _words(_output(runner, "can", subject, bootstrap))
    assert {"ClusterRoleBinding", "[selfsubjectaccessreviews", "[authorization.k8s.io]"} <= words
    assert not _cut_kinds(words)
    assert "]" not in words


def test_can_with_capabilities_keeps_the_binding_kind_whole(
    runner: CliRunner, bootstrap: str
) -> None:
    words = _words(_output(runner, "can", "system:kube-controller-manager", bootstrap))
    assert {"ClusterRoleBinding", "high", "Kubernetes"} <= words
    assert not _cut_kinds(words)
