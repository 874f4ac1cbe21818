"""Making and loading models: the one entry point for every framework.

:func:`create_model` checks the family and framework, then hands the config to the
framework's model class, imported on first use (so importing this package loads
no framework).  :func:`load_model` reads ``meta.json`` and dispatches on the
framework it names.  :func:`model_to_bytes` and :func:`model_from_bytes` carry a
model as a tarball of its saved directory, in each framework's own format (how a
model trained in a Ray task comes back).

Example:
    >>> create_model("random_forest", "pytorch")
    Traceback (most recent call last):
    ...
    learning.models.errors.ModelError: random_forest is not available with pytorch; pytorch \
offers neural_network, logistic_regression, linear_regression; random_forest is available with \
sklearn
    >>> is_supported(ModelType.SVM, "sklearn"), is_supported("svm", "tensorflow")
    (True, False)
"""

from __future__ import annotations

import importlib
import io
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from learning.models.base import Model, read_meta
from learning.models.config import MLFramework, ModelType, parse_framework, parse_model_type
from learning.models.errors import ModelError

__all__ = [
    "SUPPORTED",
    "create_model",
    "is_supported",
    "load_model",
    "model_class",
    "model_from_bytes",
    "model_to_bytes",
]

_NETWORKS = (ModelType.NEURAL_NETWORK, ModelType.LOGISTIC_REGRESSION,
             ModelType.LINEAR_REGRESSION)
SUPPORTED: dict[MLFramework, tuple[ModelType, ...]] = {
    MLFramework.SKLEARN: tuple(ModelType),
    MLFramework.PYTORCH: _NETWORKS,
    MLFramework.TENSORFLOW: _NETWORKS,
}
"""The families each framework offers."""

_CLASSES = {
    MLFramework.SKLEARN: "learning.models.sklearn_model:SklearnModel",
    MLFramework.PYTORCH: "learning.models.torch_model:TorchModel",
    MLFramework.TENSORFLOW: "learning.models.tf_model:TensorFlowModel",
}


def model_class(framework: MLFramework | str) -> type[Model]:
    """The :class:`Model` subclass of ``framework`` (its module imported now)."""
    module, _, name = _CLASSES[parse_framework(framework)].partition(":")
    cls: type[Model] = getattr(importlib.import_module(module), name)
    return cls


def is_supported(model_type: ModelType | str, framework: MLFramework | str) -> bool:
    """Whether :func:`create_model` can make ``model_type`` with ``framework``."""
    return parse_model_type(model_type) in SUPPORTED[parse_framework(framework)]


def create_model(model_type: ModelType | str, framework: MLFramework | str,
                 config: Mapping[str, Any] | None = None) -> Model:
    """A new, unfitted model of family ``model_type`` built with ``framework``.

    Args:
        model_type: the family, as a :class:`ModelType` or its value.
        framework: the library, as an :class:`MLFramework`, its value or an alias
            (``"torch"``, ``"tf"``, ``"keras"``, ``"scikit-learn"``).
        config: hyperparameters. Networks (PyTorch, TensorFlow): ``hidden_layers``,
            ``activation``, ``dropout``, ``task``, ``weight_decay``, ``standardize``, and
            the sizes ``input_shape`` and ``num_classes`` (else taken from the data at
            fit; see :mod:`learning.models.neural`).
            scikit-learn: ``task`` and the estimator's own keyword arguments.

    Raises:
        ModelError: the framework does not offer the family, or the config is bad
            (an unknown key raises :class:`UnknownModelNameError`, naming the key).
    """
    kind, lib = parse_model_type(model_type), parse_framework(framework)
    if kind not in SUPPORTED[lib]:
        offering = [f.value for f, kinds in SUPPORTED.items() if kind in kinds]
        raise ModelError(f"{kind.value} is not available with {lib.value}; {lib.value} offers "
                         f"{', '.join(k.value for k in SUPPORTED[lib])}; {kind.value} is "
                         f"available with {', '.join(offering)}")
    if config is not None and not isinstance(config, Mapping):
        raise ModelError(f"config must be a mapping of hyperparameters, got "
                         f"{type(config).__name__}")
    return model_class(lib).from_config(kind, config or {})


def load_model(directory: Path | str) -> Model:
    """The model saved in ``directory`` by :meth:`Model.save`, whatever its framework."""
    directory = Path(directory)
    meta = read_meta(directory)
    return model_class(meta["framework"]).from_directory(directory, meta)


def model_to_bytes(model: Model) -> bytes:
    """``model`` saved and packed as a gzipped tarball."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="raymas-model-") as tmp:
        model.save(tmp)
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(Path(tmp).iterdir()):
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def model_from_bytes(data: bytes) -> Model:
    """The model :func:`model_to_bytes` packed."""
    with tempfile.TemporaryDirectory(prefix="raymas-model-") as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ModelError(f"not a packed model: {exc}") from exc
        return load_model(tmp)
