"""The HTTP API on Ray Serve: a FastAPI app whose routes call the one Supervisor client.

``build_app`` makes the FastAPI app (no Ray needed to build it); ``serve.deploy``
runs it as a Ray Serve application.  Authentication (JWT), the role table,
problem+json errors and the audit trail live in their own modules here.
"""

from __future__ import annotations

__all__: list[str] = []
