"""Helpers shared by the layer tests."""

import numpy as np


def random_inputs(shape, seed=0):
    """Standard-normal float32 inputs of `shape`, the same for the same `seed`."""
    return np.random.default_rng(seed).normal(size=shape).astype("float32")
