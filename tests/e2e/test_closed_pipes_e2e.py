"""``kposture ... | head``: a real process whose stdout and stderr readers went away before it wrote
(the pipes are closed before it starts writing, so the write always finds them closed) exits 0
with nothing on a traceback's way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kposture.store.connecting import open_store

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"
LIMIT = 120  # seconds: a hung process fails the test instead of stalling CI


def _into_closed_pipes(*args: str, cwd: Path) -> int:
    process = subprocess.Popen(
        [str(KPOSTURE), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()
    return process.wait(timeout=LIMIT)


def test_a_table_into_a_closed_pipe_exits_as_sigpipe_would(tmp_path: Path) -> None:
    assert _into_closed_pipes("rules", "list", cwd=tmp_path) == 141


def test_history_with_its_note_on_a_closed_stderr_exits_as_sigpipe_would(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kposture.db'}"
    open_store(url).close()
    # An empty store: the only output is the note on stderr ("no finding changes match in ...").
    assert _into_closed_pipes("history", "--db", url, cwd=tmp_path) == 141
    assert _into_closed_pipes("findings", "--db", url, "-o", "json", cwd=tmp_path) == 141
