"""Create a TensorFlow network, train it on synthetic data, print what it learned.

    python examples/ml_integration.py

512 rows of 784 features from a seeded generator, labelled by a fixed random
linear map into 10 classes, so the network has something to learn in seconds
on a CPU.
"""

import asyncio

import numpy as np

from learning import MLFramework, ModelType, ProductionMLIntegration, TrainingConfig


def synthetic_digits(rows: int = 512, features: int = 784, classes: int = 10, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features)).astype(np.float32)
    weights = rng.standard_normal((features, classes))
    return X, (X @ weights).argmax(axis=1)


async def main() -> None:
    ml = ProductionMLIntegration()
    X_train, y_train = synthetic_digits()
    model = await ml.create_model(model_type=ModelType.NEURAL_NETWORK,
                                  framework=MLFramework.TENSORFLOW,
                                  config={"input_shape": (784,), "num_classes": 10,
                                          "hidden_layers": [128, 64]})
    print(model)
    history = await ml.train_model(model_id=model["model_id"], X_train=X_train, y_train=y_train,
                                   config=TrainingConfig(epochs=10, batch_size=32))
    losses = history["loss"]
    print(f"trained {len(losses)} epochs: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    metrics = await ml.evaluate_model(model["model_id"], X_train, y_train)
    print(f"training accuracy {metrics['accuracy']:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
