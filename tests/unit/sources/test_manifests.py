"""load_manifests on files, directories, stdin, Lists, and every kind of bad input."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kposture.inventory import Inventory
from kposture.inventory.objects import IMPLIED_ORIGIN
from kposture.model import InputError, ResourceRef, SourceLocation
from kposture.sources import LoadedManifests, helm, load_manifests, yaml_documents
from kposture.sources.manifests import require_objects
from kposture.sources.yaml_documents import _WINDOW_CHUNK, MAX_BROKEN_DOCUMENTS

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: ns
spec:
  containers:
  - name: app
    image: nginx
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(path: str, text: str | bytes) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    return target


def names(loaded: LoadedManifests) -> list[str]:
    return [obj.ref.name for obj in loaded.objects]


def test_multi_document_file_with_locations_and_positions() -> None:
    write("m/a.yaml", POD.format(name="one") + "---\n\n---\n" + POD.format(name="two"))
    loaded = load_manifests(["m"])
    assert loaded.errors == ()
    assert loaded.inputs == ("m",)
    one, two = loaded.objects
    assert one.ref == ResourceRef("v1", "Pod", "ns", "one")
    assert (one.location.file, one.location.line) == ("m/a.yaml", 1)  # type: ignore[union-attr]
    assert two.location.line == 13  # type: ignore[union-attr]
    assert two.position(("spec", "containers", 0, "image")) == (21, 5)
    # A missing field resolves to its deepest existing ancestor.
    assert two.position(("spec", "containers", 0, "securityContext", "privileged")) == (20, 5)
    assert two.position(("spec", "hostPID")) == (18, 1)


def test_walk_is_sorted_skips_hidden_and_non_manifests() -> None:
    write("d/b.yml", POD.format(name="b"))
    write("d/a/z.yaml", POD.format(name="az"))
    write("d/.git/x.yaml", POD.format(name="hidden"))
    write("d/.hidden.yaml", POD.format(name="hidden-file"))
    write("d/readme.md", POD.format(name="md"))
    write(
        "d/c.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    )
    loaded = load_manifests(["d"])
    assert names(loaded) == ["az", "b", "c"]
    assert [o.location.file for o in loaded.objects] == ["d/a/z.yaml", "d/b.yml", "d/c.json"]  # type: ignore[union-attr]


def test_non_kubernetes_documents_are_noted_not_errors() -> None:
    write("a.yaml", "foo: bar\n---\n" + POD.format(name="p") + "---\n- just\n- a list\n")
    loaded = load_manifests(["a.yaml"])
    assert names(loaded) == ["p"]
    assert loaded.errors == ()
    assert loaded.notes == (
        "a.yaml:1: document without apiVersion/kind skipped",
        "a.yaml:13: document without apiVersion/kind skipped",
    )


def test_list_kinds_expand_with_item_positions() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: sa
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleList
  metadata:
    generateName: gen-
- not-an-object
"""
    write("l.yaml", text)
    loaded = load_manifests(["l.yaml"])
    assert [o.ref for o in loaded.objects] == [
        ResourceRef("v1", "ServiceAccount", "", "sa"),
        ResourceRef("rbac.authorization.k8s.io/v1", "ClusterRoleList", "", "gen-"),
    ]
    sa = loaded.objects[0]
    assert sa.location.line == 4  # type: ignore[union-attr]
    assert sa.position(("metadata", "name")) == (7, 5)
    assert loaded.notes == ("l.yaml:12: item 2 of List without apiVersion/kind skipped",)


def test_json_list_items_have_exact_lines_and_lazy_positions() -> None:
    items = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": n},
        }
        for n in ("a", "b")
    ]
    text = json.dumps({"apiVersion": "v1", "kind": "ClusterRoleList", "items": items}, indent=2)
    write("roles.json", text)
    loaded = load_manifests(["roles.json"])
    a, b = loaded.objects
    lines = text.splitlines()
    assert lines[a.location.line - 1].strip() == "{"  # type: ignore[union-attr]
    assert a.location.line == 5  # type: ignore[union-attr]
    assert b.location.line == 12  # type: ignore[union-attr]
    assert b.position(("metadata", "name")) == (16, 9)
    assert lines[15].strip() == '"name": "b"'


def test_stdin() -> None:
    loaded = load_manifests(["-"], stdin=io.BytesIO(POD.format(name="s").encode()))
    assert names(loaded) == ["s"]
    assert loaded.objects[0].location.file == "<stdin>"  # type: ignore[union-attr]
    missing = load_manifests(["-"])
    assert missing.errors[0].file == "<stdin>"


