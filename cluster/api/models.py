"""Stored model versions served by Ray Serve: one Serve application per deployed version.

``POST /v1/models/{name}/deployments`` loads a version from the
:class:`~learning.models.store.ModelStore` into its own Serve application
(``<api app>-model-<name>-v<version>``), so a model in production runs in
its own replicas, scales and restarts on its own, and is listed by ``serve
status`` and the dashboard like any deployment.  ``POST /v1/models/{name}/predict``
calls the newest deployed version (or the one asked for) through its handle.
"""

from __future__ import annotations

import re
from typing import Any

from cluster.api.problems import Problem

__all__ = ["ModelDeployments", "ModelServer", "model_app_name"]


def model_app_name(api_app: str, name: str, version: int) -> str:
    return f"{api_app}-model-{name}-v{version}"


class ModelServer:
    """One stored model version in a Serve replica: ``predict(rows) -> list``."""

    def __init__(self, store: str, name: str, version: int) -> None:
        from learning.models.store import ModelStore

        self.name = name
        self.version = version
        self.model = ModelStore(store).load(name, version)

    def predict(self, inputs: list[list[float]]) -> dict[str, Any]:
        import numpy as np

        try:
            X = np.asarray(inputs, dtype=float)
        except (TypeError, ValueError) as exc:
            raise Problem(422, f"inputs must be a list of rows of numbers: {exc}") from None
        try:
            y = self.model.predict(X)
        except Exception as exc:  # shape mismatch and the like: the caller's input is wrong
            raise Problem(422, f"model {self.name!r} v{self.version} cannot predict these "
                          f"inputs: {exc}") from None
        return {"name": self.name, "version": self.version,
                "predictions": np.asarray(y).tolist()}


class ModelDeployments:
    """Deploys, lists and calls the model applications of one API application."""

    def __init__(self, store: str, api_app: str) -> None:
        self.store_root = store
        self.api_app = api_app

    def _store(self) -> Any:
        from learning.models.store import ModelStore

        return ModelStore(self.store_root)

    def _version(self, name: str, version: int | None) -> Any:
        from learning.models.errors import ModelError
        from messaging.errors import UnknownNameError

        try:
            return self._store().get(name, version)
        except UnknownNameError as exc:
            raise Problem(404, str(exc)) from None
        except ModelError as exc:  # a name or version the store refuses
            raise Problem(422, str(exc)) from None

    def _deployed(self) -> dict[str, str]:
        from ray import serve

        prefix = f"{self.api_app}-model-"
        return {app: str(getattr(st, "status", "")) for app, st in
                serve.status().applications.items() if app.startswith(prefix)}

    def listing(self) -> list[dict[str, Any]]:
        store = self._store()
        deployed = self._deployed()
        out = []
        for name in store.names():
            for v in store.versions(name):
                app = model_app_name(self.api_app, name, v.version)
                out.append({"name": name, "version": v.version, "framework": v.framework,
                            "model_type": v.model_type, "metrics": v.metrics,
                            "created": v.created, "deployment": app if app in deployed else None,
                            "deployment_status": deployed.get(app)})
        return out

    def deploy(self, name: str, version: int | None, replicas: int = 1) -> dict[str, Any]:
        """Run ``version`` (default: the latest) as its own Serve application; blocks
        until it is running."""
        from ray import serve

        v = self._version(name, version)
        app = model_app_name(self.api_app, name, v.version)
        deployment: Any = serve.deployment(ModelServer, name="model", num_replicas=replicas,
                                           ray_actor_options={"num_cpus": 0})
        serve.run(deployment.bind(self.store_root, name, v.version), name=app,
                  route_prefix=None)
        return {"name": name, "version": v.version, "deployment": app, "replicas": replicas}

    async def predict(self, name: str, version: int | None, inputs: Any) -> dict[str, Any]:
        from ray import serve

        deployed = self._deployed()
        if version is None:
            exact = re.compile(re.escape(f"{self.api_app}-model-{name}-v") + r"([0-9]+)$")
            mine = sorted((int(m.group(1)), app) for app in deployed
                          if (m := exact.match(app)) is not None)
            if not mine:
                raise Problem(404, f"no version of model {name!r} is deployed "
                              f"(POST /v1/models/{name}/deployments first)")
            app = mine[-1][1]
        else:
            app = model_app_name(self.api_app, name, version)
            if app not in deployed:
                raise Problem(404, f"model {name!r} version {version} is not deployed")
        handle = serve.get_app_handle(app)
        out: dict[str, Any] = await handle.predict.remote(inputs)
        return out
