"""Running the API as a Ray Serve application (what ``raymas serve`` deploys).

The FastAPI app is Serve's ingress; each replica builds its own
:class:`~cluster.api.backend.ApiBackend` (the Supervisor client, tokens, the
audit log) when it starts.  Replicas ask for no CPU (``num_cpus: 0``): they
wait on the Supervisor most of the time, and the agents keep the cores.
``serve.replicas`` sets a fixed count (``min == max``) or Serve's
autoscaling between the two.
"""

from __future__ import annotations

import logging
from typing import Any

from cluster.api.backend import ApiBackend, ApiContext

__all__ = ["api_url", "app_from_args", "deploy", "ingress", "undeploy"]

logger = logging.getLogger(__name__)


def ingress(ctx: ApiContext) -> Any:
    """The bound Serve application for ``ctx`` (``serve.run`` takes it)."""
    from ray import serve

    from cluster.api.app import build_app

    replicas = ctx.serve.replicas
    scaling: dict[str, Any] = (
        {"num_replicas": replicas.min} if replicas.min == replicas.max
        else {"autoscaling_config": ctx.serve.autoscaling_config()})

    @serve.deployment(name="api", max_ongoing_requests=replicas.max_ongoing_requests,
                      ray_actor_options={"num_cpus": 0}, **scaling)
    @serve.ingress()
    class ApiIngress:
        """Each replica builds its app and backend when it starts (Serve calls
        ``__serve_build_asgi_app__`` after ``__init__``)."""

        def __init__(self, context: ApiContext) -> None:
            self.context = context

        def __serve_build_asgi_app__(self) -> Any:
            app = build_app(self.context.serve)
            app.state.backend = ApiBackend(self.context)
            return app

    return ApiIngress.bind(ctx)  # type: ignore[attr-defined]


def app_from_args(args: dict[str, Any]) -> Any:
    """The API application from a config file: the builder a Serve config file names.

    ``import_path: cluster.api.serve:app_from_args`` with ``args: {config:
    /path/to/config.yaml}`` (a KubeRay ``RayService``'s ``serveConfigV2``, or
    ``serve deploy``) builds the same app as ``raymas serve`` from that file.
    The Supervisor it fronts must be running (``raymas run config.yaml --keep``).
    """
    from cluster.config import load_config

    return ingress(load_config(str(args.get("config", "config.yaml"))).api_context())


def api_url(ctx: ApiContext) -> str:
    host = ctx.serve.host if ctx.serve.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"{ctx.serve.scheme}://{host}:{ctx.serve.port}"


def deploy(ctx: ApiContext) -> str:
    """Start Serve's proxy (host, port, TLS from ``ctx.serve``) and run the API app on it;
    its URL.  Serve keeps one proxy configuration per cluster: a running Serve keeps its own."""
    from ray import serve

    serve.start(http_options=ctx.serve.http_options())
    serve.run(ingress(ctx), name=ctx.serve.app_name, route_prefix="/")
    url = api_url(ctx)
    logger.info("raymas API %r at %s", ctx.serve.app_name, url)
    return url


def undeploy(ctx: ApiContext) -> None:
    """Delete the API application (and its model applications, and its bus tap)."""
    import ray
    from ray import serve

    from cluster.api.tap import tap_name

    prefix = f"{ctx.serve.app_name}-model-"
    for app in list(serve.status().applications):
        if app == ctx.serve.app_name or app.startswith(prefix):
            serve.delete(app)
    try:
        ray.kill(ray.get_actor(tap_name(ctx.serve.app_name), namespace=ctx.namespace),
                 no_restart=True)
    except ValueError:
        pass
