"""The files environment's pure parts: options, content parsing, path filters, debouncing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from interfaces import BadInput, EnvironmentError, Event, make_environment
from interfaces.file_rules import DEFAULT_IGNORE, Debouncer, PathFilter, parse_content
from interfaces.files import FileEnvironment


def test_it_is_registered_as_files(tmp_path: Path) -> None:
    env = make_environment("files", name="docs", path=str(tmp_path))
    assert isinstance(env, FileEnvironment)
    assert env.paths == [os.path.realpath(tmp_path)]
    assert env.patterns == ["*"] and env.ignore_patterns == list(DEFAULT_IGNORE)
    assert (env.recursive, env.debounce_s, env.read, env.max_bytes) == (False, 0.05, None, 1 << 20)


@pytest.mark.parametrize(("options", "message"), [
    ({}, "give paths .* or path, not neither"),
    ({"path": "/a", "paths": ["/b"]}, "not both"),
    ({"paths": []}, "paths must be non-empty directory names"),
    ({"paths": [""]}, "paths must be non-empty directory names"),
    ({"paths": [3]}, "paths must be non-empty directory names"),
    ({"path": "/a", "patterns": []}, "patterns is empty"),
    ({"path": "/a", "patterns": ["*.csv", ""]}, "patterns must be non-empty glob strings"),
    ({"path": "/a", "ignore_patterns": [None]}, "ignore_patterns must be non-empty glob"),
    ({"path": "/a", "debounce_s": -1}, "debounce_s must be a number >= 0, got -1"),
    ({"path": "/a", "debounce_s": "1"}, "debounce_s must be a number"),
    ({"path": "/a", "read": "xml"}, "read must be None or one of text, json, csv, got 'xml'"),
    ({"path": "/a", "max_bytes": 0}, "max_bytes must be a positive int, got 0"),
    ({"path": "/a", "observe_limit": True}, "observe_limit must be a positive int"),
])
def test_bad_options_are_refused_by_name(options: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvironmentError, match=message):
        FileEnvironment("docs", **options)


def test_one_path_or_one_pattern_may_be_given_as_a_string(tmp_path: Path) -> None:
    env = FileEnvironment("docs", paths=str(tmp_path), patterns="*.csv", ignore_patterns="x*")
    assert env.paths == [os.path.realpath(tmp_path)]
    assert (env.patterns, env.ignore_patterns) == (["*.csv"], ["x*"])


@pytest.mark.parametrize(("raw", "fmt", "value"), [
    (b"caf\xc3\xa9", "text", "café"),
    (b'{"a": [1, 2]}', "json", {"a": [1, 2]}),
    (b"7", "json", 7),
    (b"a,b\r\n1,2\r\n3,\"x,y\"\r\n", "csv", [{"a": "1", "b": "2"}, {"a": "3", "b": "x,y"}]),
    (b"a,b\n", "csv", []),
    (b"", "csv", []),
    (b"\x00\xff", "bytes", b"\x00\xff"),
])
def test_content_is_parsed(raw: bytes, fmt: str, value: Any) -> None:
    assert parse_content(raw, fmt) == value


@pytest.mark.parametrize(("raw", "fmt", "message"), [
    (b"{nope", "json", "malformed JSON"),
    (b"", "json", "malformed JSON"),
    (b"\xff", "json", "malformed JSON"),
    (b"\xff", "text", "not UTF-8 text"),
    (b"a,b\n1,2,3\n", "csv", "row 2 has 3 fields, the header has 2"),
    (b"a,b\n1,2\n3\n", "csv", "row 3 has 1 fields, the header has 2"),
    (b'a\n"unclosed\n', "csv", "malformed CSV"),
])
def test_malformed_content_says_what_was_wrong(raw: bytes, fmt: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_content(raw, fmt)


def test_the_path_filter_matches_names_and_ignores_editor_files() -> None:
    keep = PathFilter(["/w"], ["*"], DEFAULT_IGNORE, recursive=False)
    assert keep("/w/report.csv") and keep("/w/notes")
    for ignored in (".hidden", "a.tmp", "a~", "#a#", "a.swp", "a.part", ".a.csv.1234.tmp"):
        assert not keep(f"/w/{ignored}"), ignored
    only_csv = PathFilter(["/w"], ["*.csv", "data-*"], [], recursive=False)
    assert only_csv("/w/a.csv") and only_csv("/w/data-1") and not only_csv("/w/a.CSV")
    assert not only_csv("/w/a.csv.bak")


def test_a_recursive_filter_ignores_files_below_ignored_directories() -> None:
    keep = PathFilter(["/w", "/w2/deeper"], ["*"], [".*", "build"], recursive=True)
    assert keep("/w/a/b/c.txt") and keep("/w2/deeper/x/y.txt")
    assert not keep("/w/.git/objects/ab")
    assert not keep("/w/src/build/out.txt")
    assert keep("/w2/deeper/a.txt")
    flat = PathFilter(["/w"], ["*"], [".*"], recursive=False)
    assert flat("/w/.git/HEAD") is True  # only names are looked at without recursion


def modified(path: str, at: float) -> Event:
    return Event("docs", "modified", {"path": path}, subject=path, at=at)


def test_the_debouncer_sends_the_first_and_one_for_the_rest_of_the_window() -> None:
    d = Debouncer(0.5)
    first = modified("/a", 0.0)
    assert d.offer(first, now=0.0) is first
    assert d.offer(modified("/a", 0.1), now=0.1) is None
    last = modified("/a", 0.2)
    assert d.offer(last, now=0.2) is None
    assert d.next_due() == 0.5
    assert d.due(0.4) == []
    assert d.due(0.5) == [last]  # one event for the two held, the latest
    assert d.next_due() is None
    assert d.offer(modified("/a", 0.6), now=0.6) is None  # the trailing one counts as sent
    assert d.due(1.0) != []


def test_the_debouncer_keeps_paths_apart_and_a_close_supersedes_what_it_holds() -> None:
    d = Debouncer(0.5)
    assert d.offer(modified("/a", 0.0), now=0.0) is not None
    assert d.offer(modified("/b", 0.1), now=0.1) is not None  # another path: at once
    assert d.offer(modified("/a", 0.2), now=0.2) is None
    assert d.offer(modified("/b", 0.3), now=0.3) is None
    d.supersede("/a")  # a closed / moved / deleted of /a came first
    assert d.next_due() == 0.6
    assert [e.subject for e in d.due(1.0)] == ["/b"]


def test_a_modification_after_the_window_goes_at_once_and_drops_the_held_one() -> None:
    d = Debouncer(0.5)
    d.offer(modified("/a", 0.0), now=0.0)
    assert d.offer(modified("/a", 0.1), now=0.1) is None
    fresh = modified("/a", 0.7)
    assert d.offer(fresh, now=0.7) is fresh  # due() had not run yet: no stale one after it
    assert d.due(2.0) == []


def test_the_debouncer_forgets_old_paths() -> None:
    d = Debouncer(0.01)
    for i in range(5000):
        d.offer(modified(f"/f{i}", float(i)), now=float(i))
    assert len(d._sent) <= 4097


def test_actions_refuse_paths_outside_and_bad_content(tmp_path: Path) -> None:
    env = FileEnvironment("docs", path=tmp_path)

    async def main() -> None:
        with pytest.raises(EnvironmentError, match=r"path '\.\./x' is outside the watched"):
            await env.act("write", path="../x", content="x")
        with pytest.raises(BadInput, match="path must be a file path, got None"):
            await env.act("delete")
        with pytest.raises(BadInput, match="content must be str or bytes, not dict"):
            await env.act("write", path="a.json", content={"a": 1})
        with pytest.raises(BadInput, match="format must be one of"):
            await env.act("read", path="a.json", format="xml")
        with pytest.raises(EnvironmentError, match="did you mean 'write'"):
            await env.act("wrte", path="a")
        assert (await env.act("write", path="sub/a.bin", content=b"\x00"))["bytes"] == 1
        assert await env.act("read", path="sub/a.bin", format="bytes") == b"\x00"

    asyncio.run(main())
