"""The files environment against a real directory watched with watchdog (inotify)."""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from interfaces import Backoff, EnvironmentError, Event, Rejected, call, stream
from interfaces.files import FileEnvironment

pytestmark = pytest.mark.integration

FAST = Backoff(first_s=0.02, max_s=0.2)
#: a child Python writing files as fast as it can: argv directory, count, prefix
WRITER = """
import os, sys
folder, count, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(count):
    with open(os.path.join(folder, f"{prefix}{i}.txt"), "w") as f:
        f.write("x")
"""


def write_files(folder: Path, count: int, prefix: str = "f") -> set[str]:
    """Write ``count`` files from another process, as fast as Python can; their paths."""
    subprocess.run([sys.executable, "-c", WRITER, str(folder), str(count), prefix], check=True)
    return {str(folder / f"{prefix}{i}.txt") for i in range(count)}


class Collector:
    """A stream's items gathered by a task; ``until`` waits for a condition on them."""

    def __init__(self, items: AsyncIterator[Event | Rejected]) -> None:
        self.items: list[Event | Rejected] = []
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(items))

    async def _run(self, items: AsyncIterator[Event | Rejected]) -> None:
        async for item in items:
            self.items.append(item)
            self._changed.set()

    async def until(self, done: Callable[[list[Event | Rejected]], bool],
                    timeout: float = 5.0) -> list[Event | Rejected]:
        async def wait() -> None:
            while not done(self.items):
                if self._task.done():
                    self._task.result()
                    raise AssertionError("the stream ended")
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)
        return self.items

    def events(self, kind: str) -> list[Event]:
        return [i for i in self.items if isinstance(i, Event) and i.kind == kind]

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def kinds_of(items: list[Any], path: Path) -> list[str]:
    return [i.kind for i in items if isinstance(i, Event) and i.subject == str(path)]


def test_write_read_move_delete_and_their_events(tmp_path: Path) -> None:
    async def main() -> None:
        env = FileEnvironment("docs", path=tmp_path)
        await env.connect()
        got = Collector(stream(env, FAST))
        done = await env.act("write", path="a.txt", content="hello")
        assert done["path"] == str(tmp_path / "a.txt") and done["bytes"] == 5
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "a.txt"))
        assert kinds_of(got.items, tmp_path / "a.txt")[:3] == ["created", "modified", "closed"]
        assert await env.act("read", path="a.txt") == "hello"
        assert await env.act("move", src="a.txt", dest=str(tmp_path / "b.txt")) == {
            "src": str(tmp_path / "a.txt"), "dest": str(tmp_path / "b.txt")}
        moved = await got.until(lambda items: "moved" in kinds_of(items, tmp_path / "b.txt"))
        event = next(i for i in moved if isinstance(i, Event) and i.kind == "moved")
        assert event.data == {"path": str(tmp_path / "b.txt"), "src": str(tmp_path / "a.txt"),
                              "dest": str(tmp_path / "b.txt")}
        assert (await env.act("delete", path="b.txt"))["deleted"] is True
        assert (await env.act("delete", path="b.txt"))["deleted"] is False
        await got.until(lambda items: "deleted" in kinds_of(items, tmp_path / "b.txt"))
        observed = await env.observe()
        assert observed["paths"][str(tmp_path)]["files"] == 0
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_paths_outside_the_watched_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link").symlink_to(tmp_path)

    async def main() -> None:
        env = FileEnvironment("docs", path=tmp_path / "in")
        await env.connect()
        for bad in ("../out.txt", str(tmp_path / "out.txt"), "link/out.txt", "/etc/passwd"):
            with pytest.raises(EnvironmentError, match="outside the watched directories"):
                await env.act("write", path=bad, content="x")
        with pytest.raises(EnvironmentError, match=r"'\.\./x' is outside"):
            await env.act("move", src="a.txt", dest="../x")
        with pytest.raises(EnvironmentError, match=r"read .*missing\.txt: cannot be read: No such"):
            await env.act("read", path="missing.txt")
        assert not (tmp_path / "out.txt").exists()
        await env.close()

    asyncio.run(main())


