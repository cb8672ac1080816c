"""Following an audit log across a real rotation (rename + new file) and an in-place truncation:
every event is read once, none is lost, a half-written line waits for its newline."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from audit_samples import raw_event
from kposture.model.audit import AuditEvent
from kposture.sources.audit_following import FollowPosition, LineFollower, follow_audit_log
from kposture.sources.audit_logs import AuditLogReader


def line(user: str) -> str:
    return json.dumps(raw_event(user=user)) + "\n"


class Follow:
    """Runs the follower in a thread and collects the users of the events it reads."""

    def __init__(self, path: Path, start: FollowPosition | None = None) -> None:
        self.stop = threading.Event()
        self.users: list[str] = []
        self.reader = AuditLogReader()
        self.lock = threading.Lock()

        def run() -> None:
            for event in follow_audit_log(
                self.reader, path, poll_interval=0.01, should_stop=self.stop.is_set, start=start
            ):
                with self.lock:
                    self.users.append(event.user.username)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.users) >= count:
                    return list(self.users)
            time.sleep(0.01)
        with self.lock:
            return list(self.users)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def test_rotation_by_rename_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a1") + line("a2"))
    follow = Follow(path)
    try:
        assert follow.wait_for(2) == ["a1", "a2"]
        with path.open("a") as handle:  # written, then the file rotates before the reader looks
            handle.write(line("a3"))
            handle.write(line("a4")[:30])  # a half-written event, finished after the rename
            handle.flush()
            path.rename(tmp_path / "audit.log.1")
            handle.write(line("a4")[30:])
        path.write_text(line("b1"))
        with path.open("a") as handle:
            handle.write(line("b2"))
        assert follow.wait_for(6) == ["a1", "a2", "a3", "a4", "b1", "b2"]
        time.sleep(0.1)
        assert follow.users == ["a1", "a2", "a3", "a4", "b1", "b2"]
    finally:
        follow.close()
    assert follow.reader.stats.skipped_total == 0


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    text = line("whole")
    path.write_text(text[:50])
    follow = Follow(path)
    try:
        time.sleep(0.1)
        assert follow.users == []
        with path.open("a") as handle:
            handle.write(text[50:])
        assert follow.wait_for(1) == ["whole"]
    finally:
        follow.close()
    assert follow.reader.stats.skipped_total == 0


def test_copytruncate_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a1") + line("a2"))
    follow = Follow(path)
    try:
        assert follow.wait_for(2) == ["a1", "a2"]
        inode = path.stat().st_ino
        with path.open("r+") as handle:
            handle.truncate(0)
        path.write_text(line("b1"))
        assert path.stat().st_ino == inode
        assert follow.wait_for(3) == ["a1", "a2", "b1"]
    finally:
        follow.close()


def test_resume_from_a_position_does_not_repeat(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a1") + line("a2"))
    follower = LineFollower(path, 1 << 20, poll_interval=0.01, should_stop=lambda: True)
    assert len(list(follower.lines())) == 2
    position = follower.position
    assert position is not None and position.line == 2
    assert position.offset == path.stat().st_size and position.inode == path.stat().st_ino
    with path.open("a") as handle:
        handle.write(line("a3"))
    follow = Follow(path, start=position)
    try:
        assert follow.wait_for(1) == ["a3"]
    finally:
        follow.close()


def test_waits_for_the_file_to_appear(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    follow = Follow(path)
    try:
        time.sleep(0.05)
        path.write_text(line("late"))
        assert follow.wait_for(1) == ["late"]
    finally:
        follow.close()


def test_over_long_lines_are_skipped_while_following(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    big = json.dumps(
        raw_event(user="big", request={"kind": "ConfigMap", "data": {"x": "y" * 300_000}})
    )
    path.write_text(line("a") + big + "\n" + line("b"))
    reader = AuditLogReader(max_event_bytes=100_000)
    users: list[AuditEvent] = list(
        follow_audit_log(reader, path, poll_interval=0.01, should_stop=lambda: True)
    )
    assert [e.user.username for e in users] == ["a", "b"]
    assert reader.stats.issues[0].line == 2


class Polls:
    """Deterministic polling for a ``LineFollower``: each time it waits at the end of the data, the
    next file operation runs; once they are all done, the follower stops at the end of the data."""

    def __init__(self, *steps: Callable[[], object]) -> None:
        self.steps = list(steps)
        self.done = False

    def sleep(self, _seconds: float) -> None:
        if self.steps:
            self.steps.pop(0)()
        else:
            self.done = True

    def should_stop(self) -> bool:
        return self.done


def followed_users(path: Path, polls: Polls) -> tuple[list[str], AuditLogReader, LineFollower]:
    reader = AuditLogReader()
    follower = LineFollower(
        path, reader.max_event_bytes, sleep=polls.sleep, should_stop=polls.should_stop
    )
    users = [
        event.user.username
        for number, data in follower.lines()
        for event in reader.parse_line(data, str(path), number)
    ]
    return users, reader, follower


def test_copytruncate_then_growth_past_the_old_offset_reads_every_new_line_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.log"
    old = [f"old-{n}" for n in range(5)]
    new = [f"new-{n}" for n in range(12)]
    path.write_text("".join(line(user) for user in old))
    size = path.stat().st_size

    def truncate_and_grow() -> None:
        inode = path.stat().st_ino
        with path.open("r+") as handle:  # copytruncate: same inode, cut to 0, written again
            handle.truncate(0)
            handle.write("".join(line(user) for user in new))
        assert path.stat().st_ino == inode and path.stat().st_size > size

    users, reader, follower = followed_users(path, Polls(truncate_and_grow))
    assert users == old + new
    assert reader.stats.skipped_total == 0
    assert follower.truncations == 1 and follower.rotations == 0


def test_copytruncate_to_the_same_size_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a1") + line("a2"))

    def rewrite_same_size() -> None:
        with path.open("r+") as handle:
            handle.truncate(0)
            handle.write(line("b1") + line("b2"))

    users, reader, follower = followed_users(path, Polls(rewrite_same_size))
    assert users == ["a1", "a2", "b1", "b2"]
    assert follower.truncations == 1 and reader.stats.skipped_total == 0


def test_a_file_deleted_and_created_again_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a1"))
    big = "".join(line(f"b{n}") for n in range(10))

    users, reader, follower = followed_users(
        path,
        Polls(
            lambda: path.write_text(path.read_text() + line("a2")),
            path.unlink,
            lambda: path.write_text(big),
        ),
    )
    assert users == ["a1", "a2"] + [f"b{n}" for n in range(10)]
    assert follower.rotations == 1 and follower.truncations == 0
    assert reader.stats.skipped_total == 0


def test_a_file_replaced_by_rename_over_it_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a1"))
    staged = tmp_path / "staged.log"

    def replace() -> None:
        with path.open("a") as handle:
            handle.write(line("a2"))
        staged.write_text("".join(line(f"b{n}") for n in range(6)))
        staged.replace(path)

    users, _, follower = followed_users(path, Polls(replace))
    assert users == ["a1", "a2"] + [f"b{n}" for n in range(6)]
    assert follower.rotations == 1 and follower.truncations == 0


def test_appends_are_not_mistaken_for_truncation(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(line("a0"))

    def append(user: str) -> Callable[[], None]:
        def run() -> None:
            with path.open("a") as handle:
                handle.write(line(user))

        return run

    users, _, follower = followed_users(path, Polls(*(append(f"a{n}") for n in range(1, 8))))
    assert users == [f"a{n}" for n in range(8)]
    assert follower.truncations == 0 and follower.rotations == 0


def test_a_rename_rotation_reads_every_line_once_and_the_lines_added_to_the_old_file_after_it(
    tmp_path: Path,
) -> None:
    """follow h.log, append 10 events, mv h.log h.log.1, write 5 events to a new h.log, append 2
    to h.log.1: 17 events, each read once (the last of the old file was read twice, and the 2
    appended after the rename lost)."""
    path = tmp_path / "h.log"
    path.write_text("")
    rotated = tmp_path / "h.log.1"

    def append(target: Path, users: list[str]) -> Callable[[], None]:
        def run() -> None:
            with target.open("a") as handle:
                handle.write("".join(line(user) for user in users))

        return run

    old = [f"{n:03d}" for n in range(10)]
    new = [f"new-{n}" for n in range(5)]
    late = ["late-0", "late-1"]

    def rotate() -> None:
        path.rename(rotated)
        path.write_text("".join(line(user) for user in new))

    users, reader, follower = followed_users(
        path, Polls(append(path, old), rotate, append(rotated, late))
    )
    assert users == old + new + late
    assert reader.stats.skipped_total == 0 and follower.rotations == 1


def test_a_rotated_file_is_closed_after_its_grace_period_with_its_last_unterminated_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.log"
    path.write_text(line("a1"))
    rotated = tmp_path / "h.log.1"
    now = [0.0]

    def rotate() -> None:
        with path.open("a") as handle:
            handle.write(line("a2")[:20])
        path.rename(rotated)
        path.write_text(line("b1"))

    def finish_the_line_late() -> None:
        with rotated.open("a") as handle:
            handle.write(line("a2")[20:])

    def after_the_grace() -> None:
        now[0] = 10.0
        with rotated.open("a") as handle:
            handle.write(line("last").rstrip("\n"))  # its newline never comes

    def after_the_close() -> None:
        with rotated.open("a") as handle:
            handle.write(line("after-close"))

    polls = Polls(rotate, finish_the_line_late, after_the_grace, after_the_close)
    reader = AuditLogReader()
    follower = LineFollower(
        path,
        reader.max_event_bytes,
        sleep=polls.sleep,
        should_stop=polls.should_stop,
        clock=lambda: now[0],
        rotation_grace=2.0,
    )
    users = [
        event.user.username
        for number, data in follower.lines()
        for event in reader.parse_line(data, str(path), number)
    ]
    assert users == ["a1", "b1", "a2", "last"]
    assert reader.stats.skipped_total == 0
