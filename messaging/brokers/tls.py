"""TLS settings for the broker clients, checked where they enter.

:class:`TLSOptions` is what a user writes under a broker's ``tls`` option: the
CA to trust (else the system's), a client certificate and key for mutual TLS
(both or neither), whether to verify the server's certificate and its name,
and the lowest protocol version.  :meth:`TLSOptions.context` builds the
:class:`ssl.SSLContext` the clients use.  The files are checked when the
context is built, in the process that connects, not when the options are
parsed: a bridge actor may run on another node than the driver that read the
configuration.  Every broker builds one context when it is constructed, so a
missing or unusable file stops it there with a :class:`~messaging.errors.ConfigError`
naming the field, before it ever connects.

``verify: false`` turns off both certificate and host name checks (Python's
``ssl`` cannot check a name without a verified certificate), so
``check_hostname`` only matters while ``verify`` is on.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from messaging.brokers.base import BrokerError
from messaging.errors import ConfigError

__all__ = ["TLSOptions", "raise_if_refused", "refused_certificate", "tls_options"]

SOURCE = "TLS options"
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class TLSOptions(BaseModel):
    """How a broker client speaks TLS (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    check_hostname: bool = True
    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"

    @model_validator(mode="after")
    def _client_pair(self) -> TLSOptions:
        if (self.cert_file is None) != (self.key_file is None):
            given, missing = (("cert_file", "key_file") if self.cert_file is not None
                              else ("key_file", "cert_file"))
            raise ValueError(f"cert_file and key_file go together (the client certificate "
                             f"for mutual TLS): {given} is set but {missing} is not")
        return self

    @property
    def hostname_checked(self) -> bool:
        """Whether the server's name is checked: only while its certificate is verified."""
        return self.verify and self.check_hostname

    @property
    def tls_version(self) -> ssl.TLSVersion:
        """``min_version`` as :class:`ssl.TLSVersion`."""
        return _VERSIONS[self.min_version]

    def context(self) -> ssl.SSLContext:
        """A client context: the CA (or the system's), the client certificate if any.

        Raises :class:`~messaging.errors.ConfigError` naming the field whose file is
        missing or unusable.
        """
        for field in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, field)
            if path is not None and not os.path.isfile(path):
                raise ConfigError(SOURCE, [(field, f"no such file: {path!r}")])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = self.tls_version
        ctx.check_hostname = self.hostname_checked
        ctx.verify_mode = ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE
        if self.ca_file is not None:
            try:
                ctx.load_verify_locations(cafile=self.ca_file)
            except (OSError, ValueError) as exc:
                raise ConfigError(SOURCE, [("ca_file", f"cannot load CA certificates from "
                                                       f"{self.ca_file!r}: {exc}")]) from None
        elif self.verify:
            ctx.load_default_certs()
        if self.cert_file is not None:
            try:
                ctx.load_cert_chain(certfile=self.cert_file, keyfile=self.key_file)
            except (OSError, ValueError) as exc:
                raise ConfigError(SOURCE, [("cert_file, key_file", (
                    f"cannot load the client certificate {self.cert_file!r} with key "
                    f"{self.key_file!r}: {exc}"))]) from None
        return ctx


def tls_options(value: TLSOptions | Mapping[str, Any] | None) -> TLSOptions | None:
    """``value`` as :class:`TLSOptions`: None stays None (no TLS); a mapping is
    validated (an empty one means TLS with the defaults).  A bad one raises
    :class:`~messaging.errors.ConfigError` listing each field's problem."""
    if value is None or isinstance(value, TLSOptions):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(SOURCE, [("(top level)", f"expected a mapping of TLS settings, got "
                                                   f"{type(value).__name__}")])
    try:
        return TLSOptions.model_validate(dict(value))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or "(top level)"
            problems.append((field, err["msg"].removeprefix("Value error, ")))
        raise ConfigError(SOURCE, problems) from None


def refused_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a client library's connection
    error (its cause, context or arguments, however deep), if that is what it was."""
    stack, seen = [exc], set()
    while stack:
        err = stack.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ssl.SSLCertVerificationError):
            return err
        stack.extend(e for e in (err.__cause__, err.__context__) if e is not None)
        for arg in err.args:
            items = arg if isinstance(arg, list | tuple) else (arg,)
            stack.extend(a for a in items if isinstance(a, BaseException))
    return None


def raise_if_refused(broker: str, where: str, exc: BaseException) -> None:
    """Raise :class:`BrokerError` at once when ``exc`` is a refused server certificate:
    retrying cannot fix it, so :func:`~messaging.brokers.base.ensure` must not."""
    refused = refused_certificate(exc)
    if refused is not None:
        raise BrokerError(f"{broker}: the TLS certificate of {where} was refused: "
                          f"{refused.verify_message or refused} (check tls.ca_file, and "
                          f"that the server's certificate names the host connected to)"
                          ) from exc
