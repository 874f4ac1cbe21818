"""Topic subscriptions with MQTT-style wildcards: ``+`` one level, ``#`` the rest.

Example:
    >>> t = TopicMatcher()
    >>> t.subscribe("sensors/+/temp", "a"); t.subscribe("sensors/#", "b")
    >>> sorted(t.match("sensors/room1/temp")), sorted(t.match("sensors/x/y/z"))
    (['a', 'b'], ['b'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from messaging.errors import RaymasError

__all__ = ["ENVIRONMENT_PREFIX", "EVENTS_PREFIX", "HEARD_IF_WANTED", "TopicError",
           "TopicMatcher", "validate_pattern", "validate_topic"]

#: Task events of goals and plans are published under this prefix
#: (``raymas/events/plans/<plan>``, ``raymas/events/goals/<goal>``).
EVENTS_PREFIX = "raymas/events/"
#: What agents' environments observe is published under this prefix
#: (``env/<environment>/<event kind>``, see :mod:`interfaces.host`).
ENVIRONMENT_PREFIX = "env/"
#: Topics for whoever listens: with no subscriber they are counted, not dead-lettered.
HEARD_IF_WANTED = (EVENTS_PREFIX, ENVIRONMENT_PREFIX)


class TopicError(RaymasError):
    """A topic or pattern is malformed."""


def validate_topic(topic: str) -> list[str]:
    """Levels of a concrete topic (no wildcards allowed when publishing)."""
    if not isinstance(topic, str) or not topic:
        raise TopicError(f"topic must be a non-empty string, got {topic!r}")
    levels = topic.split("/")
    if any(level in ("+", "#") for level in levels):
        raise TopicError(f"cannot publish to a wildcard topic {topic!r}")
    return levels


def validate_pattern(pattern: str) -> list[str]:
    """Levels of a subscription pattern; ``#`` only last, wildcards only as whole levels."""
    if not isinstance(pattern, str) or not pattern:
        raise TopicError(f"pattern must be a non-empty string, got {pattern!r}")
    levels = pattern.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise TopicError(f"in {pattern!r}: '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise TopicError(f"in {pattern!r}: '+' must be a whole level")
    return levels


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    subscribers: set[str] = field(default_factory=set)


class TopicMatcher:
    """A trie of subscription patterns; matching costs O(levels * wildcards), not O(subs)."""

    def __init__(self) -> None:
        self._root = _Node()
        self._patterns: dict[str, set[str]] = {}

    def subscribe(self, pattern: str, subscriber: str) -> None:
        node = self._root
        for level in validate_pattern(pattern):
            node = node.children.setdefault(level, _Node())
        node.subscribers.add(subscriber)
        self._patterns.setdefault(subscriber, set()).add(pattern)

    def unsubscribe(self, pattern: str, subscriber: str) -> None:
        node = self._root
        for level in validate_pattern(pattern):
            node = node.children.get(level)  # type: ignore[assignment]
            if node is None:
                return
        node.subscribers.discard(subscriber)
        self._patterns.get(subscriber, set()).discard(pattern)

    def unsubscribe_all(self, subscriber: str) -> None:
        for pattern in list(self._patterns.pop(subscriber, ())):
            self._patterns[subscriber] = {pattern}
            self.unsubscribe(pattern, subscriber)
        self._patterns.pop(subscriber, None)

    def patterns(self, subscriber: str) -> set[str]:
        return set(self._patterns.get(subscriber, ()))

    def has(self, subscriber: str, pattern: str) -> bool:
        """Whether ``subscriber`` holds ``pattern``."""
        return pattern in self._patterns.get(subscriber, ())

    def match(self, topic: str) -> set[str]:
        """Every subscriber whose pattern matches ``topic``."""
        levels = validate_topic(topic)
        found: set[str] = set()
        frontier = [self._root]
        for level in levels:
            nxt = []
            for node in frontier:
                if "#" in node.children:
                    found |= node.children["#"].subscribers
                for key in (level, "+"):
                    child = node.children.get(key)
                    if child is not None:
                        nxt.append(child)
            frontier = nxt
        for node in frontier:
            found |= node.subscribers
            if "#" in node.children:  # 'a/#' also matches 'a'
                found |= node.children["#"].subscribers
        return found