def test_complete_files_carry_their_content_and_bad_content_is_rejected(tmp_path: Path) -> None:
    async def main() -> None:
        env = FileEnvironment("inbox", path=tmp_path, read="csv", max_bytes=64)
        await env.connect()
        got = Collector(stream(env, FAST))
        await env.act("write", path="a.csv", content="id,t\n1,20.5\n2,21\n", atomic=True)
        (tmp_path / "b.csv").write_text("id,t\n1\n")  # a short row
        (tmp_path / "c.csv").write_text("id,t\n" + "1,2\n" * 40)  # over max_bytes
        (tmp_path / "d.csv").write_bytes(b"id\n\xff\n")  # not UTF-8
        (tmp_path / "e.csv").write_text("id\n7\n")  # good input still arrives
        items = await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "e.csv"))
        moved = next(i for i in items if isinstance(i, Event) and i.kind == "moved")
        assert moved.subject == str(tmp_path / "a.csv")
        assert moved.data["content"] == [{"id": "1", "t": "20.5"}, {"id": "2", "t": "21"}]
        assert os.path.basename(moved.data["src"]).startswith(".a.csv.")  # the temp name
        reasons = {i.subject: i.reason for i in items if isinstance(i, Rejected)}
        assert "row 2 has 1 fields, the header has 2" in reasons[str(tmp_path / "b.csv")]
        assert "over the limit of 64 bytes" in reasons[str(tmp_path / "c.csv")]
        assert "not UTF-8" in reasons[str(tmp_path / "d.csv")]
        assert all(reason.startswith(subject) for subject, reason in reasons.items())
        closed = [i for i in items if isinstance(i, Event) and i.kind == "closed"]
        assert [i.data["content"] for i in closed] == [[{"id": "7"}]]
        # the temp file of the atomic write raised no event of its own
        assert not [i for i in items if os.path.basename(i.subject).startswith(".")]
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_json_content_and_patterns(tmp_path: Path) -> None:
    async def main() -> None:
        env = FileEnvironment("cfg", paths=[tmp_path], patterns=["*.json"], read="json")
        await env.connect()
        got = Collector(stream(env, FAST))
        (tmp_path / "skip.txt").write_text("not watched")
        (tmp_path / "bad.json").write_text("{nope")
        (tmp_path / "good.json").write_text('{"valve": "open"}')
        items = await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "good.json"))
        assert not kinds_of(items, tmp_path / "skip.txt")
        bad = [i for i in items if isinstance(i, Rejected)]
        assert len(bad) == 1 and "malformed JSON" in bad[0].reason and bad[0].raw == b"{nope"
        good = [i for i in items if isinstance(i, Event) and i.kind == "closed"]
        assert good[-1].data["content"] == {"valve": "open"}
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_repeated_modifications_are_coalesced(tmp_path: Path) -> None:
    async def main() -> None:
        target = tmp_path / "log.txt"
        target.write_text("")
        env = FileEnvironment("logs", path=tmp_path, debounce_s=1.0)
        await env.connect()
        got = Collector(stream(env, FAST))

        def append(f: Any) -> None:
            for i in range(20):
                f.write(f"line {i}\n")
                f.flush()  # one write, one inotify modification, each time

        with open(target, "a") as f:
            append(f)
        # the first modification at once; the close supersedes the 19 held after it
        await got.until(lambda items: "closed" in kinds_of(items, target))
        assert kinds_of(got.items, target) == ["modified", "closed"]
        with open(target, "a") as f:  # within the same window, and kept open
            append(f)
            # held, then one event for the 20 when the window ends
            await got.until(lambda items: kinds_of(items, target).count("modified") == 2)
            assert kinds_of(got.items, target) == ["modified", "closed", "modified"]
        await got.until(lambda items: kinds_of(items, target).count("closed") == 2)
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_a_burst_of_10000_files_is_reported_each_exactly_once(tmp_path: Path) -> None:
    async def main() -> None:
        env = FileEnvironment("burst", path=tmp_path)
        await env.connect()
        got = Collector(stream(env, FAST))
        expected = await asyncio.to_thread(write_files, tmp_path, 10_000)
        await got.until(lambda items: len(got.events("created")) >= 10_000, timeout=90.0)
        # the last file's close, unless the kernel queue overflowed under a busy machine:
        # then the rescan reported the files, and no close comes for those it found
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "f9999.txt")
                        or env.counts["overflows"] > 0, timeout=10.0)
        created = [e.subject for e in got.events("created")]
        assert set(created) == expected
        duplicates = [p for p, n in collections.Counter(created).items() if n > 1]
        assert not duplicates
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_an_inotify_overflow_is_recovered_by_a_rescan(tmp_path: Path) -> None:
    """Holding watchdog's reader off while more files are written than the kernel
    queue holds (fs.inotify.max_queued_events; 3 events a file) overflows it."""
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    count = (queued + 2048) // 3 + 2000  # watchdog may have read 2,048 before it blocks
    if count > 50_000:
        pytest.skip(f"max_queued_events is {queued}: too many files to overflow it quickly")

    async def main() -> None:
        env = FileEnvironment("burst", path=tmp_path)
        await env.connect()
        got = Collector(stream(env, FAST))
        (tmp_path / "before.txt").write_text("x")
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "before.txt"))
        scans = env.counts["scans"]
        reader_lock = env._observer._inotify_fd._lock  # the test's hand on watchdog's reader
        with reader_lock:
            expected = await asyncio.to_thread(write_files, tmp_path, count)
            os.remove(tmp_path / "before.txt")
        await got.until(lambda items: len(got.events("created")) >= count + 1, timeout=90.0)
        await got.until(lambda items: env.counts["scans"] > scans, timeout=5.0)
        assert env.counts["overflows"] >= 1
        created = [e.subject for e in got.events("created")]
        assert set(created) == expected | {str(tmp_path / "before.txt")}
        assert not [p for p, n in collections.Counter(created).items() if n > 1]
        assert any(e.meta.get("rescan") for e in got.events("created"))
        await got.until(lambda items: "deleted" in kinds_of(items, tmp_path / "before.txt"))
        # and the watch goes on
        (tmp_path / "later.txt").write_text("x")
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "later.txt"))
        assert kinds_of(got.items, tmp_path / "later.txt").count("created") == 1
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_a_deleted_directory_is_watched_again_once_it_is_back(tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()

    async def main() -> None:
        env = FileEnvironment("docs", path=folder)
        await env.connect()
        got = Collector(stream(env, FAST))
        (folder / "a.txt").write_text("x")
        await got.until(lambda items: "closed" in kinds_of(items, folder / "a.txt"))
        shutil.rmtree(folder)
        await got.until(lambda items: "deleted" in kinds_of(items, folder / "a.txt"))
        folder.mkdir()
        (folder / "b.txt").write_text("y")
        await got.until(lambda items: "created" in kinds_of(items, folder / "b.txt"))
        assert env.reconnects >= 1
        assert "WatchLost" in (env.last_error or "")
        (folder / "c.txt").write_text("z")
        await got.until(lambda items: "closed" in kinds_of(items, folder / "c.txt"))
        assert kinds_of(got.items, folder / "b.txt").count("created") == 1
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_a_watched_directory_renamed_away_and_replaced_is_watched_anew(tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()

    async def main() -> None:
        env = FileEnvironment("docs", path=folder)
        await env.connect()
        got = Collector(stream(env, FAST))
        (folder / "a.txt").write_text("x")
        await got.until(lambda items: "closed" in kinds_of(items, folder / "a.txt"))
        os.rename(folder, tmp_path / "old")  # inotify keeps watching the old directory
        folder.mkdir()
        (folder / "b.txt").write_text("y")
        await got.until(lambda items: "created" in kinds_of(items, folder / "b.txt"))
        assert env.reconnects == 1 and "was replaced" in (env.last_error or "")
        # a.txt left with the old directory: from here it is gone (the rescan of the new
        # directory says so; it may come after b.txt's events)
        await got.until(lambda items: "deleted" in kinds_of(items, folder / "a.txt"))
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_a_stopped_observer_is_a_lost_watch_and_the_rescan_reports_the_gap(
        tmp_path: Path) -> None:
    for name in ("old.txt", "gone.txt", "ren.txt", "same.txt"):
        (tmp_path / name).write_text(name)

    async def main() -> None:
        env = FileEnvironment("docs", path=tmp_path)
        await env.connect()
        got = Collector(stream(env, FAST))
        (tmp_path / "first.txt").write_text("x")
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "first.txt"))
        # what was there before the first connect raised no event
        assert {i.subject for i in got.items} == {str(tmp_path / "first.txt")}
        env._observer.stop()  # watchdog's thread ends, as if it had died
        await asyncio.to_thread(env._observer.join)
        # while nobody watches:
        (tmp_path / "a.txt").write_text("x")
        with open(tmp_path / "old.txt", "a") as f:
            f.write(" and more")
        os.remove(tmp_path / "gone.txt")
        os.rename(tmp_path / "ren.txt", tmp_path / "ren2.txt")
        seen = len(got.items)

        def rescanned(items: list[Any]) -> list[Event]:
            return [i for i in items[seen:] if isinstance(i, Event) and i.meta.get("rescan")]

        # (a debounced `modified` of first.txt may still come in between: not a gap event)
        items = await got.until(lambda items: len(rescanned(items)) >= 4)
        assert env.reconnects >= 1 and "observer stopped" in (env.last_error or "")
        gap = {(i.kind, i.subject): i for i in rescanned(items)}
        assert set(gap) == {("created", str(tmp_path / "a.txt")),
                            ("modified", str(tmp_path / "old.txt")),
                            ("deleted", str(tmp_path / "gone.txt")),
                            ("moved", str(tmp_path / "ren2.txt"))}
        others = {i.subject for i in items[seen:] if isinstance(i, Event)} - {
            i.subject for i in gap.values()}
        assert others <= {str(tmp_path / "first.txt")}   # the gap came from the rescan alone
        assert all(i.meta == {"rescan": True} for i in gap.values())
        assert gap[("moved", str(tmp_path / "ren2.txt"))].data["src"] == str(tmp_path / "ren.txt")
        (tmp_path / "b.txt").write_text("x")  # and the new watch runs
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "b.txt"))
        await got.stop()
        await env.close()

    asyncio.run(main())


