"""Directories as an environment: file events from watchdog, content parsed on arrival,
writes that are atomic.

Options (keyword-only): ``paths`` (the directories to watch; or ``path``, one),
``patterns`` (globs a file's name must match, default ``["*"]``),
``ignore_patterns`` (default :data:`DEFAULT_IGNORE`: dot files, ``*.tmp``,
``*~``, ``#*#``, ``*.swp``, ``*.part``; with ``recursive`` a file below an
ignored directory name is ignored too), ``recursive`` (default False),
``debounce_s`` (0.05: see :class:`Debouncer`; 0 turns it off), ``read`` (None,
``"text"``, ``"json"`` or ``"csv"``: attach a complete file's content),
``max_bytes`` (the content limit, 1 MiB) and ``observe_limit`` (directory
entries :meth:`FileEnvironment.observe` looks at per directory, 10,000).

Events (files only; directories raise none), subject the absolute path, data a
dict with ``path``: ``created``, ``modified``, ``deleted`` (``moved_to`` when
renamed to a name not watched), ``closed`` (written and closed: inotify's
close-write) and ``moved`` (``src``, ``dest``; ``src`` is None when the file
came from outside the watched directories).  With ``read``, the events of a
complete file, ``closed`` and ``moved`` (the "write a temp name, then rename"
pattern), carry ``content`` (text: str; json: the value; csv: a list of row
dicts keyed by the header) and ``size``; content that cannot be read, is
malformed or is over ``max_bytes`` is a :class:`~interfaces.Rejected` naming
the file and the problem.

Actions: ``write`` (``path``, ``content`` str or bytes, ``atomic``: write a
hidden temp name then rename), ``read`` (``path``, ``format``: text, json, csv
or bytes), ``delete`` (``path``) and ``move`` (``src``, ``dest``).  A path is
relative to the first watched directory or absolute; one outside the watched
directories (symbolic links resolved) is refused.

Guarantees.  Events go from watchdog's thread to the event loop in batches (a
deque, and one ``call_soon_threadsafe`` wake-up when it starts to fill), so a
burst costs little per event.  Nothing is lost in a burst (10,000 files written
as fast as Python can are each reported once): when the kernel's inotify queue
overflows, the watched directories are rescanned (watchdog's
``DirectorySnapshot``) against the files this environment knows of; each file
created is still reported exactly once as ``created``, each file gone as
``deleted`` (a file that came and went during the overflow may go unreported),
and each file changed since the last scan as ``modified`` (possibly again);
those events carry ``meta={"rescan": True}`` (a rescan's ``created`` has no
content: read the file).  The watch is the connection: a watched directory
deleted or replaced, or watchdog's thread stopped, raises :class:`WatchLost`,
and :func:`interfaces.stream` watches again with back-off once the directory
is back; what changed in between is reported by the same rescan.  Only the
first connect takes the directories as it finds them, silently; each connect
rescans once its watch runs, so nothing that happened in between is missed.
A scan lists every watched directory: work in proportion to its files.
``counts`` has ``scans`` and ``overflows``.  ``closed`` events and overflow recovery are
inotify's (Linux); elsewhere watchdog's native observer gives the rest.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

from interfaces.base import BadInput, Environment, EnvironmentError, Event, Rejected, require
from interfaces.file_rules import (
    DEFAULT_IGNORE,
    READ_FORMATS,
    Debouncer,
    PathFilter,
    delete_file,
    inode_of,
    list_dir,
    move_file,
    parse_content,
    read_file,
    write_file,
)

__all__ = ["DEFAULT_IGNORE", "Debouncer", "FileEnvironment", "PathFilter", "WatchLost",
           "parse_content"]

logger = logging.getLogger(__name__)

#: how often ``events`` checks that the observer runs and the directories are the same
CHECK_S = 0.5


class WatchLost(ConnectionError):
    """A watched directory is gone or replaced, or the watchdog observer stopped."""


class _Lost:
    def __init__(self, reason: str) -> None:
        self.reason = reason


_SCAN = object()  # a marker through watchdog's queue, in order with the events: rescan here


class _Handler:
    """What watchdog's dispatcher thread calls; ignores events of an older watch."""

    def __init__(self, env: FileEnvironment, generation: int) -> None:
        self._env, self._generation = env, generation

    def dispatch(self, event: Any) -> None:
        if self._env._generation == self._generation:
            self._env._on_fs_event(event)


def _event_filter() -> list[Any]:
    ev = require("watchdog.events", "the files environment", extra="all")
    return [ev.FileCreatedEvent, ev.FileModifiedEvent, ev.FileDeletedEvent, ev.FileMovedEvent,
            ev.FileClosedEvent, ev.DirDeletedEvent]