def test_paths_outside_cwd_are_kept_as_given(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "p.yaml").write_text(POD.format(name="o"), encoding="utf-8")
    loaded = load_manifests([str(outside)])
    assert loaded.objects[0].location.file == (outside / "p.yaml").as_posix()  # type: ignore[union-attr]


def test_missing_path_is_an_error() -> None:
    loaded = load_manifests(["nope.yaml"])
    assert loaded.errors == (InputError("nope.yaml", 0, "no such file or directory"),)


# --- bad input: each case keeps the rest of the scan -------------------------------------------


def scan_with_good(bad_name: str, bad: str | bytes, **kwargs: int) -> LoadedManifests:
    write(f"in/{bad_name}", bad)
    write("in/zz-good.yaml", POD.format(name="good"))
    loaded = load_manifests(["in"], **kwargs)  # type: ignore[arg-type]
    assert "good" in names(loaded), "other files must still be read"
    return loaded


def test_malformed_yaml_keeps_earlier_documents() -> None:
    bad = POD.format(name="before") + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: [x\n"
    loaded = scan_with_good("bad.yaml", bad)
    assert names(loaded) == ["before", "good"]
    (error,) = loaded.errors
    assert error.file == "in/bad.yaml"
    assert error.line == 14
    assert error.message.startswith("invalid YAML: ")
    assert error.level == "error"


def test_a_broken_document_costs_only_itself() -> None:
    text = POD.format(name="one") + "---\n: : bad\n---\n" + POD.format(name="two")
    loaded = scan_with_good("three.yaml", text)
    assert names(loaded) == ["one", "two", "good"]
    (error,) = loaded.errors
    assert (error.file, error.line, error.level) == ("in/three.yaml", 11, "error")
    two = loaded.objects[1]
    assert two.location.line == 13  # type: ignore[union-attr]
    assert two.position(("spec", "containers", 0, "image")) == (21, 5)


def test_each_broken_document_is_its_own_error_with_exact_lines() -> None:
    text = (
        "a: [x\n"  # 1: unclosed; libyaml notices it at the separator on line 2
        "---\n"
        + POD.format(name="p1")  # 3-11
        + '---\nkey: "open\n'  # 12-13: a quote still open at the next separator
        + "---\n"  # 14
        + "k: !!int abc\n"  # 15: parses, but cannot be built
        + "---\n"
        + POD.format(name="p2")  # 17-25
        + "--- {x\n"  # 26
        + "---\n"
        + POD.format(name="p3")  # 28-36
    )
    loaded = load_manifests(["-"], stdin=io.BytesIO(text.encode()))
    assert names(loaded) == ["p1", "p2", "p3"]
    assert [o.location.line for o in loaded.objects] == [3, 17, 28]  # type: ignore[union-attr]
    assert loaded.objects[2].position(("metadata", "namespace")) == (32, 3)
    assert [e.line for e in loaded.errors] == [2, 14, 15, 27]
    assert "started at line 13" in loaded.errors[1].message, "context lines count from the top"


@dataclass
class ParsingWork:
    """How many YAML parsers were started, and how many characters they were handed in all (a
    whole text, or what a parser resumed after a broken document read of the rest)."""

    parsers: int = 0
    characters: int = 0


def count_parsing_work(monkeypatch: pytest.MonkeyPatch) -> ParsingWork:
    work = ParsingWork()

    class CountedLoader(yaml_documents._LocatedLoader):
        def __init__(self, stream: Any) -> None:
            work.parsers += 1
            if isinstance(stream, str):
                work.characters += len(stream)
            super().__init__(stream)

    read = yaml_documents._Window.read

    def counted_read(window: Any, size: int = -1) -> str:
        chunk = read(window, size)
        work.characters += len(chunk)
        return chunk

    monkeypatch.setattr(yaml_documents, "_LocatedLoader", CountedLoader)
    monkeypatch.setattr(yaml_documents._Window, "read", counted_read)
    return work


def test_many_broken_documents_are_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = ": : bad\n---\n" * 20_000
    text = POD.format(name="first") + "---\n" + broken + POD.format(name="last")
    work = count_parsing_work(monkeypatch)
    loaded = load_manifests(["-"], stdin=io.BytesIO(text.encode()))
    assert names(loaded) == ["first"], "reading stops after too many broken documents"
    assert len(loaded.errors) == MAX_BROKEN_DOCUMENTS + 1
    assert loaded.errors[-1].message.startswith(f"more than {MAX_BROKEN_DOCUMENTS} broken")
    # One parser for the text, then one per broken document until reading stops; each resumed
    # parser reads a little past its separator, never the rest of the text (which would be ~100
    # times the text here, and quadratic in general).
    assert work.parsers == 1 + MAX_BROKEN_DOCUMENTS
    assert work.characters <= len(text) + MAX_BROKEN_DOCUMENTS * 2 * _WINDOW_CHUNK
    # One early error in a large file: the rest is read by one resumed parser, in linear time.
    many = ": : bad\n" + "".join("---\n" + POD.format(name=f"p{i}") for i in range(3000))
    work = count_parsing_work(monkeypatch)
    loaded = load_manifests(["-"], stdin=io.BytesIO(many.encode()))
    assert len(loaded.objects) == 3000
    assert loaded.objects[-1].location.line == 1 + 10 * 2999 + 2  # type: ignore[union-attr]
    assert work.parsers == 2
    assert work.characters <= 2 * len(many)  # the text to the first parser, the rest once more


def test_an_implied_namespace_is_anchored_at_its_first_use() -> None:
    write("a/1.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-wide}\n")
    write("a/2.yaml", "# the pod\n" + POD.format(name="p"))
    write("a/3.yaml", POD.format(name="q"))
    (implied,) = Inventory(load_manifests(["a"]).objects).implied_namespaces
    assert implied.ref.name == "ns"
    assert implied.location == SourceLocation("a/2.yaml", 6, 3, IMPLIED_ORIGIN)


def test_suffixes_are_case_insensitive() -> None:
    write("d/a.YAML", POD.format(name="a"))
    write("d/b.Yml", POD.format(name="b"))
    write("d/c.JSON", json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}}))
    write("d/d.txt", POD.format(name="d"))
    loaded = load_manifests(["d"])
    assert names(loaded) == ["a", "b", "c"]
    assert loaded.errors == ()


