"""Stores that cannot be opened: the error names the URL, never the password."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from kposture.store.connecting import StoreError, open_store
from store_fixtures import PG_USER, PostgresServer

pytestmark = pytest.mark.e2e


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_postgresql_names_the_url_with_the_password_masked() -> None:
    port = _closed_port()
    url = f"postgresql://kposture:Pa55-w0rd-XYZ@127.0.0.1:{port}/kposture"
    with pytest.raises(StoreError) as raised:
        open_store(url)
    message = str(raised.value)
    assert "Pa55-w0rd-XYZ" not in message
    assert f"postgresql+psycopg://kposture:***@127.0.0.1:{port}/kposture" in message
    assert "cannot open the store" in message
    assert "refused" in message.lower()


def test_wrong_password_on_a_real_server(postgres_server: PostgresServer) -> None:
    url = f"postgresql://{PG_USER}:not-the-password-123@127.0.0.1:{postgres_server.port}/postgres"
    with pytest.raises(StoreError) as raised:
        open_store(url)
    message = str(raised.value)
    assert "not-the-password-123" not in message
    assert "***" in message
    assert "password authentication failed" in message


def test_missing_database_on_a_real_server(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        open_store(postgres_server.url("no_such_db"))


def test_sqlite_file_is_private_and_its_folder_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "kposture.db"
    with open_store(str(path)):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_in_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"cannot open the store at sqlite:///.*file/kposture\.db"):
        open_store(f"sqlite:///{blocker}/kposture.db")


def test_reader_does_not_create_a_missing_store(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no store at"):
        open_store(str(path), create=False)
    assert not path.exists()


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(
        StoreError, match=r"cannot open the store at sqlite:///.*junk\.db: .*not a database"
    ):
        open_store(str(path))
