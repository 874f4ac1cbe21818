"""The root of raymas's errors, and the few every package raises.

This module sits in the bottom package (messaging: every other package builds
on it), so any package can raise these without importing one above it; each
package keeps its own errors in its own ``errors`` module, rooted here.  Fields
are passed to ``super().__init__`` so the exceptions pickle across actor
boundaries: Ray re-raises an actor's exception in the caller with its own type.
"""

from __future__ import annotations

__all__ = ["AuthError", "ConfigError", "RaymasError", "SecurityError", "UnknownNameError",
           "did_you_mean"]


class RaymasError(Exception):
    """Root of every error raised by raymas on purpose."""


class SecurityError(RaymasError):
    """An envelope could not be opened: unknown key, wrong key or tampered."""


class AuthError(RaymasError):
    """An identity token is missing, expired, forged or for someone else."""


class ConfigError(RaymasError):
    """The configuration is invalid; ``problems`` lists ``(key path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {msg}" for path, msg in problems)
        super().__init__(source, problems)
        self._text = f"invalid configuration in {source}:\n{lines}"

    def __str__(self) -> str:
        return self._text

    def __reduce__(self) -> tuple[type, tuple[str, list[tuple[str, str]]]]:
        return (type(self), (self.source, self.problems))


def did_you_mean(name: str, known: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known``, or nothing."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class UnknownNameError(RaymasError):
    """A lookup by name (a benchmark, a bandit kind, a topology...) found nothing.

    Packages subclass it together with their own error, e.g.
    ``class UnknownNameError(SwarmError, messaging.errors.UnknownNameError)``.
    """

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(kind, name, known)

    def __str__(self) -> str:
        return (f"unknown {self.kind} {self.name!r}{did_you_mean(self.name, self.known)} "
                f"(known: {', '.join(self.known)})")
