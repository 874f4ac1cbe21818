"""Create a TensorFlow network, train it on synthetic data, print what it learned.

    python examples/ml_integration.py

Synthetic "digits" from a seeded generator: ten random 784-pixel prototypes, and
each row one of them under heavy Gaussian noise (four times the prototypes'
scale), so the network has something to learn in seconds on a CPU and can be
checked on rows it never saw.  The model summary is printed before training and
after (when the device it trained on is known), then the loss and accuracies.
"""

import asyncio

import numpy as np

from learning import MLFramework, ModelType, ProductionMLIntegration, TrainingConfig


def synthetic_digits(rows: int = 768, features: int = 784, classes: int = 10,
                     noise: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((classes, features))
    y = rng.integers(0, classes, rows)
    X = prototypes[y] + noise * rng.standard_normal((rows, features))
    return X.astype(np.float32), y


async def main() -> None:
    ml = ProductionMLIntegration()  # its store (.raymas/models) stays unused: nothing is saved
    X, y = synthetic_digits()
    X_train, y_train, X_test, y_test = X[:512], y[:512], X[512:], y[512:]
    model = await ml.create_model(model_type=ModelType.NEURAL_NETWORK,
                                  framework=MLFramework.TENSORFLOW,
                                  config={"input_shape": (784,), "num_classes": 10,
                                          "hidden_layers": [128, 64]})
    print(model)
    history = await ml.train_model(model_id=model["model_id"], X_train=X_train, y_train=y_train,
                                   config=TrainingConfig(epochs=10, batch_size=32))
    losses = history["loss"]
    print(f"trained {len(losses)} epochs: loss {losses[0]:.3f} -> {losses[-1]:.3f} "
          f"in {history['fit_seconds']:.1f} s on {history['device']}")
    train = await ml.evaluate_model(model["model_id"], X_train, y_train)
    test = await ml.evaluate_model(model["model_id"], X_test, y_test)
    print(f"training accuracy {train['accuracy']:.3f}, held-out accuracy "
          f"{test['accuracy']:.3f} ({len(y_test)} unseen rows)")
    print(ml.describe(model["model_id"]))


if __name__ == "__main__":
    asyncio.run(main())
