"""The ``serve:`` section of config.yaml: where the HTTP API listens and how it is guarded.

Typed and checked once, like every section (see :mod:`cluster.config`).  Ray
Serve's own knobs (``HTTPOptions``, autoscaling) are derived from it here, so
the rest of the API never reads raw settings.

Example:
    >>> s = ServeSection.model_validate({"port": 8080, "replicas": {"min": 1, "max": 3}})
    >>> s.autoscaling_config()["max_replicas"]
    3
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ByteSize, ConfigDict, Field, SecretStr, model_validator

from cluster.api.auth import AuthSettings

__all__ = ["ReplicaSettings", "ServeSection", "TLSSettings"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplicaSettings(_Section):
    """How many API replicas Serve runs: ``min == max`` is a fixed number, else autoscaling."""

    min: int = Field(1, ge=1, le=64)
    max: int = Field(1, ge=1, le=64)
    target_ongoing_requests: float = Field(8.0, gt=0, description=(
        "per replica; Serve adds replicas when the average is above it"))
    max_ongoing_requests: int = Field(64, ge=1, description=(
        "per replica; more wait in the proxy's queue (back-pressure, not 500s)"))

    @model_validator(mode="after")
    def _ordered(self) -> ReplicaSettings:
        if self.min > self.max:
            raise ValueError(f"replicas.min ({self.min}) must not exceed replicas.max "
                             f"({self.max})")
        return self


class TLSSettings(_Section):
    """HTTPS for the API: a PEM certificate chain and its private key."""

    certfile: str
    keyfile: str
    keyfile_password: SecretStr | None = None

    @model_validator(mode="after")
    def _files_exist(self) -> TLSSettings:
        for name in ("certfile", "keyfile"):
            path = getattr(self, name)
            if not Path(path).is_file():
                raise ValueError(f"tls.{name}: no such file {path!r}")
        return self


class ServeSection(_Section):
    """``raymas serve``: the HTTP API on Ray Serve (see docs/http-api.md)."""

    host: str = Field("127.0.0.1", description="address the Serve proxy binds")
    port: int = Field(8000, ge=1, le=65535)
    app_name: str = Field("raymas-api", pattern=r"^[A-Za-z0-9_.-]+$")
    replicas: ReplicaSettings = Field(default_factory=ReplicaSettings)  # type: ignore[arg-type]
    tls: TLSSettings | None = None
    auth: AuthSettings = Field(default_factory=AuthSettings)
    max_body_bytes: ByteSize = Field(ByteSize(1 << 20), ge=1024, description=(
        "larger request bodies are refused with 413"))
    request_timeout_s: float = Field(60.0, gt=0, description="Serve proxy's request timeout")
    wait_max_s: float = Field(30.0, ge=0, description="longest ?wait= a request may ask for")
    stream_max_s: float = Field(3600.0, gt=0, description="longest life of one event stream")
    stream_buffer: int = Field(10_000, ge=100, description="bus messages the stream tap keeps")
    audit_url: str | None = Field(None, pattern=r"^(sqlite:///|postgres(ql)?://)", description=(
        "where the audit log lives; default: the ledger's database"))
    result_cache: int = Field(10_000, ge=1, description=(
        "outcomes of ended tasks each replica keeps (they never change)"))
    model_store: str = Field(".raymas/models", description="model store served by /v1/models")
    throughput_optimized: bool = Field(True, description=(
        "RAY_SERVE_THROUGHPUT_OPTIMIZED=1 for the Serve processes raymas serve starts"))
    ui: bool = Field(True, description="serve the operator page at /ui")

    def http_options(self) -> dict[str, Any]:
        """Ray Serve ``HTTPOptions`` for this section (TLS included)."""
        out: dict[str, Any] = {"host": self.host, "port": self.port,
                               "request_timeout_s": self.request_timeout_s}
        if self.tls is not None:
            out["ssl_certfile"] = self.tls.certfile
            out["ssl_keyfile"] = self.tls.keyfile
            if self.tls.keyfile_password is not None:
                out["ssl_keyfile_password"] = self.tls.keyfile_password.get_secret_value()
        return out

    def autoscaling_config(self) -> dict[str, Any]:
        return {"min_replicas": self.replicas.min, "max_replicas": self.replicas.max,
                "initial_replicas": self.replicas.min,
                "target_ongoing_requests": self.replicas.target_ongoing_requests}

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"
