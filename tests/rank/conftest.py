import numpy as np
import pytest


def class_features(rng: np.random.Generator, n: int, d: int, n_classes: int, signal: float = 1.0):
    """Gaussian features whose class means differ by ``signal`` (0 = pure noise)."""
    labels = rng.integers(0, n_classes, n)
    labels[:n_classes] = np.arange(n_classes)  # every class present
    centres = rng.normal(size=(n_classes, d))
    return rng.normal(size=(n, d)) + signal * centres[labels], labels


@pytest.fixture
def make_features():
    """``make_features(rng, n, d, n_classes, signal=1.0) -> (features, labels)``."""
    return class_features


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
