"""A versioned model store on disk: ``root/<name>/v<n>/``, one directory per version.

Each version directory holds the saved model (``meta.json`` and the framework's
artifact, see :meth:`learning.models.Model.save`) and ``version.json`` (creation
time, metrics, params, tags).  A save writes everything into a temporary
directory under ``root`` and then renames it to the next free ``v<n>``: the
rename is atomic, and it fails when another process took that number first (the
directory is then not empty), so the save retries with the next one.  Two
processes saving the same name at once thus get distinct versions and a reader
never sees a half-written one.  A deleted version leaves a tombstone, so its
number is never given out again.

The scikit-learn artifact is a pickle: open only stores you trust.

Example:
    >>> import tempfile
    >>> from learning.models import create_model
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = ModelStore(tmp.name)
    >>> model = create_model("knn", "sklearn", {"n_neighbors": 1})
    >>> _ = model.fit([[0.0], [1.0]], ["off", "on"])
    >>> store.save("switch", model, metrics={"accuracy": 1.0}).version
    1
    >>> store.save("switch", model, tags={"stage": "prod"}).version
    2
    >>> store.load("switch").predict([[0.9]]).tolist()
    ['on']
    >>> [v.version for v in store.versions("switch")], store.best("switch", "accuracy").version
    ([1, 2], 1)
    >>> store.get("swich")
    Traceback (most recent call last):
    ...
    learning.models.errors.UnknownModelNameError: unknown stored model 'swich'; did you mean \
'switch'? (known: switch)
    >>> tmp.cleanup()
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.models import Model, ModelError, UnknownModelNameError, load_model
from learning.models.data import jsonable

__all__ = ["ModelStore", "ModelVersion", "check_name"]

RECORD = "version.json"
TOMBSTONE = ".deleted"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION_DIR = re.compile(r"v([1-9][0-9]*)")
_RETRIES = 1000


@dataclass(frozen=True)
class ModelVersion:
    """One stored version of a named model."""

    name: str
    version: int
    path: Path
    created: float
    framework: str
    model_type: str
    metrics: dict[str, float]
    params: dict[str, Any]
    tags: dict[str, str]


def check_name(name: object) -> str:
    """``name`` if it can name a stored model: letters, digits, ``.``, ``_``, ``-``.

    It must start with a letter or digit (so no ``..``, no hidden directory) and
    hold no path separator.

    Example:
        >>> check_name("digits-mlp_2.1")
        'digits-mlp_2.1'
        >>> check_name("../etc")
        Traceback (most recent call last):
        ...
        learning.models.errors.ModelError: model name must be 1-128 letters, digits, '.', '_' \
or '-', starting with a letter or digit; got '../etc'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ModelError("model name must be 1-128 letters, digits, '.', '_' or '-', starting "
                         f"with a letter or digit; got {name!r}")
    return name


def _check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(
                value, int | float) or not math.isfinite(value):
            raise ModelError(f"metric {key!r} must be a finite number, got {value!r}")
        out[key] = float(value)
    return out


def _check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ModelError(f"tag {key!r} must map a string to a string, got {value!r}")
    return dict(tags or {})


class ModelStore:
    """Named, numbered model versions under ``root`` (created on the first save)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    # -- writing --------------------------------------------------------------------------------

    def save(self, name: str, model: Model, *, metrics: Mapping[str, float] | None = None,
             params: Mapping[str, Any] | None = None,
             tags: Mapping[str, str] | None = None) -> ModelVersion:
        """Store ``model`` as the next version of ``name``; ``params`` default to its own."""
        name = check_name(name)
        if not isinstance(model, Model):
            raise ModelError(f"model must be a learning.models.Model, got {type(model).__name__}")
        record = {"created": time.time(), "framework": model.framework.value,
                  "model_type": model.model_type.value, "metrics": _check_metrics(metrics),
                  "params": jsonable(dict(model.params if params is None else params)),
                  "tags": _check_tags(tags)}
        (self.root / name).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            model.save(tmp)
            (tmp / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True))
            version = self._claim(name, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.get(name, version)

    def _claim(self, name: str, tmp: Path) -> int:
        for _ in range(_RETRIES):
            version = self._next_version(name)
            try:
                os.rename(tmp, self.root / name / f"v{version}")
                return version
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        raise ModelError(f"could not claim a version of {name!r} in {_RETRIES} tries")

    def _next_version(self, name: str) -> int:
        return max(self._numbers(name), default=0) + 1

    def delete(self, name: str, version: int) -> None:
        """Remove one version; its number stays taken (a tombstone is left)."""
        path = self.get(name, version).path
        (path / TOMBSTONE).touch()
        for child in path.iterdir():
            if child.name != TOMBSTONE:
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink(missing_ok=True)

    # -- reading --------------------------------------------------------------------------------

    def _numbers(self, name: str) -> dict[int, Path]:
        """Every version directory of ``name``, deleted ones included."""
        folder = self.root / name
        if not folder.is_dir():
            return {}
        found = {}
        for child in folder.iterdir():
            match = _VERSION_DIR.fullmatch(child.name)
            if match and child.is_dir():
                found[int(match.group(1))] = child
        return found

    def _live(self, name: str) -> dict[int, Path]:
        return {n: p for n, p in sorted(self._numbers(name).items())
                if (p / RECORD).is_file() and not (p / TOMBSTONE).exists()}

    def names(self) -> list[str]:
        """The names that have at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir()
                      if _NAME.fullmatch(d.name) and d.is_dir() and self._live(d.name))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every live version of ``name``, oldest first."""
        return [self._read(name, n, p) for n, p in self._existing(name).items()]

    def _existing(self, name: str) -> dict[int, Path]:
        live = self._live(check_name(name))
        if not live:
            raise UnknownModelNameError("stored model", name, self.names())
        return live

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """The record of ``version`` of ``name`` (``None``: the latest)."""
        live = self._existing(name)
        if version is None:
            version = max(live)
        elif isinstance(version, bool) or not isinstance(version, int):
            raise ModelError(f"version must be an int, got {version!r}")
        if version not in live:
            raise UnknownModelNameError(f"stored model {name!r} version", str(version),
                                        [str(n) for n in live])
        return self._read(name, version, live[version])

    def load(self, name: str, version: int | None = None) -> Model:
        """The model stored as ``version`` of ``name`` (``None``: the latest)."""
        return load_model(self.get(name, version).path)

    def best(self, name: str, metric: str, higher_is_better: bool = True) -> ModelVersion:
        """The version of ``name`` with the best recorded ``metric`` (the latest on a tie)."""
        scored = [v for v in self.versions(name) if metric in v.metrics]
        if not scored:
            recorded = sorted({m for v in self.versions(name) for m in v.metrics})
            raise UnknownModelNameError(f"metric of stored model {name!r}", metric, recorded)
        sign = 1.0 if higher_is_better else -1.0
        return max(scored, key=lambda v: (sign * v.metrics[metric], v.version))

    def _read(self, name: str, version: int, path: Path) -> ModelVersion:
        try:
            record = json.loads((path / RECORD).read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {path / RECORD}: {exc}") from exc
        return ModelVersion(name=name, version=version, path=path, created=record["created"],
                            framework=record["framework"], model_type=record["model_type"],
                            metrics=record["metrics"], params=record["params"],
                            tags=record["tags"])
