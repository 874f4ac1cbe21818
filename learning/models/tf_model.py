"""TensorFlow (Keras 3) networks: the hooks of :class:`~learning.models.neural.NeuralModel`.

TensorFlow is imported when a network is built or loaded, not when this module
is; before the import ``TF_CPP_MIN_LOG_LEVEL`` defaults to 2 (no C++ info
lines) and ``KERAS_BACKEND`` to ``tensorflow``; after it TensorFlow gets a thread
pool of :func:`~learning.models.neural.modest_threads` and GPU memory growth, so
it shares a node with other work.  The network is a functional Keras model of
``Dense`` layers (dropout between them) trained by AdamW; every initialiser and
dropout layer gets its own seed derived from the training seed, so a fit is
reproducible on the CPU without touching any global generator.  The artifact is
``model.keras`` (with the optimiser state).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from learning.models.config import MLFramework, TrainingConfig
from learning.models.errors import ModelError
from learning.models.neural import NeuralModel, modest_threads

__all__ = ["TensorFlowModel"]

_PREDICT_BATCH = 65536
_configured = False


def _keras() -> tuple[Any, Any]:
    """``(tensorflow, keras)``, imported quietly and configured once."""
    global _configured
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ModelError(f"keras runs on {keras.backend.backend()!r} here (KERAS_BACKEND); "
                         "tensorflow models need the tensorflow backend")
    if not _configured:
        _configured = True
        try:
            tf.config.threading.set_intra_op_parallelism_threads(modest_threads())
            tf.config.threading.set_inter_op_parallelism_threads(min(2, modest_threads()))
            for gpu in tf.config.list_physical_devices("GPU"):
                tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # TensorFlow was initialised by someone else
            pass
    return tf, keras


class TensorFlowModel(NeuralModel):
    """A Keras feed-forward network on TensorFlow."""

    framework = MLFramework.TENSORFLOW

    _net: Any = None

    def _resolve_device(self, training: TrainingConfig) -> str:
        tf, _ = _keras()
        if training.device.lower() == "cpu":
            return "cpu"
        gpus = len(tf.config.list_physical_devices("GPU"))
        index = training.gpu_index()
        if index is None:
            return "GPU:0" if gpus else "cpu"
        if index >= gpus:
            raise ModelError(f"TrainingConfig.device={training.device!r} but TensorFlow sees "
                             f"{gpus} GPU(s)")
        return f"GPU:{index}"

    def _scope(self) -> Any:
        tf, _ = _keras()
        return tf.device("/CPU:0" if self.device == "cpu" else f"/{self.device}")

    def _build(self, n_in: int, n_out: int, training: TrainingConfig) -> None:
        _, keras = _keras()
        layers, seed = keras.layers, training.seed
        dropout = self.params.get("dropout", 0.0)
        with self._scope():
            inputs = keras.Input(shape=(n_in,))
            x = inputs
            for i, width in enumerate(self.hidden_layers):
                init = keras.initializers.GlorotUniform(seed=seed + 2 * i)
                x = layers.Dense(width, activation=self.params["activation"],
                                 kernel_initializer=init)(x)
                if dropout > 0:
                    x = layers.Dropout(dropout, seed=seed + 2 * i + 1)(x)
            init = keras.initializers.GlorotUniform(seed=seed + 2 * len(self.hidden_layers))
            net = keras.Model(inputs, layers.Dense(n_out, kernel_initializer=init)(x))
            loss = (keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                    if self.task == "classification" else keras.losses.MeanSquaredError())
            optimizer = keras.optimizers.AdamW(learning_rate=training.learning_rate,
                                               weight_decay=self.params["weight_decay"])
            net.compile(optimizer=optimizer, loss=loss, jit_compile=False)
        self._net = net

    def _begin(self, X: np.ndarray, y: np.ndarray) -> Any:
        return X, y

    def _train_epoch(self, data: Any, order: np.ndarray, batch_size: int, seed: int) -> float:
        X, y = data
        with self._scope():
            history = self._net.fit(X[order], y[order], batch_size=batch_size, epochs=1,
                                    shuffle=False, verbose=0)
        return float(history.history["loss"][0])

    def _set_learning_rate(self, learning_rate: float) -> None:
        self._net.optimizer.learning_rate.assign(learning_rate)

    def _forward(self, X: np.ndarray) -> np.ndarray:
        with self._scope():
            parts = [np.asarray(self._net(X[i:i + _PREDICT_BATCH], training=False))
                     for i in range(0, X.shape[0], _PREDICT_BATCH)]
        return np.concatenate(parts).astype(np.float64)

    def _save_network(self, directory: Path) -> str:
        self._net.save(directory / "model.keras")
        return "model.keras"

    def _load_network(self, path: Path, n_in: int, n_out: int) -> None:
        _, keras = _keras()
        try:
            with self._scope():
                self._net = keras.saving.load_model(path)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the Keras network from {path}: {exc}") from exc
        shape = (self._net.input_shape[-1], self._net.output_shape[-1])
        if shape != (n_in, n_out):
            raise ModelError(f"{path} maps {shape[0]} inputs to {shape[1]} outputs; its "
                             f"meta.json says {n_in} to {n_out}")