def test_no_objects_at_all_is_an_error() -> None:
    write("empty/.keep", "")
    write("other/values.yaml", "replicas: 3\n")
    write("pods/p.yaml", POD.format(name="p"))
    for given, stdin, shown in (
        (["-"], b"\n", "<stdin>"),
        (["empty"], b"", "empty"),
        (["other", "-"], b"", "other, <stdin>"),
    ):
        loaded = require_objects(load_manifests(given, stdin=io.BytesIO(stdin)))
        assert loaded.errors[-1:] == (
            InputError("", 0, f"no Kubernetes objects found in {shown}", level="error"),
        )
    found = load_manifests(["pods"])
    assert require_objects(found) is found


def test_invalid_utf8_names_the_line() -> None:
    loaded = scan_with_good("latin1.yaml", POD.format(name="x").encode() + b"# caf\xe9\n")
    assert loaded.errors == (
        InputError("in/latin1.yaml", 10, "invalid UTF-8 (byte 0xe9); file skipped"),
    )
    assert names(loaded) == ["good"]


def test_binary_file_is_skipped() -> None:
    loaded = scan_with_good("blob.yaml", b"\x7fELF\n\x00\x01\x02")
    assert loaded.errors == (
        InputError("in/blob.yaml", 2, "binary file (contains NUL bytes); skipped"),
    )


def test_utf16_with_bom_is_read() -> None:
    loaded = scan_with_good("u16.yaml", POD.format(name="wide").encode("utf-16"))
    assert names(loaded) == ["wide", "good"]


def test_empty_files_and_documents_are_silent() -> None:
    write("in/empty.yaml", "")
    write("in/blank.yaml", "\n\n# only a comment\n---\n---\n")
    loaded = scan_with_good("z.yaml", "---\n")
    assert loaded.errors == ()
    assert loaded.notes == ()
    assert names(loaded) == ["good"]


def test_alias_bomb_is_rejected_without_expanding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 12):
        refs = ",".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(
        "  " + line for line in lines
    )
    # The text has about 150 nodes; expanded, 10^12. Each is built once, an alias reusing it.
    build = yaml_documents._DocumentBuilder.build
    built = 0

    def counted_build(builder: Any, node: Any) -> Any:
        nonlocal built
        built += 1
        assert built <= 1_000, "nodes were built once per alias use: the bomb is being expanded"
        return build(builder, node)

    monkeypatch.setattr(yaml_documents._DocumentBuilder, "build", counted_build)
    loaded = scan_with_good("bomb.yaml", bomb + "\n")
    assert built > 0
    assert names(loaded) == ["good"]
    assert loaded.errors == (
        InputError(
            "in/bomb.yaml",
            1,
            "document expands to more than 1,000,000 nodes through YAML aliases (alias bomb);"
            " skipped",
        ),
    )


def test_recursive_alias_is_rejected() -> None:
    loaded = scan_with_good("cycle.yaml", "apiVersion: v1\nkind: X\nspec: &s\n  self: *s\n")
    assert loaded.errors == (
        InputError("in/cycle.yaml", 1, "document contains a recursive YAML alias; skipped"),
    )


