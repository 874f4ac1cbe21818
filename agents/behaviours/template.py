"""Message templates: which envelopes a behaviour receives.

A :class:`Template` constrains some fields of an :class:`~messaging.envelope.Envelope`
(``None`` means any value); templates combine with ``&`` (both), ``|`` (either),
``^`` (exactly one) and ``~`` (not), as SPADE's do.  ``topic`` is an MQTT-style
pattern (``+`` one level, ``#`` the rest) matched with :mod:`messaging.topics`.

Example:
    >>> from messaging.envelope import Envelope
    >>> alarms = Template(topic="sensors/+/alarm", performative="inform")
    >>> boss = Template(sender="boss")
    >>> env = Envelope.new("s1", topic="sensors/room1/alarm")
    >>> alarms.match(env), (alarms & boss).match(env), (alarms & ~boss).match(env)
    (True, False, True)
    >>> (boss | Template(recipient="me")).match(Envelope.new("x", recipient="me"))
    True
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from agents.behaviours.base import BehaviourError
from messaging.envelope import Envelope, Performative
from messaging.errors import did_you_mean
from messaging.topics import TopicError, TopicMatcher

__all__ = ["AndTemplate", "BaseTemplate", "NotTemplate", "OrTemplate", "Template",
           "TemplateError", "XorTemplate"]


class TemplateError(BehaviourError):
    """A template was built with a bad field; the message names it."""


class BaseTemplate(abc.ABC):
    """Something that says yes or no to an envelope; combinable with ``& | ^ ~``."""

    @abc.abstractmethod
    def match(self, envelope: Envelope) -> bool:
        """Whether ``envelope`` fits this template."""

    def __and__(self, other: BaseTemplate) -> AndTemplate:
        return AndTemplate(self, _template(other, "&"))

    def __or__(self, other: BaseTemplate) -> OrTemplate:
        return OrTemplate(self, _template(other, "|"))

    def __xor__(self, other: BaseTemplate) -> XorTemplate:
        return XorTemplate(self, _template(other, "^"))

    def __invert__(self) -> NotTemplate:
        return NotTemplate(self)


def _template(value: object, op: str) -> BaseTemplate:
    if not isinstance(value, BaseTemplate):
        raise TemplateError(f"cannot combine a template with {type(value).__name__} "
                            f"using {op!r}; both sides must be templates")
    return value


class AndTemplate(BaseTemplate):
    """Matches when both templates match."""

    def __init__(self, left: BaseTemplate, right: BaseTemplate) -> None:
        self.left, self.right = left, right

    def match(self, envelope: Envelope) -> bool:
        return self.left.match(envelope) and self.right.match(envelope)

    def __repr__(self) -> str:
        return f"({self.left!r} & {self.right!r})"


class OrTemplate(BaseTemplate):
    """Matches when either template matches."""

    def __init__(self, left: BaseTemplate, right: BaseTemplate) -> None:
        self.left, self.right = left, right

    def match(self, envelope: Envelope) -> bool:
        return self.left.match(envelope) or self.right.match(envelope)

    def __repr__(self) -> str:
        return f"({self.left!r} | {self.right!r})"


class XorTemplate(BaseTemplate):
    """Matches when exactly one of the two templates matches."""

    def __init__(self, left: BaseTemplate, right: BaseTemplate) -> None:
        self.left, self.right = left, right

    def match(self, envelope: Envelope) -> bool:
        return self.left.match(envelope) != self.right.match(envelope)

    def __repr__(self) -> str:
        return f"({self.left!r} ^ {self.right!r})"


class NotTemplate(BaseTemplate):
    """Matches when the template does not."""

    def __init__(self, inner: BaseTemplate) -> None:
        self.inner = inner

    def match(self, envelope: Envelope) -> bool:
        return not self.inner.match(envelope)

    def __repr__(self) -> str:
        return f"~{self.inner!r}"


def _optional_str(field: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise TemplateError(f"Template field {field!r}: expected a non-empty string or None, "
                            f"got {value!r}")
    return value


class Template(BaseTemplate):
    """Fields an envelope must have; a field left None matches any value.

    Args:
        sender: the exact sender.
        recipient: the exact recipient (a published envelope has none, so never matches).
        topic: an MQTT-style pattern, e.g. ``"sensors/+/temp"`` or ``"alerts/#"``
            (a direct envelope has no topic, so never matches).
        performative: a :class:`~messaging.envelope.Performative` or its value.
        headers: header values the envelope must carry (others may be there too).

    Raises:
        TemplateError: a field of the wrong type, an unknown performative or a
            malformed topic pattern.

    Example:
        >>> from messaging.envelope import Envelope
        >>> t = Template(performative="request", headers={"lang": "en"})
        >>> t.match(Envelope.new("a", recipient="b", performative="request",
        ...                      headers={"lang": "en", "x": "1"}))
        True
        >>> Template(performative="requets")
        Traceback (most recent call last):
        ...
        agents.behaviours.template.TemplateError: Template field 'performative': unknown \
performative 'requets'; did you mean 'request'?
    """

    def __init__(self, sender: str | None = None, recipient: str | None = None,
                 topic: str | None = None, performative: Performative | str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.sender = _optional_str("sender", sender)
        self.recipient = _optional_str("recipient", recipient)
        self.topic = _optional_str("topic", topic)
        self.performative = _performative(performative)
        if headers is None:
            headers = {}
        if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise TemplateError(f"Template field 'headers': expected a mapping of strings to "
                                f"strings, got {headers!r}")
        self.headers: dict[str, str] = dict(headers)
        self._topics: TopicMatcher | None = None
        if self.topic is not None:
            self._topics = TopicMatcher()
            try:
                self._topics.subscribe(self.topic, "template")
            except TopicError as exc:
                raise TemplateError(f"Template field 'topic': {exc}") from exc

    def match(self, envelope: Envelope) -> bool:
        if self.sender is not None and envelope.sender != self.sender:
            return False
        if self.recipient is not None and envelope.recipient != self.recipient:
            return False
        if self.performative is not None and envelope.performative != self.performative:
            return False
        if self.headers and any(envelope.headers.get(k) != v for k, v in self.headers.items()):
            return False
        if self._topics is not None:
            return self._topic_matches(envelope.topic)
        return True

    def _topic_matches(self, topic: str | None) -> bool:
        assert self._topics is not None  # checked by the caller
        if topic is None:
            return False
        try:
            return bool(self._topics.match(topic))
        except TopicError:
            # an envelope "published" to a wildcard names no concrete topic: no match
            return False

    def _fields(self) -> dict[str, object]:
        return {k: v for k, v in (("sender", self.sender), ("recipient", self.recipient),
                                  ("topic", self.topic), ("performative", self.performative),
                                  ("headers", self.headers or None)) if v is not None}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable headers: not hashable

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"Template({inner})"


def _performative(value: Performative | str | None) -> Performative | None:
    if value is None or isinstance(value, Performative):
        return value
    if isinstance(value, str):
        try:
            return Performative(value)
        except ValueError:
            known = [p.value for p in Performative]
            raise TemplateError(f"Template field 'performative': unknown performative "
                                f"{value!r}{did_you_mean(value, known)}") from None
    raise TemplateError(f"Template field 'performative': expected a Performative or its "
                        f"value, got {value!r}")
