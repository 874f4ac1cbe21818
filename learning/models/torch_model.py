"""PyTorch networks: the framework hooks of :class:`~learning.models.neural.NeuralModel`.

torch is imported when a network is built or loaded, not when this module is.
The network is an ``nn.Sequential`` of ``Linear`` layers (with the activation and
dropout between them) trained by AdamW on cross-entropy or mean squared error.
torch's CPU thread pool is capped at
:func:`~learning.models.neural.modest_threads` when a model first uses it.
Seeding goes through ``torch.manual_seed`` inside ``torch.random.fork_rng``, so a
fit is reproducible on the CPU and the caller's global generator is left as it
was.  The artifact is ``model.pt`` (the ``state_dict``, loaded with
``weights_only=True``) next to ``optimizer.pt``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from learning.models.config import MLFramework, TrainingConfig
from learning.models.errors import ModelError
from learning.models.neural import NeuralModel, modest_threads

__all__ = ["TorchModel"]

_PREDICT_BATCH = 65536


_configured = False


def _torch() -> Any:
    """torch, its CPU thread pool capped at :func:`modest_threads` on first use."""
    global _configured
    import torch

    if not _configured:
        _configured = True
        torch.set_num_threads(min(torch.get_num_threads(), modest_threads()))
    return torch


class TorchModel(NeuralModel):
    """A PyTorch feed-forward network."""

    framework = MLFramework.PYTORCH

    _net: Any = None
    _optimizer: Any = None

    def _resolve_device(self, training: TrainingConfig) -> str:
        torch = _torch()
        if training.device.lower() == "cpu":
            return "cpu"
        index = training.gpu_index()
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index is None:
            return f"cuda:{torch.cuda.current_device()}" if available else "cpu"
        if index >= available:
            raise ModelError(f"TrainingConfig.device={training.device!r} but torch sees "
                             f"{available} CUDA device(s)")
        return f"cuda:{index}"

    @contextmanager
    def _seeded(self, seed: int) -> Iterator[None]:
        torch = _torch()
        cuda = self.device.startswith("cuda")
        index = torch.device(self.device).index or 0 if cuda else None
        with torch.random.fork_rng(devices=[index] if cuda else []):
            torch.default_generator.manual_seed(seed)
            if cuda:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            yield

    def _build(self, n_in: int, n_out: int, training: TrainingConfig) -> None:
        torch = _torch()
        nn = torch.nn
        activation = {"relu": nn.ReLU, "tanh": nn.Tanh}[self.params.get("activation", "relu")]
        dropout = self.params.get("dropout", 0.0)
        layers: list[Any] = []
        width = n_in
        with self._seeded(training.seed):
            for hidden in self.hidden_layers:
                layers += [nn.Linear(width, hidden), activation()]
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                width = hidden
            layers.append(nn.Linear(width, n_out))
            self._net = nn.Sequential(*layers).to(self.device)
        self._optimizer = torch.optim.AdamW(self._net.parameters(), lr=training.learning_rate,
                                            weight_decay=self.params["weight_decay"])

    def _begin(self, X: np.ndarray, y: np.ndarray) -> Any:
        torch = _torch()
        return torch.from_numpy(X).to(self.device), torch.from_numpy(y).to(self.device)

    def _loss(self, out: Any, target: Any) -> Any:
        functional = _torch().nn.functional
        if self.task == "classification":
            return functional.cross_entropy(out, target)
        return functional.mse_loss(out[:, 0], target)

    def _train_epoch(self, data: Any, order: np.ndarray, batch_size: int, seed: int) -> float:
        torch = _torch()
        X, y = data
        index = torch.from_numpy(order).to(self.device)
        total = torch.zeros((), device=self.device)
        self._net.train()
        with self._seeded(seed):
            for start in range(0, len(order), batch_size):
                batch = index[start:start + batch_size]
                loss = self._loss(self._net(X[batch]), y[batch])
                self._optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self._optimizer.step()
                total += loss.detach() * len(batch)
        return float(total) / len(order)

    def _set_learning_rate(self, learning_rate: float) -> None:
        for group in self._optimizer.param_groups:
            group["lr"] = learning_rate

    def _forward(self, X: np.ndarray) -> np.ndarray:
        torch = _torch()
        self._net.eval()
        with torch.no_grad():
            parts = [self._net(torch.from_numpy(X[i:i + _PREDICT_BATCH]).to(self.device)).cpu()
                     for i in range(0, X.shape[0], _PREDICT_BATCH)]
        return np.asarray(torch.cat(parts).numpy(), dtype=np.float64)

    def _save_network(self, directory: Path) -> str:
        torch = _torch()
        state = {k: v.detach().cpu() for k, v in self._net.state_dict().items()}
        torch.save(state, directory / "model.pt")
        torch.save(self._optimizer.state_dict(), directory / "optimizer.pt")
        return "model.pt"

    def _load_network(self, path: Path, n_in: int, n_out: int) -> None:
        torch = _torch()
        self._build(n_in, n_out, TrainingConfig())
        try:
            self._net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            optimizer = path.with_name("optimizer.pt")
            if optimizer.exists():
                self._optimizer.load_state_dict(
                    torch.load(optimizer, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"cannot load the PyTorch network from {path}: {exc}") from exc
