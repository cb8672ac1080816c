"""Store URLs: what a user may write, where the default store lives, and masking passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from kposture.store.connecting import StoreError, default_path, masked, resolve_url


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
