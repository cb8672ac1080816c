"""Store URLs: what a user may write, where the default store lives, and masking passwords."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kposture.store.connecting import StoreError, default_path, masked, open_store, resolve_url


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@db.example:5432/kp", "postgresql+psycopg"),
        ("postgres://u:p@db.example/kp", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/kp", "postgresql+psycopg"),
        ("sqlite:///tmp/x.db", "sqlite"),
    ],
)
def test_drivers(given: str, driver: str) -> None:
    assert resolve_url(given).drivername == driver


def test_a_bare_path_is_a_sqlite_file(tmp_path: Path) -> None:
    url = resolve_url(str(tmp_path / "k.db"))
    assert url.drivername == "sqlite" and url.database == str(tmp_path / "k.db")


def test_default_store_is_under_xdg_data_home(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    assert default_path(env) == tmp_path / "data" / "kposture" / "kposture.db"
    assert resolve_url(None, env).database == str(tmp_path / "data" / "kposture" / "kposture.db")


def test_default_store_without_xdg_is_in_local_share() -> None:
    expected = Path.home() / ".local" / "share" / "kposture" / "kposture.db"
    assert default_path({}) == expected
    # The spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    assert default_path({"XDG_DATA_HOME": "relative/dir"}) == expected


def test_unsupported_database_is_named_with_the_password_masked() -> None:
    with pytest.raises(StoreError) as raised:
        resolve_url("mysql://root:TopSecret@db/kp")
    assert "TopSecret" not in str(raised.value)
    assert "mysql://root:***@db/kp" in str(raised.value)
    assert "sqlite:///PATH or postgresql://" in str(raised.value)


def test_masked() -> None:
    assert masked("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert masked("postgresql://u@h/db") == "postgresql://u@h/db"
    assert masked("sqlite:////var/lib/k.db") == "sqlite:////var/lib/k.db"


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("sqlite://relative.db", "sqlite:///relative.db for a path relative"),
        ("sqlite://data/k.db", "sqlite:///data/k.db for a path relative"),
        ("sqlite://u:TopSecret@host/k.db", "sqlite:///host/k.db"),
    ],
)
def test_sqlite_url_with_two_slashes_says_how_to_write_it(given: str, hint: str) -> None:
    with pytest.raises(StoreError) as raised:
        resolve_url(given)
    message = str(raised.value)
    assert hint in message and "or just the path" in message and "\n" not in message
    assert "TopSecret" not in message


@pytest.mark.parametrize(
    "given",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite://",
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file:k?mode=memory&uri=true",
    ],
)
def test_in_memory_sqlite_is_no_store(given: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as raised:
        open_store(given)
    assert str(raised.value).startswith(f"no store: {given} is an in-memory database")
    assert resolve_url("sqlite:///file:k.db?uri=true").database == "file:k.db"


def test_alembic_is_quiet_unless_debugging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        open_store(str(tmp_path / "new.db")).close()  # migrates a new store
        open_store(str(tmp_path / "new.db")).close()
    assert not [r for r in caplog.records if r.name.startswith("alembic")]
    assert logging.getLogger("alembic").level == logging.NOTSET
    with caplog.at_level(logging.DEBUG):
        open_store(str(tmp_path / "debug.db")).close()
    upgrades = [r.getMessage() for r in caplog.records if r.name == "alembic.runtime.migration"]
    assert any(message.startswith("Running upgrade") for message in upgrades)


@pytest.mark.parametrize("below", ["kp.db", "sub/kp.db"])
def test_a_file_where_the_stores_folder_should_be_is_named(tmp_path: Path, below: str) -> None:
    (tmp_path / "notes").write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'notes' / below}"
    with pytest.raises(StoreError) as raised:
        open_store(url)
    assert (
        str(raised.value)
        == f"cannot open the store at {url}: {tmp_path / 'notes'} is not a directory"
    )