def test_small_aliases_are_fine() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: ok}\nextra: *m\n"
    loaded = scan_with_good("alias.yaml", text)
    assert names(loaded) == ["ok", "good"]


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ("{a: ", "}")])
def test_deep_nesting_is_an_error_not_a_crash(opener: str, closer: str) -> None:
    deep = "apiVersion: v1\nkind: X\nspec: " + opener * 10_000 + closer * 10_000 + "\n"
    loaded = scan_with_good("deep.yaml", deep)
    (error,) = loaded.errors
    assert error.file == "in/deep.yaml"
    assert error.line == 3
    assert "exceeded maximum nesting depth" in error.message


def test_deep_json_is_an_error_not_a_crash() -> None:
    loaded = scan_with_good("deep.json", "[" * 100_000 + "]" * 100_000)
    assert loaded.errors == (InputError("in/deep.json", 1, "document nested too deeply"),)


def test_invalid_json_names_the_line() -> None:
    loaded = scan_with_good("bad.json", '{\n  "apiVersion": "v1",\n  "kind": \n}\n')
    (error,) = loaded.errors
    assert (error.file, error.line) == ("in/bad.json", 4)
    assert error.message.startswith("invalid JSON: ")


def test_file_over_the_limit_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    big = "# " + "x" * 2000 + "\n" + POD.format(name="big")
    write("in/big.yaml", big)
    write("in/zz-good.yaml", POD.format(name="good"))
    opened: list[str] = []
    original_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        opened.append(self.name)
        return original_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", spy)
    loaded = load_manifests(["in"], max_file_bytes=1000)
    assert names(loaded) == ["good"]
    size = len(big.encode())
    assert loaded.errors == (
        InputError(
            "in/big.yaml", 0, f"file is {size:,} bytes, over the limit of 1,000 bytes; skipped"
        ),
    )
    assert "big.yaml" not in opened


def test_stdin_over_the_limit() -> None:
    loaded = load_manifests(["-"], stdin=io.BytesIO(b"x" * 50), max_file_bytes=10)
    assert loaded.errors == (
        InputError("<stdin>", 0, "input is larger than the limit of 10 bytes; skipped"),
    )


def test_repeated_inputs_are_read_once() -> None:
    write("dir/f.yaml", POD.format(name="f"))
    write("dir/g.yaml", POD.format(name="g"))
    Path("link.yaml").symlink_to("dir/f.yaml")
    loaded = load_manifests(["dir", "dir/f.yaml", "./dir/f.yaml", "link.yaml", "dir"])
    assert [(o.ref.name, o.location.file) for o in loaded.objects] == [  # type: ignore[union-attr]
        ("f", "dir/f.yaml"),
        ("g", "dir/g.yaml"),
    ]
    assert loaded.errors == ()
    assert loaded.notes == (
        "dir/f.yaml: already read as dir/f.yaml; skipped",
        "./dir/f.yaml: already read as dir/f.yaml; skipped",
        "link.yaml: already read as dir/f.yaml; skipped",
        "dir: already read as dir; skipped",
    )
    assert loaded.inputs == ("dir", "dir/f.yaml", "./dir/f.yaml", "link.yaml", "dir")


def test_repeated_chart_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    write("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
    rendered: list[Path] = []

    def render(chart: Path) -> dict[str, str]:
        rendered.append(chart)
        return {"c/templates/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n"}

    monkeypatch.setattr(helm, "find_renderer", lambda: (render, ""))
    loaded = load_manifests(["c", "./c/"])
    assert len(rendered) == 1
    assert [o.ref.name for o in loaded.objects] == ["n"]
    assert loaded.notes == ("./c/: already read as c; skipped",)


def test_half_objects_are_warnings() -> None:
    text = (
        "apiversion: v1\nkind: Pod\nmetadata: {name: typo}\n---\n"
        "apiVersion: v1\nmetadata: {name: no-kind}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: item}\n---\n"
        "foo: bar\n---\n" + POD.format(name="ok")
    )
    write("half.yaml", text)
    loaded = load_manifests(["half.yaml"])
    assert names(loaded) == ["ok"]
    assert loaded.errors == (
        InputError("half.yaml", 1, "document has kind but no apiVersion; skipped", "warning"),
        InputError("half.yaml", 5, "document has apiVersion but no kind; skipped", "warning"),
        InputError(
            "half.yaml", 11, "item 0 of List has kind but no apiVersion; skipped", "warning"
        ),
    )
    assert loaded.notes == ("half.yaml:14: document without apiVersion/kind skipped",)
