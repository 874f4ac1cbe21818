"""The file environment's pure parts: which paths count, debouncing, reading content,
and the file operations its actions run (in a thread).

Nothing here touches watchdog or the event loop; :mod:`interfaces.files` builds
the environment from these.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from interfaces.base import BadInput, Event

__all__ = ["DEFAULT_IGNORE", "READ_FORMATS", "Debouncer", "PathFilter", "delete_file",
           "glob_matcher", "inode_of", "list_dir", "move_file", "parse_content", "read_file",
           "write_file"]

#: editor and temporary files nobody wants events for
DEFAULT_IGNORE = (".*", "*.tmp", "*~", "#*#", "*.swp", "*.part")
READ_FORMATS = ("text", "json", "csv")


def parse_content(raw: bytes, fmt: str) -> Any:
    """``raw`` as ``fmt`` (text, json, csv or bytes), or :class:`BadInput` saying why not.

    >>> parse_content(b"a,b\\n1,2\\n", "csv")
    [{'a': '1', 'b': '2'}]
    >>> parse_content(b"a,b\\n1\\n", "csv")
    Traceback (most recent call last):
    ...
    interfaces.base.BadInput: malformed CSV: row 2 has 1 fields, the header has 2
    """
    if fmt == "bytes":
        return raw
    if fmt == "json":
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"malformed JSON: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"not UTF-8 text: {exc}") from exc
    if fmt == "text":
        return text
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise BadInput(f"malformed CSV: {exc}") from exc
    if not rows:
        return []
    header = rows[0]
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BadInput(f"malformed CSV: row {n} has {len(row)} fields, "
                           f"the header has {len(header)}")
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def read_file(path: str, fmt: str, max_bytes: int) -> tuple[bytes, Any]:
    """The bytes of ``path`` and their content as ``fmt``; :class:`BadInput` if unreadable,
    over ``max_bytes`` or malformed (the bytes ride on the error as ``raw``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise BadInput(f"cannot be read: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise BadInput(f"over the limit of {max_bytes} bytes")
    try:
        return raw, parse_content(raw, fmt)
    except BadInput as exc:
        exc.raw = raw  # type: ignore[attr-defined]
        raise


def glob_matcher(patterns: Sequence[str]) -> Callable[[str], Any] | None:
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


class PathFilter:
    """Whether a path is one to report: its name matches ``patterns`` and no ignore
    pattern, and (with ``recursive``) no directory below its root is ignored.

    >>> f = PathFilter(["/d"], ["*.csv"], [".*"], recursive=True)
    >>> f("/d/a.csv"), f("/d/.a.csv"), f("/d/.git/a.csv"), f("/d/a.txt")
    (True, False, False, False)
    """

    def __init__(self, roots: Sequence[str], patterns: Sequence[str],
                 ignore: Sequence[str], *, recursive: bool) -> None:
        self._roots = sorted((r.rstrip(os.sep) + os.sep for r in roots), key=len, reverse=True)
        self._match = None if list(patterns) == ["*"] else glob_matcher(patterns)
        self._ignore = glob_matcher(ignore)
        self._recursive = recursive

    def __call__(self, path: str) -> bool:
        head, _, name = path.rpartition(os.sep)
        ignore, match = self._ignore, self._match
        if (ignore is not None and ignore(name)) or (match is not None and not match(name)):
            return False
        if self._recursive and ignore is not None:
            for root in self._roots:
                if path.startswith(root):
                    rel = head[len(root):]
                    return not rel or not any(ignore(part) for part in rel.split(os.sep))
        return True


class Debouncer:
    """Coalesces repeated ``modified`` events of one path within ``window_s``.

    The first goes out at once; later ones within the window of the last sent are
    held, and the latest held goes out when the window ends (one event for the
    lot), unless a ``closed``, ``moved`` or ``deleted`` of the path comes first
    (:meth:`supersede`): it says more than a late ``modified``.  Times are the
    caller's clock.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._sent: dict[str, float] = {}
        self._held: dict[str, Event] = {}

    def offer(self, event: Event, now: float) -> Event | None:
        """``event`` to send now, or None when it is held."""
        path = event.subject
        sent = self._sent.get(path)
        if sent is not None and now - sent < self.window_s:
            self._held[path] = event
            return None
        self._held.pop(path, None)
        self._sent[path] = now
        if len(self._sent) > 4096:
            self._sent = {p: t for p, t in self._sent.items()
                          if now - t < self.window_s or p in self._held}
        return event

    def supersede(self, path: str) -> None:
        self._held.pop(path, None)

    def due(self, now: float) -> list[Event]:
        """The held events whose window has ended (they count as sent now)."""
        out = []
        for path in [p for p in self._held if now - self._sent[p] >= self.window_s]:
            out.append(self._held.pop(path))
            self._sent[path] = now
        return out

    def next_due(self) -> float | None:
        return min(self._sent[p] for p in self._held) + self.window_s if self._held else None


def list_dir(root: str, recursive: bool, limit: int, keep: Callable[[str], bool]
             ) -> dict[str, Any]:
    files = size = seen = 0
    newest: float | None = None
    stack = [root]
    while stack and seen <= limit:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            if folder == root:
                raise
            continue  # a subdirectory that went away meanwhile
        with entries:
            for entry in entries:
                seen += 1
                if seen > limit:
                    break
                try:
                    if entry.is_dir():
                        if recursive:
                            stack.append(entry.path)
                    elif keep(entry.path):
                        st = entry.stat()
                        files, size = files + 1, size + st.st_size
                        newest = st.st_mtime if newest is None else max(newest, st.st_mtime)
                except FileNotFoundError:
                    continue
    return {"exists": True, "files": files, "bytes": size, "newest_mtime": newest,
            "truncated": seen > limit or bool(stack)}


def inode_of(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev)


def write_file(path: str, content: bytes, atomic: bool) -> dict[str, Any]:
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp") if atomic else path
    with open(target, "wb") as f:
        f.write(content)
    if atomic:
        os.replace(target, path)
    return {"path": path, "bytes": len(content), "at": time.time()}


def delete_file(path: str) -> dict[str, Any]:
    try:
        os.remove(path)
    except FileNotFoundError:
        return {"path": path, "deleted": False}
    return {"path": path, "deleted": True}


def move_file(src: str, dest: str) -> dict[str, Any]:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.replace(src, dest)
    return {"src": src, "dest": dest}