class FileEnvironment(Environment):
    """Watched directories (see the module docstring)."""

    kind = "files"
    actions = ("write", "read", "delete", "move")
    connection_errors = (WatchLost, OSError)

    def __init__(self, name: str, *, paths: Iterable[str | os.PathLike[str]] | None = None,
                 path: str | os.PathLike[str] | None = None,
                 patterns: Sequence[str] | str = ("*",),
                 ignore_patterns: Sequence[str] | str = DEFAULT_IGNORE, recursive: bool = False,
                 debounce_s: float = 0.05, read: str | None = None, max_bytes: int = 1 << 20,
                 observe_limit: int = 10_000) -> None:
        super().__init__(name)
        where = f"files environment {name!r}"
        if (paths is None) == (path is None):
            raise EnvironmentError(f"{where}: give paths (a list of directories) or path, "
                                   f"not {'both' if path is not None else 'neither'}")
        given = [path] if path is not None else (
            [paths] if isinstance(paths, str | os.PathLike) else list(paths or ()))
        if not given or not all(isinstance(p, str | os.PathLike) and str(p) for p in given):
            raise EnvironmentError(f"{where}: paths must be non-empty directory names, "
                                   f"got {given!r}")
        self.paths = [os.path.realpath(p) for p in given]
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.ignore_patterns = ([ignore_patterns] if isinstance(ignore_patterns, str)
                                else list(ignore_patterns))
        for option, value in (("patterns", self.patterns), ("ignore_patterns",
                                                            self.ignore_patterns)):
            if not all(isinstance(p, str) and p for p in value):
                raise EnvironmentError(f"{where}: {option} must be non-empty glob strings, "
                                       f"got {value!r}")
        if not self.patterns:
            raise EnvironmentError(f"{where}: patterns is empty: nothing would be reported")
        if (isinstance(debounce_s, bool) or not isinstance(debounce_s, int | float)
                or debounce_s < 0):
            raise EnvironmentError(f"{where}: debounce_s must be a number >= 0, got {debounce_s!r}")
        if read is not None and read not in READ_FORMATS:
            raise EnvironmentError(f"{where}: read must be None or one of "
                                   f"{', '.join(READ_FORMATS)}, got {read!r}")
        for option, number in (("max_bytes", max_bytes), ("observe_limit", observe_limit)):
            if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
                raise EnvironmentError(f"{where}: {option} must be a positive int, got {number!r}")
        self.recursive, self.debounce_s, self.read = bool(recursive), float(debounce_s), read
        self.max_bytes, self.observe_limit = max_bytes, observe_limit
        self._match = PathFilter(self.paths, self.patterns, self.ignore_patterns,
                                 recursive=self.recursive)
        self._roots = frozenset(self.paths)
        self._observer: Any = None
        self._generation = 0
        self._root_ids: dict[str, tuple[int, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._signalled = False
        self._items: collections.deque[Event | Rejected | _Lost] = collections.deque()
        self._debounce = Debouncer(self.debounce_s) if self.debounce_s > 0 else None
        # the dispatcher thread's own state: files known to exist, the last scan, and
        # the files a rescan reported (path -> inode) whose own event may still come
        self._known: set[str] = set()
        self._last_scan: dict[str, Any] | None = None
        self._rescanned: dict[str, tuple[int, int]] = {}

    # -- the connection ---------------------------------------------------------

    async def connect(self) -> None:
        if self._observer is not None:
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._wake = loop, asyncio.Event()
        self._items = collections.deque(i for i in self._items if not isinstance(i, _Lost))
        self._signalled = False
        self._observer = await asyncio.to_thread(self._start)
        self.state = "connected"

    def _start(self) -> Any:
        observers = require("watchdog.observers", "the files environment", extra="all")
        ids = {}
        for root in self.paths:
            try:
                st = os.stat(root)
            except FileNotFoundError as exc:
                raise WatchLost(f"watched directory {root} does not exist") from exc
            if not stat.S_ISDIR(st.st_mode):
                raise WatchLost(f"watched path {root} is not a directory")
            ids[root] = (st.st_dev, st.st_ino)
        if self._last_scan is None:  # the first connect takes the directories as they are
            self._last_scan, files = self._list()
            self._known = set(files)
        cls = observers.Observer
        inotify = cls.__name__ == "InotifyObserver"
        observer = cls(generate_full_events=True) if inotify else cls()
        self._generation += 1
        handler = _Handler(self, self._generation)
        try:
            watches = [observer.schedule(handler, root, recursive=self.recursive,
                                         event_filter=_event_filter()) for root in self.paths]
            if inotify:
                self._hook_overflow(observer, watches[0])
            observer.start()
        except OSError as exc:
            _shutdown(observer)
            raise WatchLost(f"cannot watch {', '.join(self.paths)}: {exc}") from exc
        self._root_ids = ids
        observer.event_queue.put((_SCAN, watches[0]))
        return observer

    def _hook_overflow(self, observer: Any, watch: Any) -> None:
        """Put a rescan marker in the event queue when the kernel's queue overflows
        (watchdog only logs it and drops the events it has not passed on)."""
        fd = getattr(observer, "_inotify_fd", None)
        if fd is None:  # another watchdog: no overflow to hear of
            logger.warning("files environment %r: watchdog's inotify has no _inotify_fd; "
                           "a queue overflow will not trigger a rescan", self.name)
            return
        handle = fd.handle_event

        def handle_event(event: Any) -> None:
            handle(event)
            if event.is_queue_overflow:
                self.counts["overflows"] += 1
                observer.event_queue.put((_SCAN, watch))

        fd.handle_event = handle_event

    async def close(self) -> None:
        observer, self._observer = self._observer, None
        self.state = "disconnected"
        if observer is not None:
            self._generation += 1
            await asyncio.to_thread(_shutdown, observer)

    # -- watchdog's dispatcher thread -----------------------------------------

    def _push(self, item: Event | Rejected | _Lost) -> None:
        self._items.append(item)
        if not self._signalled:
            self._signalled = True
            try:
                self._loop.call_soon_threadsafe(self._wake.set)  # type: ignore[union-attr]
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass

    def _on_fs_event(self, ev: Any) -> None:
        if ev is _SCAN:
            self._scan()
            return
        kind = ev.event_type
        if ev.is_directory:
            if kind == "deleted" and ev.src_path in self._roots:
                self._push(_Lost(f"watched directory {ev.src_path} was deleted"))
            return
        if kind == "moved":
            self._moved(ev.src_path, ev.dest_path)
            return
        path = ev.src_path
        if not self._match(path):
            return
        if kind == "created":
            ino = self._rescanned.pop(path, None) if self._rescanned else None
            if ino is not None and inode_of(path) in (ino, None):
                return  # the rescan reported it already
            self._known.add(path)
            self._push(Event(self.name, "created", {"path": path}, subject=path))
        elif kind == "deleted":
            if path not in self._known:
                return  # a rescan reported it already, or it was never seen
            self._known.discard(path)
            self._rescanned.pop(path, None)
            self._push(Event(self.name, "deleted", {"path": path}, subject=path))
        elif kind == "closed":
            self._push(self._complete("closed", {"path": path}))
        elif kind == "modified":
            self._push(Event(self.name, "modified", {"path": path}, subject=path))

    def _moved(self, src: str, dest: str) -> None:
        src_ok, dest_ok = bool(src) and self._match(src), bool(dest) and self._match(dest)
        if src_ok:
            self._known.discard(src)
            self._rescanned.pop(src, None)
        if dest_ok:
            self._known.add(dest)
            self._push(self._complete("moved", {"path": dest, "src": src or None, "dest": dest}))
        elif src_ok:
            self._push(Event(self.name, "deleted", {"path": src, "moved_to": dest or None},
                             subject=src))

    def _complete(self, kind: str, data: dict[str, Any], **meta: Any) -> Event | Rejected:
        """The event of a complete file, with its content when ``read`` is set."""
        path = data["path"]
        if self.read is not None:
            try:
                raw, data["content"] = read_file(path, self.read, self.max_bytes)
            except BadInput as exc:
                return Rejected(self.name, f"{path}: {exc}", raw=getattr(exc, "raw", b"")[:4096],
                                subject=path)
            data["size"] = len(raw)
        return Event(self.name, kind, data, subject=path, meta=meta)

    def _list(self) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
        """A ``DirectorySnapshot`` per watched directory, and the files to report in them
        (path -> inode)."""
        snapshots = require("watchdog.utils.dirsnapshot", "the files environment", extra="all")
        scan = {root: snapshots.DirectorySnapshot(root, recursive=self.recursive)
                for root in self.paths}
        self.counts["scans"] += 1
        return scan, {p: snap.inode(p) for snap in scan.values() for p in snap.paths
                      if not snap.isdir(p) and self._match(p)}

    def _scan(self) -> None:
        """Report what the events missed (before the watch began, in an overflow, while
        the watch was lost) against the files known, as ``rescan`` events."""
        diffs = require("watchdog.utils.dirsnapshot", "the files environment", extra="all")
        try:
            scan, files = self._list()
        except OSError as exc:
            self._push(_Lost(f"cannot list the watched directories: {exc}"))
            return
        last, self._last_scan = self._last_scan or {}, scan
        gone, new = self._known - files.keys(), files.keys() - self._known
        modified = []
        for root, snap in scan.items():
            if root in last:
                diff = diffs.DirectorySnapshotDiff(last[root], snap)
                for src, dest in diff.files_moved:
                    if src in gone and dest in new:
                        gone.discard(src)
                        new.discard(dest)
                        self._push(self._complete("moved", {"path": dest, "src": src,
                                                            "dest": dest}, rescan=True))
                modified.extend(diff.files_modified)
        self._known = set(files)
        self._rescanned = {p: files[p] for p in new}
        for p in sorted(new):
            self._push(Event(self.name, "created", {"path": p}, subject=p, meta={"rescan": True}))
        for p in sorted(gone):
            self._push(Event(self.name, "deleted", {"path": p}, subject=p, meta={"rescan": True}))
        for p in modified:
            if p in files and p not in new:
                self._push(Event(self.name, "modified", {"path": p}, subject=p,
                                 meta={"rescan": True}))

    # -- the event loop side ------------------------------------------------------

    async def events(self) -> AsyncIterator[Event | Rejected]:
        if self._observer is None:
            raise WatchLost(f"files environment {self.name!r} is not connected")
        loop = asyncio.get_running_loop()
        items, wake = self._items, self._wake
        debounce = self._debounce
        next_check = loop.time() + CHECK_S
        while True:
            while items:
                item = items.popleft()
                if isinstance(item, _Lost):
                    raise WatchLost(item.reason)
                if debounce is not None and isinstance(item, Event):
                    if item.kind == "modified":
                        if debounce.offer(item, loop.time()) is None:
                            continue
                    elif item.kind != "created":
                        debounce.supersede(item.subject)
                yield item
            now = loop.time()
            if debounce is not None:
                for item in debounce.due(now):
                    yield item
            if now >= next_check:
                self._check_watch()
                next_check = now + CHECK_S
            wake.clear()
            self._signalled = False
            if items:
                continue
            due = debounce.next_due() if debounce is not None else None
            try:
                async with asyncio.timeout(min(next_check, due or next_check) - loop.time()):
                    await wake.wait()
            except TimeoutError:
                pass

    def _check_watch(self) -> None:
        observer = self._observer
        if observer is None or not observer.is_alive() or not all(
                e.is_alive() for e in observer.emitters):
            raise WatchLost(f"files environment {self.name!r}: the watchdog observer stopped")
        for root, ident in self._root_ids.items():
            try:
                st = os.stat(root)
            except FileNotFoundError as exc:
                raise WatchLost(f"watched directory {root} is gone") from exc
            if (st.st_dev, st.st_ino) != ident:
                raise WatchLost(f"watched directory {root} was replaced")

    # -- observe and act -----------------------------------------------------------

    async def observe(self) -> dict[str, Any]:
        """Per watched directory: matching files, their bytes, the newest mtime (looking
        at no more than ``observe_limit`` entries: ``truncated`` says when it stopped)."""
        return await asyncio.to_thread(self._observe)

    def _observe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for root in self.paths:
            try:
                out[root] = list_dir(root, self.recursive, self.observe_limit, self._match)
            except (FileNotFoundError, NotADirectoryError):
                out[root] = {"exists": False}
        return {"paths": out, "watching": self._observer is not None}

    def _inside(self, path: Any, what: str = "path") -> str:
        if not isinstance(path, str | os.PathLike) or not str(path):
            raise BadInput(f"{what} must be a file path, got {path!r}")
        real = os.path.realpath(os.path.join(self.paths[0], path))
        if any(real.startswith(root + os.sep) for root in self.paths):
            return real
        raise EnvironmentError(f"files environment {self.name!r}: {what} {str(path)!r} is outside "
                               f"the watched directories ({', '.join(self.paths)})")

    async def _act(self, action: str, args: dict[str, Any]) -> Any:
        if action == "move":
            src, dest = self._inside(args.get("src"), "src"), self._inside(args.get("dest"), "dest")
            return await self._run(action, src, move_file, src, dest)
        target = self._inside(args.get("path"))
        if action == "write":
            content, atomic = args.get("content"), bool(args.get("atomic", False))
            if isinstance(content, str):
                content = content.encode()
            if not isinstance(content, bytes | bytearray):
                raise BadInput(f"write: content must be str or bytes, not {type(content).__name__}")
            return await self._run(action, target, write_file, target, bytes(content), atomic)
        if action == "read":
            fmt = args.get("format") or self.read or "text"
            if fmt not in (*READ_FORMATS, "bytes"):
                raise BadInput(f"read: format must be one of text, json, csv, bytes; got {fmt!r}")
            try:
                return (await self._run(action, target, read_file, target, fmt, self.max_bytes))[1]
            except BadInput as exc:
                raise BadInput(f"read {target}: {exc}") from exc
        return await self._run(action, target, delete_file, target)

    async def _run(self, action: str, target: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:  # not a lost connection: the file's own trouble
            raise EnvironmentError(f"files environment {self.name!r}: {action} {target}: "
                                   f"{exc.strerror or exc}") from exc


def _shutdown(observer: Any) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join(timeout=5.0)