def test_connect_to_a_missing_directory_is_a_connection_error(tmp_path: Path) -> None:
    async def main() -> None:
        env = FileEnvironment("docs", path=tmp_path / "nope")
        with pytest.raises(ConnectionError, match="does not exist"):
            await env.connect()
        assert (await env.observe())["paths"][str(tmp_path / "nope")] == {"exists": False}
        with pytest.raises(EnvironmentError, match="gave up after 2 attempts"):
            await call(env, env.observe, Backoff(first_s=0.01, attempts=2))

    asyncio.run(main())


def test_recursive_watch_and_observe(tmp_path: Path) -> None:
    async def main() -> None:
        env = FileEnvironment("tree", path=tmp_path, recursive=True, observe_limit=3)
        await env.connect()
        got = Collector(stream(env, FAST))
        await env.act("write", path="sub/deep/a.txt", content="abc")
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "HEAD").write_text("x")
        await env.act("write", path="z.txt", content="z")
        await got.until(lambda items: "closed" in kinds_of(items, tmp_path / "z.txt"))
        assert "created" in kinds_of(got.items, tmp_path / "sub" / "deep" / "a.txt")
        assert not kinds_of(got.items, tmp_path / ".git" / "HEAD")
        listing = (await env.observe())["paths"][str(tmp_path)]
        assert listing["truncated"] is True  # 3 entries looked at, more were there
        await got.stop()
        await env.close()

    asyncio.run(main())
